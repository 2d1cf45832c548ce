//! Judging an objective: its measure read from a run's metrics (whole, or within the window it
//! is scoped to), compared with its threshold, and the result as the report shows it.

use super::*;

/// The part of the run an objective was judged on, as resolved for one load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Span {
    /// The recorder's window holding its requests.
    pub(crate) index: usize,
    pub(crate) set: TimeSet,
    pub(crate) stage: Option<String>,
    pub(crate) phase: Option<String>,
}

impl Span {
    /// When the span is over for good (`Duration::MAX`: not before the end of the run).
    pub(crate) fn end(&self) -> Duration {
        self.set.end()
    }
}

/// How one objective fared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ObjectiveResult {
    /// What the objective says, e.g. "p99 latency of `list` below 300 ms".
    pub objective: String,
    /// The metric: `p50`, `p90`, `p95`, `p99`, `p99.9`, `max`, `error_rate`, `throughput`
    /// (failed requests included), `successful_throughput`, `check_pass_rate`,
    /// `iteration_failure_rate`, `dropped_iterations` or `dropped_iteration_count`.
    pub metric: String,
    /// The request (check, agent) name, or `None` for all.
    pub scope: Option<String>,
    /// `below` or `at_least`.
    pub comparison: String,
    /// The threshold, in `unit`.
    pub expected: f64,
    /// The measured value, in `unit`; `None` when nothing was measured in the scope.
    pub actual: Option<f64>,
    /// `ms`, `ratio`, `req/s` or `iterations`.
    pub unit: String,
    /// Whether the objective held.
    pub passed: bool,
    /// Why it could not be evaluated, when `actual` is `None`.
    pub detail: Option<String>,
    /// For latency objectives: `service` (service time) or `intended` (from the intended start).
    pub latency: Option<String>,
    /// The part of the run it was judged on; `None` for the whole run.
    pub window: Option<WindowReport>,
    /// Whether losing it ends the run.
    pub abort_on_fail: bool,
}

/// The part of the run an objective was judged on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowReport {
    /// The stage, if it was scoped to one.
    pub stage: Option<String>,
    /// The turbulence phase, if it was scoped to one (or to the recovery after one).
    pub phase: Option<String>,
    /// For a recovery: how long after the phase it starts, in seconds.
    pub after_s: Option<f64>,
    /// Its start, in seconds from the start of the load.
    pub from_s: f64,
    /// Its end, in seconds from the start of the load (the run's end if it had none).
    pub to_s: f64,
    /// How long it lasted within the run, in seconds (less than `to_s - from_s` for a flapping
    /// phase).
    pub covered_s: f64,
}

impl Objective {
    fn metric_name(&self) -> String {
        match self.metric {
            Metric::Latency(q) if q >= 1.0 => "max".into(),
            Metric::Latency(q) => format!("p{}", trim_float(q * 100.0)),
            Metric::ErrorRate => "error_rate".into(),
            Metric::Throughput => "throughput".into(),
            Metric::SuccessfulThroughput => "successful_throughput".into(),
            Metric::CheckPassRate => "check_pass_rate".into(),
            Metric::IterationFailureRate => "iteration_failure_rate".into(),
            Metric::DroppedIterations => "dropped_iterations".into(),
            Metric::DroppedIterationCount => "dropped_iteration_count".into(),
            Metric::IterationDuration(q) if q >= 1.0 => "iteration_max".into(),
            Metric::IterationDuration(q) => format!("iteration_p{}", trim_float(q * 100.0)),
        }
    }

