//! Turbulence: faults injected on a schedule while the load runs, every decision drawn from the
//! scenario seed so that a run can be replayed.
//!
//! - HTTP [`Fault`]s act inside the agents' client: delay, abort with a synthetic response,
//!   hang, drop the request, drop the response. They match requests by name, method and path.
//! - Network [`Toxic`]s act in a [`Proxy`]: an in-process TCP proxy on loopback between the agents
//!   and the SUT, or between the SUT and a dependency (latency, bandwidth, reset, timeout, slow
//!   close, limit data, down, slicer), and, for HTTP/1.1 through the proxy, per request
//!   ([`Toxic::http`]: a [`Fault`] acting in the proxy, so on traffic no agent sends).
//! - A [`Phase`] says when its faults and toxics apply: the whole run, a window (absolute or a
//!   share of the run), repeated (`every 30 s for 5 s`), with the probability ramping up.
//!   Objectives can be scoped to a phase and to the recovery after it
//!   ([`Objective::during`](crate::Objective::during), [`Objective::after`](crate::Objective::after)).
//!
//! The schedule is a function of time over an immutable plan, so a phase change takes no lock
//! and never waits for traffic. Which requests a fault fires on is keyed by their logical
//! identity (agent, iteration, request number in the iteration; in an open model, the
//! iteration's place in the schedule), so one seed gives the same decisions in every run.
//!
//! ```no_run
//! use windtunnel::prelude::*;
//!
//! #[agent]
//! async fn shopper(a: &mut Agent) -> Result<()> {
//!     a.get("/products").name("list").send().await?;
//!     Ok(())
//! }
//!
//! #[scenario]
//! async fn survives_a_brownout(s: Scenario) -> Result<()> {
//!     s.target("http://127.0.0.1:8080")
//!         .agents([shopper])
//!         .users(20)
//!         .duration(secs(60))
//!         .through_proxy()
//!         .turbulence(
//!             Phase::new("brownout")
//!                 .during(secs(20)..secs(40))
//!                 .fault(Fault::delay(ms(200)).jitter(ms(50)).probability(0.3))
//!                 .fault(Fault::abort(503).header("retry-after", "1").probability(0.05)),
//!         )
//!         .turbulence(
//!             Phase::new("flaky network")
//!                 .every(secs(15), secs(3))
//!                 .toxic("target", Toxic::reset_peer(ms(0)).toxicity(0.2)),
//!         )
//!         .slo(p99("list").below(secs(2)).during("brownout"))
//!         .slo(error_rate().below(0.01).after("brownout", secs(5)))
//!         .run()
//!         .await?;
//!     Ok(())
//! }
//! # fn main() {}
//! ```

pub(crate) mod draw;
mod exchange;
mod fault;
mod ledger;
mod proxy;
pub(crate) mod spec;
mod tape;
mod toxic;

use std::fmt;
use std::ops::{Bound, Range, RangeBounds};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use draw::Jitter;
pub use fault::Fault;
pub use proxy::{Proxy, ProxyBuilder, ProxyError};
pub use tape::{
    MAX_TAPE_ENTRIES, TAPE_FORMAT, TAPE_VERSION, Tape, TapeDiff, TapeError, TapedConnection,
    TapedDirection, TapedExchange, TapedRequest,
};
pub use toxic::{Direction, Toxic};

pub(crate) use fault::Action;
pub(crate) use ledger::Ledger;
pub(crate) use tape::Replaying;

use crate::timeset::Timing;
use draw::{Domain, Draws};

/// The most phases a scenario can have.
pub const MAX_PHASES: usize = 64;

/// When a phase is active, as given.
#[derive(Clone, Debug, PartialEq)]
enum When {
    Window(Duration, Duration),
    Share(f64, f64),
}

