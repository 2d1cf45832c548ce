//! The values settings files, environment variables and flags share: durations (`"30s"`),
//! rates (`"100/s"`), shares (`"5%"`), load stages and objectives, each parsed strictly: a
//! duration without a unit or a negative count is an error, never a guess.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::load::{MAX_RATE, Rate, per_min, per_sec};
use crate::objectives::{self, ALL, Objective, Scope};

/// A duration with a unit: `"250ms"`, `"30s"`, `"2m"`, `"1h30m"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dur(pub(crate) Duration);

/// Parses a duration with a unit.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "a duration needs a unit: `{t}s` or `{t}ms`, not `{t}`"
        ));
    }
    let d = humantime::parse_duration(t).map_err(|e| {
        format!("expected a duration with a unit, like `30s`, `250ms` or `2m` ({e})")
    })?;
    if d > MAX_DURATION {
        return Err(format!(
            "`{t}` is longer than a load may run (at most 365 days)"
        ));
    }
    Ok(d)
}

/// The longest duration a setting may have: past it, clocks overflow before the load ends.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, like \"30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: \"{v}s\" or \"{v}ms\", not {v}"
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: \"{v}s\", not {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A rate with a unit: `"100/s"`, `"300/m"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RateText(pub(crate) Rate);

/// Parses a rate with a unit.
pub(crate) fn parse_rate(text: &str) -> Result<Rate, String> {
    let t = text.trim();
    let expected = "expected a rate like `100/s` or `300/m`";
    let Some((n, unit)) = t.split_once('/') else {
        return Err(if t.parse::<f64>().is_ok() {
            format!("a rate needs a unit: `{t}/s` or `{t}/m`, not `{t}`")
        } else {
            format!("{expected}, not `{t}`")
        });
    };
    let n: f64 = n
        .trim()
        .parse()
        .map_err(|_| format!("{expected}, not `{t}`"))?;
    if !(n.is_finite() && n > 0.0) {
        return Err(format!("a rate must be above 0, not `{t}`"));
    }
    let (rate, per_second) = match unit.trim() {
        "s" | "sec" | "second" => (per_sec(n), n),
        "m" | "min" | "minute" => (per_min(n), n / 60.0),
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{t}`: use `/s` (per second) or `/m` (per minute)"
            ));
        }
    };
    if per_second > MAX_RATE {
        return Err(format!(
            "`{t}` is more than one process can start: at most {MAX_RATE}/s (split the load \
             with segments across processes)"
        ));
    }
    Ok(rate)
}

impl<'de> Deserialize<'de> for RateText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RateText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate with a unit, like \"100/s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RateText, E> {
                parse_rate(v).map(RateText).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RateText, E> {
                Err(E::custom(format!(
                    "a rate needs a unit: \"{v}/s\" or \"{v}/m\", not {v}"
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RateText, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RateText, E> {
                Err(E::custom(format!(
                    "a rate needs a unit: \"{v}/s\", not {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A share: `"5%"`, or a number from 0 to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Share(pub(crate) f64);

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn check<E: de::Error>(v: f64, shown: &str) -> Result<Share, E> {
            if (0.0..=1.0).contains(&v) {
                Ok(Share(v))
            } else {
                Err(E::custom(format!(
                    "a share must be from 0% to 100% (or 0 to 1), not {shown}"
                )))
            }
        }
        impl Visitor<'_> for V {
            type Value = Share;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a share, like \"5%\" or 0.05")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Share, E> {
                let Some(n) = v.trim().strip_suffix('%') else {
                    return Err(E::custom(format!(
                        "expected a share like \"5%\" or 0.05, not \"{v}\""
                    )));
                };
                let n: f64 = n
                    .trim()
                    .parse()
                    .map_err(|_| E::custom(format!("expected a share like \"5%\", not \"{v}\"")))?;
                check(n / 100.0, v)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Share, E> {
                check(v, &v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Share, E> {
                check(v as f64, &v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Share, E> {
                check(v as f64, &v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

/// One stage of a load that follows stages: users or a rate, reached over `duration`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageSpec {
    pub(crate) duration: Dur,
    pub(crate) users: Option<u32>,
    pub(crate) rate: Option<RateText>,
    pub(crate) name: Option<String>,
}

impl StageSpec {
    /// The stage as the load model takes it.
    pub(crate) fn setting(&self) -> crate::load::StageSetting {
        crate::load::StageSetting {
            duration: self.duration.0,
            users: self.users,
            rate: self.rate.map(|r| r.0),
            name: self.name.clone(),
        }
    }
}

/// An objective, as a table with one metric key: `{ p99 = "250ms", of = "checkout" }`,
/// `{ error_rate = "1%" }`, `{ throughput = "50/s" }`, `{ successful_throughput = "50/s" }`,
/// `{ check_pass_rate = "99%" }`, `{ iteration_failure_rate = "1%" }`,
/// `{ dropped_iterations = "0.1%" }`, `{ dropped_iteration_count = 1 }` (below).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ObjectiveSpec {
    p50: Option<Dur>,
    p90: Option<Dur>,
    p95: Option<Dur>,
    p99: Option<Dur>,
    p999: Option<Dur>,
    max_latency: Option<Dur>,
    iteration_p50: Option<Dur>,
    iteration_p90: Option<Dur>,
    iteration_p95: Option<Dur>,
    iteration_p99: Option<Dur>,
    iteration_max: Option<Dur>,
    error_rate: Option<Share>,
    check_pass_rate: Option<Share>,
    throughput: Option<RateText>,
    successful_throughput: Option<RateText>,
    iteration_failure_rate: Option<Share>,
    dropped_iterations: Option<Share>,
    dropped_iteration_count: Option<u64>,
    /// A request (or check) name; all requests when absent.
    of: Option<String>,
    /// A stage or turbulence phase.
    during: Option<String>,
    #[serde(default)]
    abort_on_fail: bool,
}

impl ObjectiveSpec {
    /// The objective; `Err` says what is missing or contradictory.
    pub(crate) fn objective(&self) -> Result<Objective, String> {
        let latency = [
            (
                "p50",
                self.p50,
                objectives::p50 as fn(Scope) -> objectives::LatencyObjective,
            ),
            ("p90", self.p90, objectives::p90),
            ("p95", self.p95, objectives::p95),
            ("p99", self.p99, objectives::p99),
            ("p999", self.p999, objectives::p999),
            ("max_latency", self.max_latency, objectives::max_latency),
        ];
        let iteration = [
            (
                "iteration_p50",
                self.iteration_p50,
                objectives::iteration_p50 as fn(Scope) -> objectives::IterationObjective,
            ),
            (
                "iteration_p90",
                self.iteration_p90,
                objectives::iteration_p90,
            ),
            (
                "iteration_p95",
                self.iteration_p95,
                objectives::iteration_p95,
            ),
            (
                "iteration_p99",
                self.iteration_p99,
                objectives::iteration_p99,
            ),
            (
                "iteration_max",
                self.iteration_max,
                objectives::iteration_max,
            ),
        ];
        let mut metrics: Vec<&str> = latency
            .iter()
            .filter(|(_, v, _)| v.is_some())
            .map(|(k, _, _)| *k)
            .chain(
                iteration
                    .iter()
                    .filter(|(_, v, _)| v.is_some())
                    .map(|(k, _, _)| *k),
            )
            .collect();
        for (key, set) in [
            ("error_rate", self.error_rate.is_some()),
            ("check_pass_rate", self.check_pass_rate.is_some()),
            ("throughput", self.throughput.is_some()),
            (
                "successful_throughput",
                self.successful_throughput.is_some(),
            ),
            (
                "iteration_failure_rate",
                self.iteration_failure_rate.is_some(),
            ),
            ("dropped_iterations", self.dropped_iterations.is_some()),
            (
                "dropped_iteration_count",
                self.dropped_iteration_count.is_some(),
            ),
        ] {
            if set {
                metrics.push(key);
            }
        }
        let one = match metrics.as_slice() {
            [one] => *one,
            [] => {
                return Err(
                    "an objective needs one metric: `p50`, `p90`, `p95`, `p99`, \
                            `p999`, `max_latency`, `error_rate`, `check_pass_rate`, \
                            `throughput`, `successful_throughput`, `iteration_failure_rate`, \
                            `iteration_p50`, `iteration_p90`, `iteration_p95`, \
                            `iteration_p99`, `iteration_max`, `dropped_iterations` or \
                            `dropped_iteration_count`"
                        .into(),
                );
            }
            more => {
                return Err(format!(
                    "an objective has one metric, this one has {}: write one objective each",
                    more.iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ));
            }
        };
        let scope = self.of.as_deref();
        let mut o = if let Some((_, Some(limit), f)) = latency.iter().find(|(k, _, _)| *k == one) {
            f(scope.map_or(ALL, Scope::from)).below(limit.0)
        } else if let Some((_, Some(limit), f)) = iteration.iter().find(|(k, _, _)| *k == one) {
            f(scope.map_or(ALL, Scope::from)).below(limit.0)
        } else {
            let rate = |r: objectives::RateObjective| match scope {
                Some(name) => r.of(name),
                None => r,
            };
            match one {
                "error_rate" => {
                    rate(objectives::error_rate()).below(self.error_rate.map_or(0.0, |s| s.0))
                }
                "check_pass_rate" => rate(objectives::check_pass_rate())
                    .at_least(self.check_pass_rate.map_or(0.0, |s| s.0)),
                "successful_throughput" => rate(objectives::successful_throughput())
                    .at_least(self.successful_throughput.map_or(0.0, |r| r.0.per_second())),
                "iteration_failure_rate" => rate(objectives::iteration_failure_rate())
                    .below(self.iteration_failure_rate.map_or(0.0, |s| s.0)),
                "dropped_iterations" => rate(objectives::dropped_iterations())
                    .below(self.dropped_iterations.map_or(0.0, |s| s.0)),
                "dropped_iteration_count" => rate(objectives::dropped_iteration_count())
                    .below(self.dropped_iteration_count.unwrap_or(0) as f64),
                _ => rate(objectives::throughput())
                    .at_least(self.throughput.map_or(0.0, |r| r.0.per_second())),
            }
        };
        if let Some(d) = &self.during {
            o = o.during(d.clone());
        }
        if self.abort_on_fail {
            o = o.abort_on_fail();
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(
            parse_duration("30")
                .unwrap_err()
                .contains("needs a unit: `30s`")
        );
        assert!(parse_duration("soon").unwrap_err().contains("like `30s`"));
        let err = serde_json::from_str::<Dur>("30").unwrap_err().to_string();
        assert!(err.contains("needs a unit"), "{err}");
    }

    #[test]
    fn rates_need_units_and_are_positive() {
        assert_eq!(parse_rate("100/s").unwrap().per_second(), 100.0);
        assert_eq!(parse_rate("120/m").unwrap().per_second(), 2.0);
        assert!(parse_rate("100").unwrap_err().contains("`100/s`"));
        assert!(parse_rate("-3/s").unwrap_err().contains("above 0"));
        assert!(parse_rate("3/h").unwrap_err().contains("unknown unit `h`"));
    }

    #[test]
    fn shares_are_percentages_or_fractions() {
        assert_eq!(serde_json::from_str::<Share>("\"5%\"").unwrap().0, 0.05);
        assert_eq!(serde_json::from_str::<Share>("0.2").unwrap().0, 0.2);
        let err = serde_json::from_str::<Share>("5").unwrap_err().to_string();
        assert!(err.contains("from 0% to 100%"), "{err}");
        let err = serde_json::from_str::<Share>("\"five\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("like \"5%\""), "{err}");
    }

    #[test]
    fn objectives_have_exactly_one_metric() {
        let spec: ObjectiveSpec =
            serde_json::from_str(r#"{"p99": "250ms", "of": "list", "during": "spike"}"#).unwrap();
        assert_eq!(
            spec.objective().unwrap().to_string(),
            "p99 latency of `list` below 250 ms during `spike`"
        );
        let spec: ObjectiveSpec = serde_json::from_str(r#"{"error_rate": "1%"}"#).unwrap();
        assert_eq!(spec.objective().unwrap().to_string(), "error rate below 1%");
        let spec: ObjectiveSpec = serde_json::from_str(r#"{"throughput": "50/s"}"#).unwrap();
        assert_eq!(
            spec.objective().unwrap().to_string(),
            "throughput (failed requests included) at least 50 req/s"
        );
        let spec: ObjectiveSpec = serde_json::from_str(r#"{"of": "x"}"#).unwrap();
        assert!(spec.objective().unwrap_err().contains("needs one metric"));
        let spec: ObjectiveSpec =
            serde_json::from_str(r#"{"p99": "1s", "error_rate": 0.1}"#).unwrap();
        assert!(
            spec.objective()
                .unwrap_err()
                .contains("`p99` and `error_rate`")
        );
    }
}
