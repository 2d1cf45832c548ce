//! Objectives (service-level objectives): thresholds on latency percentiles, error rate,
//! throughput (of every request, or of the successful ones), check pass rate, the share of
//! failed iterations and (open model) of dropped iterations, overall or for one request (or
//! agent) name. An [`Objective`] evaluates a
//! run's metrics into an [`ObjectiveResult`]; it does not render.
//!
//! In an open model, latency objectives use the latency from each iteration's intended start
//! (which includes any delay in starting it) unless told `.service_time()`; in a closed model
//! they use the service time. An objective can be scoped to a stage or a time window with
//! [`during`](Objective::during) or [`between`](Objective::between), and can end the run early
//! with [`abort_on_fail`](Objective::abort_on_fail).
//!
//! ```
//! use windtunnel::prelude::*;
//!
//! let objectives = [
//!     p99("add to cart").below(ms(300)),
//!     p95(ALL).below(ms(150)),
//!     error_rate().below(0.01),
//!     successful_throughput().of("list").at_least(50.0),
//!     check_pass_rate().at_least(0.99),
//!     iteration_failure_rate().below(0.01),
//!     dropped_iterations().below(0.001),
//! ];
//! assert_eq!(objectives[0].to_string(), "p99 latency of `add to cart` below 300 ms");
//! assert_eq!(objectives[2].to_string(), "error rate below 1%");
//! assert_eq!(
//!     throughput().at_least(50.0).to_string(),
//!     "throughput (failed requests included) at least 50 req/s"
//! );
//!
//! let peak = p99(ALL).below(ms(300)).during("peak").abort_on_fail();
//! assert_eq!(peak.to_string(), "p99 latency below 300 ms during `peak`");
//! ```

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::{MetricsSnapshot, RequestMetrics, total_of};
use crate::text::{list_or_none, trim_float};
use crate::timeset::TimeSet;

/// How long into the run a whole-run objective marked [`abort_on_fail`](Objective::abort_on_fail)
/// is first judged, so that a cold start does not end the run.
pub const ABORT_GRACE: Duration = Duration::from_secs(5);

/// What an objective applies to: every request, or the requests (or checks) of one name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Metric {
    /// A latency quantile in `0..=1` (1 = the maximum).
    Latency(f64),
    ErrorRate,
    /// Requests per second, failed ones included.
    Throughput,
    /// Successful requests per second.
    SuccessfulThroughput,
    CheckPassRate,
    /// The share of iterations that failed or panicked (scope: an agent).
    IterationFailureRate,
    /// The share of due iterations that were not started (open model).
    DroppedIterations,
    /// How many due iterations were not started (open model).
    DroppedIterationCount,
    /// A quantile of how long iterations took (scope: an agent), from the intended start in an
    /// open model.
    IterationDuration(f64),
}

/// Which latency a latency objective judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Basis {
    /// From the moment the request was sent to its complete response.
    Service,
    /// From its iteration's intended start (open model): service time plus start lateness.
    Intended,
}

/// The part of the run an objective is judged on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Window {
    /// A named stage of the load, or a turbulence phase.
    Named(String),
    /// From `.0` to `.1` after the start.
    Range(Duration, Duration),
    /// The recovery after a turbulence phase: from `.1` after each of its occurrences ends
    /// until the next one starts (or the end of the run).
    After(String, Duration),
}

/// A threshold on a run's metrics; see the module docs for how to make one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    metric: Metric,
    scope: Scope,
    /// `true`: the actual value must be below the threshold; `false`: at least the threshold.
    below: bool,
    threshold: f64,
    basis: Option<Basis>,
    window: Option<Window>,
    abort: bool,
}

/// A latency percentile of a scope, waiting for its threshold.
#[derive(Clone, Debug)]
#[must_use = "give the objective a threshold with `.below(..)`"]
pub struct LatencyObjective {
    quantile: f64,
    scope: Scope,
    basis: Option<Basis>,
}

impl LatencyObjective {
    fn on(quantile: f64, scope: Scope) -> Self {
        LatencyObjective {
            quantile,
            scope,
            basis: None,
        }
    }

    /// Judge the service time (from sending a request to its complete response), also in an
    /// open model.
    pub fn service_time(mut self) -> Self {
        self.basis = Some(Basis::Service);
        self
    }

    /// Judge the latency from each iteration's intended start (the default in an open model;
    /// a closed model has no intended start, and refuses it).
    pub fn from_intended_start(mut self) -> Self {
        self.basis = Some(Basis::Intended);
        self
    }