/// A named period of turbulence: when it applies, and the faults and toxics it applies.
///
/// A phase spans the whole run unless given a window with [`during`](Self::during) (time from
/// the start of the load) or [`during_share`](Self::during_share) (shares of the load's
/// duration). [`every`](Self::every) makes it flap within its window, and [`ramp`](Self::ramp)
/// scales its faults' probabilities linearly over each occurrence.
///
/// ```
/// use windtunnel::prelude::*;
///
/// let brownout = Phase::new("brownout")
///     .during(secs(10)..secs(20))
///     .ramp(0.0, 1.0)
///     .fault(Fault::delay(ms(500)).probability(0.5));
/// let flapping = Phase::new("flapping")
///     .during_share(0.5..1.0)
///     .every(secs(30), secs(5))
///     .toxic("db", Toxic::down());
/// # let _ = (brownout, flapping);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a phase does nothing until added with `Scenario::turbulence`"]
pub struct Phase {
    name: String,
    when: When,
    every: Option<(Duration, Duration)>,
    ramp: Option<(f64, f64)>,
    faults: Vec<Fault>,
    toxics: Vec<(String, Toxic)>,
}

impl Phase {
    /// A phase named `name` (unique in the scenario, used by objectives and in reports),
    /// active for the whole run until given a window.
    pub fn new(name: impl Into<String>) -> Self {
        Phase {
            name: name.into(),
            when: When::Window(Duration::ZERO, Duration::MAX),
            every: None,
            ramp: None,
            faults: Vec::new(),
            toxics: Vec::new(),
        }
    }

    /// Active in `window`, measured from the start of the load: `secs(10)..secs(20)`,
    /// `secs(30)..` (to the end), `..secs(5)`.
    pub fn during(mut self, window: impl RangeBounds<Duration>) -> Self {
        let from = match window.start_bound() {
            Bound::Included(d) | Bound::Excluded(d) => *d,
            Bound::Unbounded => Duration::ZERO,
        };
        let to = match window.end_bound() {
            Bound::Included(d) | Bound::Excluded(d) => *d,
            Bound::Unbounded => Duration::MAX,
        };
        self.when = When::Window(from, to);
        self
    }

    /// Active in `window`, given as shares of the load's duration: `0.25..0.5` is its second
    /// quarter. The load must have a duration.
    pub fn during_share(mut self, window: Range<f64>) -> Self {
        self.when = When::Share(window.start, window.end);
        self
    }

    /// Flaps within its window: active for `length` at the start of every `period`.
    pub fn every(mut self, period: Duration, length: Duration) -> Self {
        self.every = Some((period, length));
        self
    }

    /// Scales the probability of its faults from `from` to `to` (each in `0..=1`) linearly over
    /// each occurrence: `ramp(0.0, 1.0)` starts gently and ends at the full probability.
    pub fn ramp(mut self, from: f64, to: f64) -> Self {
        self.ramp = Some((from, to));
        self
    }

    /// Adds an HTTP fault.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Adds a toxic to the proxy named `proxy` (see [`Proxy`] and
    /// [`Scenario::through_proxy`](crate::Scenario::through_proxy)).
    pub fn toxic(mut self, proxy: &str, toxic: Toxic) -> Self {
        self.toxics.push((proxy.to_owned(), toxic));
        self
    }