    fn unit(&self) -> &'static str {
        match self.metric {
            Metric::Latency(_) | Metric::IterationDuration(_) => "ms",
            Metric::Throughput | Metric::SuccessfulThroughput => "req/s",
            Metric::DroppedIterationCount => "iterations",
            Metric::ErrorRate
            | Metric::CheckPassRate
            | Metric::IterationFailureRate
            | Metric::DroppedIterations => "ratio",
        }
    }

    fn basis(&self, open: bool) -> Option<Basis> {
        match self.metric {
            Metric::Latency(_) => Some(self.basis.unwrap_or(if open {
                Basis::Intended
            } else {
                Basis::Service
            })),
            _ => None,
        }
    }

    /// Evaluates each objective of `list` (with the window it is scoped to) on a run's
    /// metrics, in order.
    pub(crate) fn evaluate_all(
        list: &[(Objective, Option<Span>)],
        metrics: &MetricsSnapshot,
        elapsed: Duration,
    ) -> Vec<ObjectiveResult> {
        list.iter()
            .map(|(o, span)| o.evaluate(metrics, elapsed, span.as_ref()))
            .collect()
    }

    /// Evaluates the objective on a run's metrics; `elapsed` is the run's duration so far, and
    /// `span` the window it is scoped to, if any.
    pub(crate) fn evaluate(
        &self,
        metrics: &MetricsSnapshot,
        elapsed: Duration,
        span: Option<&Span>,
    ) -> ObjectiveResult {
        let basis = self.basis(metrics.intended);
        let measured = match span {
            None => self.measure(&metrics.requests, metrics, elapsed, basis),
            Some(w) if elapsed <= w.set.start() => Err(format!(
                "the load ended at {:.1} s, before its window started",
                elapsed.as_secs_f64()
            )),
            Some(w) => match metrics.windows.get(w.index) {
                Some(requests) => self.measure(requests, metrics, w.set.covered(elapsed), basis),
                None => Err("the window was not recorded".into()),
            },
        };
        let (actual, detail) = match measured {
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
            latency: basis.map(|b| {
                match b {
                    Basis::Service => "service",
                    Basis::Intended => "intended",
                }
                .into()
            }),
            window: span.map(|w| WindowReport {
                stage: w.stage.clone(),
                phase: w.phase.clone(),
                after_s: match &w.set {
                    TimeSet::After(_, delay) => Some(delay.as_secs_f64()),
                    _ => None,
                },
                from_s: w.set.start().as_secs_f64(),
                to_s: w.set.end().min(elapsed).as_secs_f64(),
                covered_s: w.set.covered(elapsed).as_secs_f64(),
            }),
            abort_on_fail: self.abort,
        }
    }

    fn measure(
        &self,
        requests: &std::collections::BTreeMap<String, RequestMetrics>,
        metrics: &MetricsSnapshot,
        elapsed: Duration,
        basis: Option<Basis>,
    ) -> Result<f64, String> {
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
        if let Metric::IterationDuration(q) = self.metric {
            let mut merged: Option<hdrhistogram::Histogram<u64>> = None;
            for h in self
                .agents(metrics)?
                .iter()
                .filter_map(|c| c.duration.as_ref())
            {
                match &mut merged {
                    Some(m) => m.add(h).expect("histograms share their bounds"),
                    None => merged = Some(h.clone()),
                }
            }
            let h = merged
                .filter(|h| !h.is_empty())
                .ok_or_else(|| "no iterations were recorded".to_owned())?;
            return Ok(quantile_ms(&h, q));
        }
        if let Metric::IterationFailureRate = self.metric {
            let counters = self.agents(metrics)?;
            let (bad, total) = counters.iter().fold((0, 0), |(b, t), c| {
                let bad = c.failed + c.panicked;
                (b + bad, t + bad + c.completed)
            });
            if total == 0 {
                return Err("no iterations were recorded".into());
            }
            return Ok(bad as f64 / total as f64);
        }
        if let Metric::DroppedIterations | Metric::DroppedIterationCount = self.metric {
            let (started, dropped) = metrics.started_and_dropped();
            if started + dropped == 0 {
                return Err("no iteration was due".into());
            }
            return Ok(if self.metric == Metric::DroppedIterationCount {
                dropped as f64
            } else {
                dropped as f64 / (started + dropped) as f64
            });
        }
        let total;
        let requests = match &self.scope {
            Scope::All => {
                total = total_of(requests, metrics.intended);
                &total
            }
            Scope::Named(n) => match requests.get(n) {
                Some(m) => m,
                // A wait is judged as a request would be, over the whole run.
                None if metrics.waits.contains_key(n) => {
                    if !std::ptr::eq(requests, &metrics.requests) {
                        return Err(format!(
                            "`{n}` is a wait, and waits are judged over the whole run, not in \
                             a stage, phase or window"
                        ));
                    }
                    &metrics.waits[n]
                }
                None => {
                    let known: Vec<&str> = requests
                        .keys()
                        .chain(metrics.waits.keys())
                        .map(String::as_str)
                        .collect();
                    return Err(format!(
                        "no requests named `{n}` were recorded (recorded: {})",
                        list_or_none(&known)
                    ));
                }
            },
        };
        if requests.count == 0 {
            return Err("no requests were recorded".into());
        }
        Ok(match self.metric {
            Metric::Latency(q) => {
                let h = match (basis, &requests.intended) {
                    (Some(Basis::Intended), Some(h)) => h,
                    (Some(Basis::Intended), None) => {
                        return Err("no latency from an intended start was recorded".into());
                    }
                    _ => &requests.histogram,
                };
                if h.is_empty() {
                    return Err("no request was sent: none has a latency".into());
                }
                quantile_ms(h, q)
            }
            Metric::ErrorRate => requests.error_rate(),
            Metric::Throughput | Metric::SuccessfulThroughput => {
                let secs = elapsed.as_secs_f64();
                let counted = if self.metric == Metric::Throughput {
                    requests.count
                } else {
                    requests.count - requests.failed
                };
                if secs <= 0.0 {
                    0.0
                } else {
                    counted as f64 / secs
                }
            }
            Metric::CheckPassRate
            | Metric::IterationFailureRate
            | Metric::IterationDuration(_)
            | Metric::DroppedIterations
            | Metric::DroppedIterationCount => unreachable!("handled above"),
        })
    }
}

impl Objective {
    /// The iteration counters of the objective's agent, or of every agent; `Err` names the
    /// agents there are when its agent has none.
    fn agents<'m>(
        &self,
        metrics: &'m MetricsSnapshot,
    ) -> Result<Vec<&'m crate::metrics::IterationCounters>, String> {
        match &self.scope {
            Scope::All => Ok(metrics.iterations.values().collect()),
            Scope::Named(n) => metrics.iterations.get(n).map(|c| vec![c]).ok_or_else(|| {
                let known: Vec<&str> = metrics.iterations.keys().map(String::as_str).collect();
                format!(
                    "no iterations of an agent named `{n}` were recorded (recorded: {})",
                    list_or_none(&known)
                )
            }),
        }
    }
}

/// The quantile `q` of a histogram of microseconds (1 = the maximum), in milliseconds.
fn quantile_ms(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    let us = if q >= 1.0 {
        h.max()
    } else {
        h.value_at_quantile(q)
    };
    us as f64 / 1000.0
}