    /// The percentile must stay strictly below `limit`.
    pub fn below(self, limit: Duration) -> Objective {
        Objective {
            basis: self.basis,
            ..Objective::new(
                Metric::Latency(self.quantile),
                self.scope,
                true,
                ms_of(limit),
            )
        }
    }
}

/// Defines, per `name = quantile`, a `pub fn name(scope)` that starts the objective `$ty` on
/// that quantile of `scope` (with `$ty::on`).
macro_rules! quantile_fns {
    ($ty:ident; $($(#[$doc:meta])* $name:ident = $q:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name(scope: impl Into<Scope>) -> $ty {
            $ty::on($q, scope.into())
        }
    )*};
}

quantile_fns! {
    LatencyObjective;
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

/// A percentile of how long an agent's iterations took, waiting for its threshold.
#[derive(Clone, Debug)]
#[must_use = "give the objective a threshold with `.below(..)`"]
pub struct IterationObjective {
    quantile: f64,
    scope: Scope,
}

impl IterationObjective {
    fn on(quantile: f64, scope: Scope) -> Self {
        IterationObjective { quantile, scope }
    }

    /// The percentile must stay strictly below `limit`.
    pub fn below(self, limit: Duration) -> Objective {
        Objective::new(
            Metric::IterationDuration(self.quantile),
            self.scope,
            true,
            ms_of(limit),
        )
    }
}

quantile_fns! {
    IterationObjective;
    /// The median duration of the iterations of `agent` (an agent's name, or [`ALL`]): from
    /// each iteration's intended start to its end in an open model (k6's
    /// `iteration_duration`, a Gatling group), from its start in a closed one. Every iteration
    /// counts, failed ones too.
    ///
    /// ```
    /// use windtunnel::prelude::*;
    ///
    /// let o = iteration_p95("checkout_flow").below(secs(2));
    /// assert_eq!(o.to_string(), "p95 iteration duration of `checkout_flow` below 2000 ms");
    /// ```
    iteration_p50 = 0.50;
    /// The 90th percentile iteration duration of `agent`; see [`iteration_p50`].
    iteration_p90 = 0.90;
    /// The 95th percentile iteration duration of `agent`; see [`iteration_p50`].
    iteration_p95 = 0.95;
    /// The 99th percentile iteration duration of `agent`; see [`iteration_p50`].
    iteration_p99 = 0.99;
    /// The longest iteration of `agent`; see [`iteration_p50`].
    iteration_max = 1.0;
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

/// Requests per second over the run, failed ones included (a refused connection is a request
/// too), overall unless narrowed with `of`. To gate on the rate the SUT actually served, use
/// [`successful_throughput`].
pub fn throughput() -> RateObjective {
    RateObjective {
        metric: Metric::Throughput,
        scope: Scope::All,
    }
}

/// Successful requests (a response with an accepted status) per second over the run, overall
/// unless narrowed with `of`.
pub fn successful_throughput() -> RateObjective {
    RateObjective {
        metric: Metric::SuccessfulThroughput,
        scope: Scope::All,
    }
}

/// The share of agent iterations that failed (returned `Err`) or panicked, over all agents
/// unless narrowed to one agent with `of`. Cannot be scoped to a window.
pub fn iteration_failure_rate() -> RateObjective {
    RateObjective {
        metric: Metric::IterationFailureRate,
        scope: Scope::All,
    }
}

/// The share of the open model's due iterations that were not started (no free agent), over
/// the whole run. A closed model drops none, and refuses it.
pub fn dropped_iterations() -> RateObjective {
    RateObjective {
        metric: Metric::DroppedIterations,
        scope: Scope::All,
    }
}

/// How many of the open model's due iterations were not started, over the whole run:
/// `dropped_iteration_count().below(1.0)` allows none.
pub fn dropped_iteration_count() -> RateObjective {
    RateObjective {
        metric: Metric::DroppedIterationCount,
        scope: Scope::All,
    }
}

impl RateObjective {
    /// Only the requests (or checks, or for an iteration failure rate: the agent) named `name`.
    pub fn of(mut self, name: impl Into<String>) -> Self {
        self.scope = Scope::Named(name.into());
        self
    }

    /// The value must stay strictly below `limit` (a share in `0..=1` for rates).
    pub fn below(self, limit: f64) -> Objective {
        self.threshold(true, limit)
    }

    /// The value must be at least `minimum` (requests per second for throughputs).
    pub fn at_least(self, minimum: f64) -> Objective {
        self.threshold(false, minimum)
    }

    fn threshold(self, below: bool, threshold: f64) -> Objective {
        Objective::new(self.metric, self.scope, below, threshold)
    }
}

/// A duration in milliseconds, the unit of latency thresholds.
fn ms_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Objective {
    fn new(metric: Metric, scope: Scope, below: bool, threshold: f64) -> Self {
        Objective {
            metric,
            scope,
            below,
            threshold,
            basis: None,
            window: None,
            abort: false,
        }
    }

    /// Judge only the requests that ended during the stage or the turbulence phase named
    /// `name` (see [`Stage::named`](crate::load::Stage::named) and
    /// [`Phase`](crate::turbulence::Phase); a constant-users load with a ramp-up has the stages
    /// `ramp-up` and `steady`). A flapping phase counts all its occurrences.
    pub fn during(mut self, name: impl Into<String>) -> Self {
        self.window = Some(Window::Named(name.into()));
        self
    }

    /// Judge only the recovery after the turbulence phase named `phase`: the requests that
    /// ended from `delay` after it ends until the end of the run (for a flapping phase: after
    /// each occurrence, until the next one starts).
    ///
    /// ```
    /// use windtunnel::prelude::*;
    ///
    /// // "Error rate below 1% from 5 s after `brownout` ends."
    /// let recovered = error_rate().below(0.01).after("brownout", secs(5));
    /// # let _ = recovered;
    /// ```
    pub fn after(mut self, phase: impl Into<String>, delay: Duration) -> Self {
        self.window = Some(Window::After(phase.into(), delay));
        self
    }

    /// Judge only the requests that ended between `from` and `to` after the start of the load.
    pub fn between(mut self, from: Duration, to: Duration) -> Self {
        self.window = Some(Window::Range(from, to));
        self
    }

    /// End the run as soon as the objective is lost: an objective with a window when its window
    /// is over, any other on the data so far, every second from [`ABORT_GRACE`] into the run
    /// (as k6's `abortOnFail`). The report gives the objective as the reason.
    pub fn abort_on_fail(mut self) -> Self {
        self.abort = true;
        self
    }

    pub(crate) fn window(&self) -> Option<&Window> {
        self.window.as_ref()
    }

    pub(crate) fn aborts(&self) -> bool {
        self.abort
    }

    /// Why this objective cannot be judged on a load (open or closed), if it cannot.
    pub(crate) fn problem(&self, open: bool) -> Option<String> {
        if self.basis == Some(Basis::Intended) && !open {
            return Some(format!(
                "objective `{self}`: a closed model has no intended start; use the service time \
                 or an open model (`Load::rate`)"
            ));
        }
        let whole_run = match self.metric {
            Metric::CheckPassRate => Some("check pass rates"),
            Metric::IterationFailureRate => Some("iteration failure rates"),
            Metric::IterationDuration(_) => Some("iteration durations"),
            Metric::DroppedIterations | Metric::DroppedIterationCount => Some("dropped iterations"),
            _ => None,
        };
        if let (Some(what), Some(_)) = (whole_run, &self.window) {
            return Some(format!(
                "objective `{self}`: {what} cannot be scoped to a window"
            ));
        }
        if matches!(
            self.metric,
            Metric::DroppedIterations | Metric::DroppedIterationCount
        ) {
            if !open {
                return Some(format!(
                    "objective `{self}`: a closed model drops no iterations; use an open model \
                     (`Load::rate`)"
                ));
            }
            if self.scope != Scope::All {
                return Some(format!(
                    "objective `{self}`: dropped iterations are counted for the whole load, not \
                     per name"
                ));
            }
        }
        if let Some(Window::Range(from, to)) = &self.window
            && from >= to
        {
            return Some(format!(
                "objective `{self}`: the window ends before it starts"
            ));
        }
        if !self.threshold.is_finite() || self.threshold < 0.0 {
            return Some(format!(
                "objective `{self}`: the threshold must be a number of at least 0"
            ));
        }
        None
    }
}

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
                None => {
                    let known: Vec<&str> = requests.keys().map(String::as_str).collect();
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

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.metric {
            Metric::Latency(q) if q >= 1.0 => "max latency".to_string(),
            Metric::Latency(q) => format!("p{} latency", trim_float(q * 100.0)),
            Metric::ErrorRate => "error rate".into(),
            Metric::Throughput => "throughput (failed requests included)".into(),
            Metric::SuccessfulThroughput => "successful throughput".into(),
            Metric::CheckPassRate => "check pass rate".into(),
            Metric::IterationFailureRate => "iteration failure rate".into(),
            Metric::DroppedIterations => "dropped iterations".into(),
            Metric::DroppedIterationCount => "dropped iteration count".into(),
            Metric::IterationDuration(q) if q >= 1.0 => "max iteration duration".into(),
            Metric::IterationDuration(q) => {
                format!("p{} iteration duration", trim_float(q * 100.0))
            }
        };
        write!(f, "{what}")?;
        match self.basis {
            Some(Basis::Service) => write!(f, " (service time)")?,
            Some(Basis::Intended) => write!(f, " (from intended start)")?,
            None => {}
        }
        if let Scope::Named(n) = &self.scope {
            write!(f, " of `{n}`")?;
        }
        let cmp = if self.below { "below" } else { "at least" };
        let value = match self.metric {
            Metric::Latency(_) | Metric::IterationDuration(_) => {
                format!("{} ms", trim_float(self.threshold))
            }
            Metric::Throughput | Metric::SuccessfulThroughput => {
                format!("{} req/s", trim_float(self.threshold))
            }
            Metric::DroppedIterationCount => trim_float(self.threshold),
            Metric::ErrorRate
            | Metric::CheckPassRate
            | Metric::IterationFailureRate
            | Metric::DroppedIterations => format!("{}%", trim_float(self.threshold * 100.0)),
        };
        write!(f, " {cmp} {value}")?;
        match &self.window {
            Some(Window::Named(s)) => write!(f, " during `{s}`"),
            Some(Window::After(p, d)) => {
                write!(f, " from {} s after `{p}`", trim_float(d.as_secs_f64()))
            }
            Some(Window::Range(a, b)) => write!(
                f,
                " between {} s and {} s",
                trim_float(a.as_secs_f64()),
                trim_float(b.as_secs_f64())
            ),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Outcome, Recorder};
    use crate::ms;

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
            .evaluate(&snap, secs, None);
        assert!(r.passed, "{r:?}");
        assert!((r.actual.unwrap() - 10.0).abs() < 0.02);
        let r = max_latency("checkout")
            .below(Duration::from_millis(500))
            .evaluate(&snap, secs, None);
        assert!(!r.passed);
        assert!((r.actual.unwrap() - 900.0).abs() < 1.0);
        assert_eq!(r.metric, "max");
        assert_eq!(r.scope.as_deref(), Some("checkout"));
        let r = p999(ALL)
            .below(Duration::from_millis(100))
            .evaluate(&snap, secs, None);
        assert!(!r.passed);
        assert_eq!(r.metric, "p99.9");
    }

    #[test]
    fn rates_and_throughput() {
        let snap = snapshot();
        let secs = Duration::from_secs(10);
        let r = error_rate().below(0.01).evaluate(&snap, secs, None);
        assert_eq!(r.actual, Some(0.01));
        assert!(!r.passed, "1% is not below 1%");
        assert!(
            error_rate()
                .of("list")
                .below(0.01)
                .evaluate(&snap, secs, None)
                .passed
        );
        let r = throughput().at_least(10.0).evaluate(&snap, secs, None);
        assert_eq!(r.actual, Some(10.0));
        assert!(r.passed);
        assert!(
            !throughput()
                .of("list")
                .at_least(10.0)
                .evaluate(&snap, secs, None)
                .passed
        );
        let r = check_pass_rate().at_least(0.6).evaluate(&snap, secs, None);
        assert!(r.passed);
        assert!((r.actual.unwrap() - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn successful_throughput_counts_only_what_succeeded() {
        let snap = snapshot();
        let secs = Duration::from_secs(10);
        // 100 requests, 1 failed, over 10 s.
        let r = successful_throughput()
            .at_least(9.95)
            .evaluate(&snap, secs, None);
        assert_eq!(r.actual, Some(9.9));
        assert!(!r.passed);
        assert_eq!(r.metric, "successful_throughput");
        assert_eq!(
            successful_throughput().at_least(5.0).to_string(),
            "successful throughput at least 5 req/s"
        );
    }

    #[test]
    fn iteration_failures_and_drops_are_judged_on_their_counts() {
        use crate::metrics::IterationOutcome;
        let rec = Recorder::new();
        for i in 0..10 {
            let outcome = if i < 3 {
                IterationOutcome::Failed {
                    class: "error",
                    message: "no total",
                    injected: false,
                }
            } else {
                IterationOutcome::Completed
            };
            rec.iteration("buyer", outcome);
        }
        rec.iteration("lister", IterationOutcome::Completed);
        let now = tokio::time::Instant::now();
        for _ in 0..3 {
            rec.iteration_started(Duration::ZERO);
        }
        rec.iteration_dropped(now);
        let snap = rec.snapshot();
        let secs = Duration::from_secs(1);
        let r = iteration_failure_rate()
            .below(0.25)
            .evaluate(&snap, secs, None);
        assert!((r.actual.unwrap() - 3.0 / 11.0).abs() < 1e-9, "{r:?}");
        assert!(!r.passed);
        let r = iteration_failure_rate()
            .of("buyer")
            .below(0.31)
            .evaluate(&snap, secs, None);
        assert!(r.passed, "{r:?}");
        let r = iteration_failure_rate()
            .of("byuer")
            .below(0.5)
            .evaluate(&snap, secs, None);
        assert!(r.detail.unwrap().contains("recorded: buyer, lister"));
        let r = dropped_iterations().below(0.3).evaluate(&snap, secs, None);
        assert_eq!(r.actual, Some(0.25));
        assert!(r.passed);
        let r = dropped_iteration_count()
            .below(1.0)
            .evaluate(&snap, secs, None);
        assert_eq!((r.actual, r.passed), (Some(1.0), false));
        assert_eq!(r.unit, "iterations");
        let none =
            dropped_iterations()
                .below(0.5)
                .evaluate(&MetricsSnapshot::default(), secs, None);
        assert_eq!(none.detail.as_deref(), Some("no iteration was due"));
        assert!(!none.passed);
    }

    #[test]
    fn iteration_durations_are_judged_per_agent_or_overall() {
        use crate::metrics::IterationOutcome;
        let rec = Recorder::new();
        for ms in 1..=100u64 {
            rec.iteration_ended(
                "buyer",
                IterationOutcome::Completed,
                Duration::from_millis(ms * 10),
            );
        }
        rec.iteration_ended(
            "lister",
            IterationOutcome::Completed,
            Duration::from_millis(5),
        );
        let snap = rec.snapshot();
        let secs = Duration::from_secs(1);
        let r = iteration_p95("buyer")
            .below(Duration::from_millis(900))
            .evaluate(&snap, secs, None);
        assert!((r.actual.unwrap() - 950.0).abs() < 1.0, "{r:?}");
        assert!(!r.passed);
        assert_eq!(
            (r.metric.as_str(), r.unit.as_str()),
            ("iteration_p95", "ms")
        );
        let r = iteration_max(ALL)
            .below(Duration::from_secs(2))
            .evaluate(&snap, secs, None);
        assert!(r.passed, "{r:?}");
        let r = iteration_p50("nobody")
            .below(Duration::from_secs(1))
            .evaluate(&snap, secs, None);
        assert!(r.detail.unwrap().contains("recorded: buyer, lister"));
        assert_eq!(
            iteration_max(ALL).below(Duration::from_secs(1)).to_string(),
            "max iteration duration below 1000 ms"
        );
    }

    #[test]
    fn unknown_names_fail_with_the_names_that_exist() {
        let r = p99("add to kart").below(Duration::from_secs(1)).evaluate(
            &snapshot(),
            Duration::from_secs(1),
            None,
        );
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
            .evaluate(&empty, Duration::from_secs(1), None);
        assert_eq!(r.detail.as_deref(), Some("no requests were recorded"));
    }

    #[test]
    fn objectives_that_cannot_be_judged_say_why() {
        let problem = |o: Objective, open: bool| o.problem(open).unwrap_or_default();
        assert!(
            problem(p99(ALL).from_intended_start().below(ms(5)), false)
                .contains("a closed model has no intended start")
        );
        assert_eq!(
            problem(p99(ALL).from_intended_start().below(ms(5)), true),
            ""
        );
        assert!(
            problem(check_pass_rate().at_least(0.9).during("peak"), true)
                .contains("check pass rates cannot be scoped to a window")
        );
        assert!(
            problem(error_rate().below(0.1).between(ms(500), ms(100)), true)
                .contains("the window ends before it starts")
        );
        assert!(
            problem(dropped_iterations().below(0.1), false)
                .contains("a closed model drops no iterations")
        );
        assert!(
            problem(iteration_failure_rate().below(0.1).during("peak"), true)
                .contains("iteration failure rates cannot be scoped to a window")
        );
        assert!(
            problem(error_rate().below(-0.1), true)
                .contains("the threshold must be a number of at least 0")
        );
    }

    #[test]
    fn labels_read_well() {
        assert_eq!(
            p999(ALL).below(Duration::from_micros(1500)).to_string(),
            "p99.9 latency below 1.5 ms"
        );
        assert_eq!(
            throughput().of("list").at_least(50.0).to_string(),
            "throughput (failed requests included) of `list` at least 50 req/s"
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