    /// The phase's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Turbulence that cannot run: says which phase and rule, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("turbulence phase `{phase}`{}: {reason}", rule.as_ref().map(|r| format!(", rule `{r}`")).unwrap_or_default())]
pub struct TurbulenceError {
    /// The phase.
    pub phase: String,
    /// The fault or toxic, if the problem is one rule's.
    pub rule: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// A phase as resolved for one load.
#[derive(Debug)]
pub(crate) struct PhasePlan {
    pub(crate) name: String,
    pub(crate) timing: Timing,
    pub(crate) ramp: Option<(f64, f64)>,
    /// Its rules' indexes in [`Plan::rules`].
    pub(crate) rules: Range<usize>,
    /// Its toxics' indexes in [`Plan::toxics`].
    pub(crate) toxics: Range<usize>,
}

impl PhasePlan {
    /// How much of its faults' probability applies at `t`; `None` when inactive.
    pub(crate) fn factor(&self, t: Duration) -> Option<f64> {
        let (start, end) = self.timing.occurrence(t)?;
        Some(match self.ramp {
            None => 1.0,
            Some((a, b)) => {
                let span = (end - start).as_secs_f64();
                let x = if span > 0.0 {
                    (t - start).as_secs_f64() / span
                } else {
                    1.0
                };
                a + (b - a) * x
            }
        })
    }
}

/// A toxic with the phase it belongs to and the proxy it acts on.
#[derive(Debug)]
pub(crate) struct ToxicPlan {
    pub(crate) phase: usize,
    pub(crate) proxy: usize,
    pub(crate) toxic: Toxic,
}

/// A scenario's turbulence, validated and resolved for its load: immutable while it runs.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) phases: Vec<PhasePlan>,
    /// Every fault, with its phase.
    pub(crate) rules: Vec<(usize, Fault)>,
    pub(crate) toxics: Vec<ToxicPlan>,
    pub(crate) proxies: Vec<Proxy>,
    /// The compact spec that replaced the code's turbulence, if one did.
    pub(crate) spec: Option<String>,
}

impl Plan {
    /// Resolves `phases` for a load lasting `horizon` (if bounded by time), with the proxies the
    /// scenario knows.
    pub(crate) fn resolve(
        phases: &[Phase],
        horizon: Option<Duration>,
        proxies: &[Proxy],
    ) -> Result<Plan, TurbulenceError> {
        let mut plan = Plan {
            proxies: proxies.to_vec(),
            ..Plan::default()
        };
        if phases.len() > MAX_PHASES {
            return Err(TurbulenceError {
                phase: phases[MAX_PHASES].name.clone(),
                rule: None,
                reason: format!("a scenario can have at most {MAX_PHASES} phases"),
            });
        }
        for (index, phase) in phases.iter().enumerate() {
            let fail = |rule: Option<String>, reason: String| TurbulenceError {
                phase: phase.name.clone(),
                rule,
                reason,
            };
            if phase.name.trim().is_empty() {
                return Err(fail(None, "a phase needs a name".into()));
            }
            if phases[..index].iter().any(|p| p.name == phase.name) {
                return Err(fail(None, "two phases have this name".into()));
            }
            if phase.faults.is_empty() && phase.toxics.is_empty() {
                return Err(fail(
                    None,
                    "the phase has no faults or toxics: add some with `.fault(..)` or \
                     `.toxic(..)`"
                        .into(),
                ));
            }
            let timing = resolve_timing(phase, horizon).map_err(|reason| fail(None, reason))?;
            let rules = plan.rules.len()..plan.rules.len() + phase.faults.len();
            for fault in &phase.faults {
                if let Some(reason) = fault.problem() {
                    return Err(fail(Some(fault.to_string()), reason));
                }
                plan.rules.push((index, fault.clone()));
            }
            let toxics = plan.toxics.len()..plan.toxics.len() + phase.toxics.len();
            for (proxy_name, toxic) in &phase.toxics {
                let rule = Some(format!("{toxic} on proxy `{proxy_name}`"));
                if let Some(reason) = toxic.problem() {
                    return Err(fail(rule, reason));
                }
                let Some(proxy) = proxies.iter().position(|p| p.name() == proxy_name) else {
                    let known: Vec<String> =
                        proxies.iter().map(|p| format!("`{}`", p.name())).collect();
                    return Err(fail(
                        rule,
                        format!(
                            "no proxy is named `{proxy_name}` (proxies: {}); start one with \
                             `Scenario::through_proxy()` or add one with `Scenario::proxy(..)`",
                            crate::text::list_or_none(&known)
                        ),
                    ));
                };
                plan.toxics.push(ToxicPlan {
                    phase: index,
                    proxy,
                    toxic: toxic.clone(),
                });
            }
            plan.phases.push(PhasePlan {
                name: phase.name.clone(),
                timing,
                ramp: phase.ramp,
                rules,
                toxics,
            });
        }
        Ok(plan)
    }

