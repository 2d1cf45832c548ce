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

mod judge;

pub(crate) use judge::Span;
pub use judge::{ObjectiveResult, WindowReport};

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
mod tests;
