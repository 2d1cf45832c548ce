//! Objectives (service-level objectives): thresholds on latency percentiles, error rate,
//! throughput and check pass rate, overall or for one request name. An [`Objective`] evaluates a
//! run's metrics into an [`ObjectiveResult`]; it does not render.
//!
//! ```
//! use windtunnel::prelude::*;
//!
//! let objectives = [
//!     p99("add to cart").below(ms(300)),
//!     p95(ALL).below(ms(150)),
//!     error_rate().below(0.01),
//!     throughput().of("list").at_least(50.0),
//!     check_pass_rate().at_least(0.99),
//! ];
//! assert_eq!(objectives[0].to_string(), "p99 latency of `add to cart` below 300 ms");
//! assert_eq!(objectives[2].to_string(), "error rate below 1%");
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::MetricsSnapshot;

/// What an objective applies to: every request, or the requests (or checks) of one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// All requests (or all checks) together.
    All,
    /// Only the requests (or checks) with this name.
    Named(String),
}

/// Every request together: `p99(ALL).below(ms(200))`.
pub const ALL: Scope = Scope::All;

impl From<&str> for Scope {
    fn from(name: &str) -> Self {
        Scope::Named(name.to_owned())
    }
}

impl From<String> for Scope {
    fn from(name: String) -> Self {
        Scope::Named(name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Metric {
    /// A latency quantile in `0..=1` (1 = the maximum).
    Latency(f64),
    ErrorRate,
    Throughput,
    CheckPassRate,
}

/// A threshold on a run's metrics; see the module docs for how to make one.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    metric: Metric,
    scope: Scope,
    /// `true`: the actual value must be below the threshold; `false`: at least the threshold.
    below: bool,
    threshold: f64,
}

/// A latency percentile of a scope, waiting for its threshold.
#[derive(Clone, Debug)]
#[must_use = "give the objective a threshold with `.below(..)`"]
pub struct LatencyObjective {
    quantile: f64,
    scope: Scope,
}

impl LatencyObjective {
    /// The percentile must stay strictly below `limit`.
    pub fn below(self, limit: Duration) -> Objective {
        Objective {
            metric: Metric::Latency(self.quantile),
            scope: self.scope,
            below: true,
            threshold: limit.as_secs_f64() * 1000.0,
        }
    }
}

macro_rules! percentile_fns {
    ($($(#[$doc:meta])* $name:ident = $q:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name(scope: impl Into<Scope>) -> LatencyObjective {
            LatencyObjective { quantile: $q, scope: scope.into() }
        }
    )*};
}

percentile_fns! {
    /// The median latency of `scope` (a request name, or [`ALL`]).
    p50 = 0.50;
    /// The 90th percentile latency of `scope`.
    p90 = 0.90;
    /// The 95th percentile latency of `scope`.
    p95 = 0.95;
    /// The 99th percentile latency of `scope`.
    p99 = 0.99;
    /// The 99.9th percentile latency of `scope`.
    p999 = 0.999;
    /// The maximum latency of `scope`.
    max_latency = 1.0;
}

/// A rate (error rate, check pass rate) of a scope, waiting for its threshold.
#[derive(Clone, Debug)]
#[must_use = "give the objective a threshold"]
pub struct RateObjective {
    metric: Metric,
    scope: Scope,
}

/// The share of failed requests (transport errors and unaccepted statuses), overall unless
/// narrowed with [`of`](RateObjective::of).
pub fn error_rate() -> RateObjective {
    RateObjective {
        metric: Metric::ErrorRate,
        scope: Scope::All,
    }
}

/// The share of checks that passed, overall unless narrowed to one check with `of`.
pub fn check_pass_rate() -> RateObjective {
    RateObjective {
        metric: Metric::CheckPassRate,
        scope: Scope::All,
    }
}

/// Requests per second over the run, overall unless narrowed with `of`.
pub fn throughput() -> RateObjective {
    RateObjective {
        metric: Metric::Throughput,
        scope: Scope::All,
    }
}

impl RateObjective {
    /// Only the requests (or checks) named `name`.
    pub fn of(mut self, name: impl Into<String>) -> Self {
        self.scope = Scope::Named(name.into());
        self
    }

    /// The value must stay strictly below `limit` (a share in `0..=1` for rates).
    pub fn below(self, limit: f64) -> Objective {
        Objective {
            metric: self.metric,
            scope: self.scope,
            below: true,
            threshold: limit,
        }
    }

    /// The value must be at least `minimum` (requests per second for throughput).
    pub fn at_least(self, minimum: f64) -> Objective {
        Objective {
            metric: self.metric,
            scope: self.scope,
            below: false,
            threshold: minimum,
        }
    }
}

/// How one objective fared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveResult {
    /// What the objective says, e.g. "p99 latency of `list` below 300 ms".
    pub objective: String,
    /// The metric: `p50`, `p90`, `p95`, `p99`, `p99.9`, `max`, `error_rate`, `throughput` or
    /// `check_pass_rate`.
    pub metric: String,
    /// The request (or check) name, or `None` for all.
    pub scope: Option<String>,
    /// `below` or `at_least`.
    pub comparison: String,
    /// The threshold, in `unit`.
    pub expected: f64,
    /// The measured value, in `unit`; `None` when nothing was measured in the scope.
    pub actual: Option<f64>,
    /// `ms`, `ratio` or `req/s`.
    pub unit: String,
    /// Whether the objective held.
    pub passed: bool,
    /// Why it could not be evaluated, when `actual` is `None`.
    pub detail: Option<String>,
}

impl Objective {
    fn metric_name(&self) -> String {
        match self.metric {
            Metric::Latency(q) if q >= 1.0 => "max".into(),
            Metric::Latency(q) => format!("p{}", trim_float(q * 100.0)),
            Metric::ErrorRate => "error_rate".into(),
            Metric::Throughput => "throughput".into(),
            Metric::CheckPassRate => "check_pass_rate".into(),
        }
    }