    /// The phase named `name`.
    pub(crate) fn phase(&self, name: &str) -> Option<&PhasePlan> {
        self.phases.iter().find(|p| p.name == name)
    }

    /// A rule's description for reports.
    pub(crate) fn rule_label(&self, rule: usize) -> String {
        self.rules[rule].1.to_string()
    }
}

fn resolve_timing(phase: &Phase, horizon: Option<Duration>) -> Result<Timing, String> {
    let (from, to) = match phase.when {
        When::Window(from, to) => {
            if from >= to {
                return Err(format!(
                    "the window {}..{} ends before it starts",
                    secs(from),
                    secs(to)
                ));
            }
            (from, to)
        }
        When::Share(a, b) => {
            let Some(total) = horizon else {
                return Err(
                    "a window given as shares of the run needs a load with a duration".into(),
                );
            };
            if !(0.0..=1.0).contains(&a) || !(0.0..=1.0).contains(&b) {
                return Err(format!(
                    "the shares {a}..{b} must lie within 0..=1 (shares of the load's duration)"
                ));
            }
            if a >= b {
                return Err(format!("the window {a}..{b} ends before it starts"));
            }
            (total.mul_f64(a), total.mul_f64(b))
        }
    };
    if let Some(total) = horizon
        && from >= total
    {
        return Err(format!(
            "the phase starts at {}, after the load ends ({})",
            secs(from),
            secs(total)
        ));
    }
    let to = horizon.map_or(to, |total| to.min(total));
    if let Some((period, length)) = phase.every
        && (period.is_zero() || length.is_zero() || length > period)
    {
        return Err(format!(
            "`every` needs a period above 0 and a length from above 0 up to the period (got \
             every {} for {})",
            secs(period),
            secs(length)
        ));
    }
    if let Some((a, b)) = phase.ramp {
        if !(0.0..=1.0).contains(&a) || !(0.0..=1.0).contains(&b) {
            return Err(format!("the ramp {a}..{b} must lie within 0..=1"));
        }
        if phase.every.is_none() && to == Duration::MAX {
            return Err(
                "a ramp needs an end: give the phase a window or the load a duration".into(),
            );
        }
    }
    Ok(Timing {
        from,
        to,
        every: phase.every,
    })
}

fn secs(d: Duration) -> String {
    if d == Duration::MAX {
        "the end".into()
    } else {
        format!("{} s", crate::text::trim_float(d.as_secs_f64()))
    }
}

/// The logical identity of a request, which keys its fault decisions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequestKey {
    /// The agent's id (closed model) or [`OPEN_STREAM`] (open model).
    pub(crate) stream: u64,
    /// The agent's iteration (closed) or the iteration's place in the schedule (open).
    pub(crate) iteration: u64,
    /// The request's number within its iteration.
    pub(crate) request: u64,
}

/// The stream of every open-model iteration: they are told apart by their place in the
/// schedule, not by the pool slot that happened to run them.
pub(crate) const OPEN_STREAM: u64 = u64::MAX;

/// A scenario's turbulence while its load runs: the plan, the clock it follows, the seed its
/// decisions come from, and the ledger of what it injected.
pub(crate) struct Turbulence {
    pub(crate) plan: Arc<Plan>,
    pub(crate) origin: Instant,
    pub(crate) seed: u64,
    pub(crate) ledger: Ledger,
    /// The segment of the load this process runs: proxy connections are numbered apart in
    /// each segment, so that no two segments draw the same decisions for theirs.
    pub(crate) segment: crate::segment::Segment,
    /// The tape this run replays, if it replays one: then it, not the clock, the seed and the
    /// probabilities, decides which requests and connections get faults.
    pub(crate) replaying: Option<Replaying>,
}

/// What the active rules decided for one request.
pub(crate) struct Decision<'a> {
    /// How long to wait before sending (the sum of the delays that fired).
    pub(crate) delay: Duration,
    /// The first abort, hang or drop that fired.
    pub(crate) action: Option<&'a Action>,
    /// The phases active when the request started, as a bit set.
    pub(crate) phases: u64,
}

impl Turbulence {
    pub(crate) fn new(plan: Arc<Plan>, origin: Instant, seed: u64) -> Self {
        let ledger = Ledger::new(&plan);
        Turbulence {
            plan,
            origin,
            seed,
            ledger,
            segment: crate::segment::Segment::WHOLE,
            replaying: None,
        }
    }

    /// The report of what this turbulence injected (see [`Ledger::report`]), with its tape.
    pub(crate) fn report(
        &self,
        scenario: &str,
        elapsed: Duration,
        failed: u64,
        names: &[&str],
    ) -> crate::report::TurbulenceReport {
        self.ledger.report(self, scenario, elapsed, failed, names)
    }

    /// This turbulence replaying `tape` instead of drawing its decisions.
    pub(crate) fn replaying(mut self, tape: Replaying) -> Self {
        self.replaying = Some(tape);
        self
    }

    /// This turbulence in segment `segment` of a load.
    pub(crate) fn in_segment(mut self, segment: crate::segment::Segment) -> Self {
        self.segment = segment;
        self
    }

    /// Decides what happens to a request starting `at` (the caller's clock read, so that a
    /// request reads the clock once).
    pub(crate) fn decide(
        &self,
        name: &str,
        method: &str,
        path: &str,
        key: RequestKey,
        at: Instant,
    ) -> Decision<'_> {
        let t = at.saturating_duration_since(self.origin);
        let mut decision = Decision {
            delay: Duration::ZERO,
            action: None,
            phases: 0,
        };
        for (p, phase) in self.plan.phases.iter().enumerate() {
            let factor = phase.factor(t);
            if factor.is_some() {
                decision.phases |= 1 << p;
            }
            // A replay fires what its tape names, whenever it comes; otherwise only an active
            // phase's rules fire.
            if factor.is_none() && self.replaying.is_none() {
                continue;
            }
            for r in phase.rules.clone() {
                let fault = &self.plan.rules[r].1;
                if !fault.matches(name, method, path) {
                    continue;
                }
                if factor.is_some() {
                    self.ledger.matched(r);
                }
                let mut draws = Draws::new(
                    self.seed,
                    Domain::Request,
                    &[key.stream, key.iteration, key.request, r as u64],
                );
                // Drawn also when a tape decides, so that a delay's jitter comes from the same
                // place in the stream as in the taped run.
                let drawn = draws.unit();
                let fires = match &self.replaying {
                    Some(tape) => tape.fires(key, r),
                    None => drawn < fault.probability * factor.unwrap_or(0.0),
                };
                // A second abort, hang or drop could not happen: the first one ends the request.
                let terminal = !matches!(fault.action, Action::Delay { .. });
                if !fires || (terminal && decision.action.is_some()) || !self.ledger.claim(r, fault)
                {
                    continue;
                }
                let detail = match &fault.action {
                    Action::Delay { base, jitter } => {
                        let d = jitter.apply(*base, &mut draws);
                        decision.delay += d;
                        Some(format!("{:.1} ms", d.as_secs_f64() * 1000.0))
                    }
                    action => {
                        decision.action = Some(action);
                        None
                    }
                };
                self.ledger
                    .injected_request(r, &self.plan, t, name, key, detail);
            }
        }
        decision
    }
}

impl fmt::Debug for Turbulence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turbulence")
            .field("phases", &self.plan.phases.len())
            .field("seed", &self.seed)
            .finish()
    }
}

#[cfg(test)]
mod tests;