    fn unit(&self) -> &'static str {
        match self.metric {
            Metric::Latency(_) => "ms",
            Metric::Throughput => "req/s",
            Metric::ErrorRate | Metric::CheckPassRate => "ratio",
        }
    }

    /// Evaluates the objective on a run's metrics; `elapsed` is the run's duration.
    pub(crate) fn evaluate(&self, metrics: &MetricsSnapshot, elapsed: Duration) -> ObjectiveResult {
        let (actual, detail) = match self.measure(metrics, elapsed) {
            Ok(v) => (Some(v), None),
            Err(why) => (None, Some(why)),
        };
        let passed = match actual {
            Some(v) if self.below => v < self.threshold,
            Some(v) => v >= self.threshold,
            None => false,
        };
        ObjectiveResult {
            objective: self.to_string(),
            metric: self.metric_name(),
            scope: match &self.scope {
                Scope::All => None,
                Scope::Named(n) => Some(n.clone()),
            },
            comparison: if self.below { "below" } else { "at_least" }.into(),
            expected: self.threshold,
            actual,
            unit: self.unit().into(),
            passed,
            detail,
        }
    }

    fn measure(&self, metrics: &MetricsSnapshot, elapsed: Duration) -> Result<f64, String> {
        if let Metric::CheckPassRate = self.metric {
            let (passed, failed) = match &self.scope {
                Scope::All => metrics
                    .checks
                    .values()
                    .fold((0, 0), |(p, f), c| (p + c.passed, f + c.failed.count)),
                Scope::Named(n) => match metrics.checks.get(n) {
                    Some(c) => (c.passed, c.failed.count),
                    None => return Err(format!("no check named `{n}` was recorded")),
                },
            };
            let total = passed + failed;
            if total == 0 {
                return Err("no checks were recorded".into());
            }
            return Ok(passed as f64 / total as f64);
        }
        let total;
        let requests = match &self.scope {
            Scope::All => {
                total = metrics.total();
                &total
            }
            Scope::Named(n) => match metrics.requests.get(n) {
                Some(m) => m,
                None => {
                    let known: Vec<&str> = metrics.requests.keys().map(String::as_str).collect();
                    return Err(format!(
                        "no requests named `{n}` were recorded (recorded: {})",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ));
                }
            },
        };
        if requests.count == 0 {
            return Err("no requests were recorded".into());
        }
        Ok(match self.metric {
            Metric::Latency(q) => {
                let us = if q >= 1.0 {
                    requests.histogram.max()
                } else {
                    requests.histogram.value_at_quantile(q)
                };
                us as f64 / 1000.0
            }
            Metric::ErrorRate => requests.error_rate(),
            Metric::Throughput => {
                let secs = elapsed.as_secs_f64();
                if secs <= 0.0 {
                    0.0
                } else {
                    requests.count as f64 / secs
                }
            }
            Metric::CheckPassRate => unreachable!("handled above"),
        })
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.metric {
            Metric::Latency(q) if q >= 1.0 => "max latency".to_string(),
            Metric::Latency(q) => format!("p{} latency", trim_float(q * 100.0)),
            Metric::ErrorRate => "error rate".into(),
            Metric::Throughput => "throughput".into(),
            Metric::CheckPassRate => "check pass rate".into(),
        };
        write!(f, "{what}")?;
        if let Scope::Named(n) = &self.scope {
            write!(f, " of `{n}`")?;
        }
        let cmp = if self.below { "below" } else { "at least" };
        let value = match self.metric {
            Metric::Latency(_) => format!("{} ms", trim_float(self.threshold)),
            Metric::Throughput => format!("{} req/s", trim_float(self.threshold)),
            Metric::ErrorRate | Metric::CheckPassRate => {
                format!("{}%", trim_float(self.threshold * 100.0))
            }
        };
        write!(f, " {cmp} {value}")
    }
}

/// `99.0` → "99", `99.9` → "99.9", `0.1` → "0.1": no float noise in labels.
fn trim_float(v: f64) -> String {
    let s = format!("{:.4}", v);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Outcome, Recorder};

    fn snapshot() -> MetricsSnapshot {
        let rec = Recorder::new();
        // 99 fast requests at 10 ms and one slow at 900 ms, plus one failure.
        for _ in 0..99 {
            let ok = Outcome::Response {
                status: 200,
                accepted: true,
                detail: &String::new,
            };
            rec.record("list", Duration::from_millis(10), ok);
        }
        let slow = Outcome::Response {
            status: 503,
            accepted: false,
            detail: &|| "503".into(),
        };
        rec.record("checkout", Duration::from_millis(900), slow);
        rec.check("list: status 200", true, String::new);
        rec.check("list: status 200", true, String::new);
        rec.check("checkout: status 200", false, || "got 503".into());
        rec.snapshot()
    }

    #[test]
    fn latency_objectives_compare_strictly_against_the_merged_histogram() {
        let snap = snapshot();
        let secs = Duration::from_secs(10);
        let r = p99(ALL)
            .below(Duration::from_millis(11))
            .evaluate(&snap, secs);
        assert!(r.passed, "{r:?}");
        assert!((r.actual.unwrap() - 10.0).abs() < 0.02);
        let r = max_latency("checkout")
            .below(Duration::from_millis(500))
            .evaluate(&snap, secs);
        assert!(!r.passed);
        assert!((r.actual.unwrap() - 900.0).abs() < 1.0);
        assert_eq!(r.metric, "max");
        assert_eq!(r.scope.as_deref(), Some("checkout"));
        let r = p999(ALL)
            .below(Duration::from_millis(100))
            .evaluate(&snap, secs);
        assert!(!r.passed);
        assert_eq!(r.metric, "p99.9");
    }

    #[test]
    fn rates_and_throughput() {
        let snap = snapshot();
        let secs = Duration::from_secs(10);
        let r = error_rate().below(0.01).evaluate(&snap, secs);
        assert_eq!(r.actual, Some(0.01));
        assert!(!r.passed, "1% is not below 1%");
        assert!(
            error_rate()
                .of("list")
                .below(0.01)
                .evaluate(&snap, secs)
                .passed
        );
        let r = throughput().at_least(10.0).evaluate(&snap, secs);
        assert_eq!(r.actual, Some(10.0));
        assert!(r.passed);
        assert!(
            !throughput()
                .of("list")
                .at_least(10.0)
                .evaluate(&snap, secs)
                .passed
        );
        let r = check_pass_rate().at_least(0.6).evaluate(&snap, secs);
        assert!(r.passed);
        assert!((r.actual.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn unknown_names_fail_with_the_names_that_exist() {
        let r = p99("add to kart")
            .below(Duration::from_secs(1))
            .evaluate(&snapshot(), Duration::from_secs(1));
        assert!(!r.passed);
        assert_eq!(r.actual, None);
        let detail = r.detail.unwrap();
        assert!(
            detail.contains("no requests named `add to kart`"),
            "{detail}"
        );
        assert!(detail.contains("checkout, list"), "{detail}");
        let empty = MetricsSnapshot::default();
        let r = error_rate()
            .below(0.5)
            .evaluate(&empty, Duration::from_secs(1));
        assert_eq!(r.detail.as_deref(), Some("no requests were recorded"));
    }

    #[test]
    fn labels_read_well() {
        assert_eq!(
            p999(ALL).below(Duration::from_micros(1500)).to_string(),
            "p99.9 latency below 1.5 ms"
        );
        assert_eq!(
            throughput().of("list").at_least(50.0).to_string(),
            "throughput of `list` at least 50 req/s"
        );
        assert_eq!(
            check_pass_rate().at_least(0.995).to_string(),
            "check pass rate at least 99.5%"
        );
        assert_eq!(
            max_latency("x").below(Duration::from_secs(2)).to_string(),
            "max latency of `x` below 2000 ms"
        );
    }
}
