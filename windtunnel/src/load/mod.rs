//! Load models: how many iterations start, and when. [`Load`] builds one with a typed builder;
//! validation turns it into a plan the executor follows (the schedule arithmetic lives in
//! `schedule`, where it is tested exactly).
//!
//! - Closed models (a number of users, each looping over its agent): [`Load::users`] (constant,
//!   with an optional ramp-up, per-user or shared iterations) and [`Load::ramping_users`].
//! - Open models (iterations start on a schedule, whether or not earlier ones have finished):
//!   [`Load::rate`] and [`Load::ramping_rate`], with a bounded pool of agents. An iteration that
//!   finds no free agent is dropped and counted, never delayed or silently skipped. Latency is
//!   also measured from each iteration's intended start, so a stalled SUT cannot hide behind a
//!   slowed-down load (coordinated omission).
//! - [`Load::capacity`]: searches for the highest rate at which the objectives hold.
//!
//! ```
//! use windtunnel::prelude::*;
//!
//! // k6's ramping-arrival-rate: up to 200 iterations/s in 30 s, hold for a minute, with a pool
//! // of 50 agents that may grow to 500.
//! let load = Load::ramping_rate([
//!     stage(secs(30), per_sec(200)),
//!     stage(mins(1), per_sec(200)).named("peak"),
//! ])
//! .pool(50, 500);
//! # let _ = load;
//! ```

pub(crate) mod schedule;
mod settings;

pub(crate) use settings::{Overrides, StageSetting};

use std::fmt;
use std::time::Duration;

use schedule::Curve;

/// The highest rate a schedule may ask for: beyond it, the scheduler itself would be the
/// bottleneck, and no pool could sustain it.
pub const MAX_RATE: f64 = 1_000_000.0;
/// The largest agent pool, and the most users, a load may have.
pub const MAX_AGENTS: u32 = 1_000_000;
/// The pool of an open model unless set with `.pool(..)`: 10 agents allocated up front, grown
/// on demand to at most 1,000.
pub const DEFAULT_POOL: (u32, u32) = (10, 1000);

/// A rate of iterations: `per_sec(500)`, `per_min(30)`.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Rate(f64);

/// `n` iterations per second.
pub fn per_sec(n: impl Into<f64>) -> Rate {
    Rate(n.into())
}

/// `n` iterations per minute.
pub fn per_min(n: impl Into<f64>) -> Rate {
    Rate(n.into() / 60.0)
}

impl Rate {
    /// Iterations per second.
    pub fn per_second(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", crate::text::trim_float(self.0))
    }
}

/// One stage of a ramping load: move to `target` (users, or a [`Rate`]) linearly over
/// `duration`. Name it to scope objectives to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage<T> {
    duration: Duration,
    target: T,
    name: Option<String>,
}

/// A stage: `stage(secs(30), 100)` (users) or `stage(secs(30), per_sec(500))` (a rate).
pub fn stage<T>(duration: Duration, target: T) -> Stage<T> {
    Stage {
        duration,
        target,
        name: None,
    }
}

impl<T> Stage<T> {
    /// Names the stage, so objectives can be scoped to it with
    /// [`Objective::during`](crate::Objective::during). (Default: `stage 1`, `stage 2`, ...)
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// The pool of agents an open model starts iterations on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pool {
    pub(crate) preallocated: u32,
    pub(crate) max: u32,
}

impl Pool {
    /// A segment's part of the pool: its share of each bound, at least one agent.
    pub(crate) fn segment(self, segment: crate::segment::Segment) -> Pool {
        let share = |n: u32| segment.share(u64::from(n)).max(1) as u32;
        Pool {
            preallocated: share(self.preallocated),
            max: share(self.max),
        }
    }
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            preallocated: DEFAULT_POOL.0,
            max: DEFAULT_POOL.1,
        }
    }
}

/// A load model, for [`Scenario::load`](crate::Scenario::load). Make one with the functions
/// below; each returns a builder of its own, so only the settings that apply can be set.
#[derive(Clone, Debug)]
pub struct Load(Model);

#[derive(Clone, Debug)]
enum Model {
    Users(Users),
    RampingUsers(RampingUsers),
    ArrivalRate(ArrivalRate),
    RampingRate(RampingRate),
    Capacity(Capacity),
}

impl Load {
    /// A closed model: `users` concurrent users (k6's constant-vus, per-vu-iterations and
    /// shared-iterations). Bound it with `.duration(..)` and/or `.iterations(..)`.
    pub fn users(users: u32) -> Users {
        Users {
            users,
            ramp_up: Duration::ZERO,
            duration: None,
            iterations: None,
            shared_iterations: None,
        }
    }

    /// A closed model whose number of users follows stages, from 0 (or `.start(n)`): users are
    /// started as the count rises and stopped (after their current iteration) as it falls.
    ///
    /// ```
    /// # use windtunnel::prelude::*;
    /// let load = Load::ramping_users([stage(secs(10), 50), stage(secs(30), 50), stage(secs(5), 0)]);
    /// # let _ = load;
    /// ```
    pub fn ramping_users(stages: impl IntoIterator<Item = Stage<u32>>) -> RampingUsers {
        RampingUsers {
            start: 0,
            stages: stages.into_iter().collect(),
        }
    }

    /// An open model: iterations start at a constant `rate` for `.duration(..)`, on a pool of
    /// agents (`.pool(..)`). Latency objectives use the latency from each iteration's intended
    /// start.
    ///
    /// ```
    /// # use windtunnel::prelude::*;
    /// let load = Load::rate(per_sec(500)).duration(secs(60)).pool(20, 1000);
    /// # let _ = load;
    /// ```
    pub fn rate(rate: Rate) -> ArrivalRate {
        ArrivalRate {
            rate,
            duration: None,
            pool: Pool::default(),
            timer: StartTimer::Tick,
        }
    }

    /// An open model whose rate follows stages, from 0 (or `.start(rate)`).
    pub fn ramping_rate(stages: impl IntoIterator<Item = Stage<Rate>>) -> RampingRate {
        RampingRate {
            start: Rate(0.0),
            stages: stages.into_iter().collect(),
            pool: Pool::default(),
            timer: StartTimer::Tick,
        }
    }

    /// A capacity search: open-model steps from `start`, `.step(..)` higher each, held for
    /// `.hold(..)`, until a step breaks an objective (or `.max(..)`); then a bisection between
    /// the last good and the first bad rate. The report gives the highest rate at which every
    /// objective held, the curve measured on the way and the objective that broke first.
    ///
    /// ```
    /// # use windtunnel::prelude::*;
    /// let load = Load::capacity(per_sec(100)).step(per_sec(100)).hold(secs(10)).max(per_sec(5000));
    /// # let _ = load;
    /// ```
    pub fn capacity(start: Rate) -> Capacity {
        Capacity {
            start,
            step: None,
            hold: DEFAULT_HOLD,
            max: None,
            bisections: DEFAULT_BISECTIONS,
            pool: Pool::default(),
        }
    }
}

macro_rules! into_load {
    ($($t:ident),*) => {$(
        impl From<$t> for Load {
            fn from(m: $t) -> Load {
                Load(Model::$t(m))
            }
        }
    )*};
}

/// Constant users; see [`Load::users`].
#[derive(Clone, Debug)]
#[must_use]
pub struct Users {
    users: u32,
    ramp_up: Duration,
    duration: Option<Duration>,
    iterations: Option<u64>,
    shared_iterations: Option<u64>,
}

impl Users {
    /// The same load with this many users.
    pub(crate) fn with_users(mut self, users: u32) -> Self {
        self.users = users;
        self
    }

    /// Starts the users evenly over this time instead of all at once. (Default: 0.)
    pub fn ramp_up(mut self, ramp_up: Duration) -> Self {
        self.ramp_up = ramp_up;
        self
    }

    /// How long the load runs, ramp-up included. With iterations, whichever ends first.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// How many iterations each user runs.
    pub fn iterations(mut self, per_user: u64) -> Self {
        self.iterations = Some(per_user);
        self
    }

    /// How many iterations all users run together: each user takes the next one when it is
    /// free, so fast users run more of them.
    pub fn shared_iterations(mut self, total: u64) -> Self {
        self.shared_iterations = Some(total);
        self
    }
}

/// Users through stages; see [`Load::ramping_users`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RampingUsers {
    start: u32,
    stages: Vec<Stage<u32>>,
}

impl RampingUsers {
    /// The number of users at the start. (Default: 0.)
    pub fn start(mut self, users: u32) -> Self {
        self.start = users;
        self
    }
}

/// A constant arrival rate; see [`Load::rate`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ArrivalRate {
    rate: Rate,
    duration: Option<Duration>,
    pool: Pool,
    timer: StartTimer,
}

impl ArrivalRate {
    /// How long iterations keep starting.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// The agent pool: `preallocated` agents are made before the load starts, more on demand
    /// up to `max`. (Default: [`DEFAULT_POOL`].)
    pub fn pool(mut self, preallocated: u32, max: u32) -> Self {
        self.pool = Pool { preallocated, max };
        self
    }

    /// Starts each iteration within tens of microseconds of its intended start, from a ticker
    /// thread that wakes for every iteration, instead of at the nearest tick of tokio's
    /// millisecond timer (the default, which wakes once per tick for every iteration due in
    /// it). Worth it for sub-millisecond services or a low rate; it costs a thread wake per
    /// iteration (about a third more CPU per request at 5,000/s on loopback).
    pub fn precise_starts(mut self) -> Self {
        self.timer = StartTimer::Thread;
        self
    }
}

/// An arrival rate through stages; see [`Load::ramping_rate`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RampingRate {
    start: Rate,
    stages: Vec<Stage<Rate>>,
    pool: Pool,
    timer: StartTimer,
}

impl RampingRate {
    /// The rate at the start. (Default: 0.)
    pub fn start(mut self, rate: Rate) -> Self {
        self.start = rate;
        self
    }

    /// The agent pool; see [`ArrivalRate::pool`].
    pub fn pool(mut self, preallocated: u32, max: u32) -> Self {
        self.pool = Pool { preallocated, max };
        self
    }

    /// Starts on a ticker thread; see [`ArrivalRate::precise_starts`].
    pub fn precise_starts(mut self) -> Self {
        self.timer = StartTimer::Thread;
        self
    }
}

/// How long a capacity step holds its rate unless set with `.hold(..)`.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(10);
/// How many bisection steps a capacity search takes unless set with `.bisections(..)`.
pub const DEFAULT_BISECTIONS: u32 = 3;

/// A capacity search; see [`Load::capacity`].
#[derive(Clone, Debug)]
#[must_use]
pub struct Capacity {
    start: Rate,
    step: Option<Rate>,
    hold: Duration,
    max: Option<Rate>,
    bisections: u32,
    pool: Pool,
}

impl Capacity {
    /// How much each step adds. (Default: the start rate.)
    pub fn step(mut self, step: Rate) -> Self {
        self.step = Some(step);
        self
    }

    /// How long each step holds its rate. (Default: [`DEFAULT_HOLD`].)
    pub fn hold(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }

    /// The highest rate to try. (Default: 100 steps above the start.)
    pub fn max(mut self, max: Rate) -> Self {
        self.max = Some(max);
        self
    }

    /// How many bisection steps follow the first failing step. (Default:
    /// [`DEFAULT_BISECTIONS`].)
    pub fn bisections(mut self, n: u32) -> Self {
        self.bisections = n;
        self
    }

    /// The agent pool; see [`ArrivalRate::pool`].
    pub fn pool(mut self, preallocated: u32, max: u32) -> Self {
        self.pool = Pool { preallocated, max };
        self
    }
}

into_load!(Users, RampingUsers, ArrivalRate, RampingRate, Capacity);

/// A load setting that cannot run: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoadError {
    pub(crate) field: String,
    pub(crate) reason: String,
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> LoadError {
    LoadError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A named part of the run, for objectives scoped to it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StageSpan {
    pub(crate) name: String,
    pub(crate) from: Duration,
    pub(crate) to: Duration,
    /// The users or rate at the end of the stage.
    pub(crate) target: f64,
}

/// What the executor follows.
#[derive(Clone, Debug)]
pub(crate) enum Plan {
    Closed(ClosedPlan),
    Open(OpenPlan),
    Capacity(CapacityPlan),
}

#[derive(Clone, Debug)]
pub(crate) struct ClosedPlan {
    /// Per user, its active intervals from the start of the run (`None`: to the end).
    pub(crate) users: Vec<Vec<(Duration, Option<Duration>)>>,
    pub(crate) duration: Option<Duration>,
    pub(crate) iterations: Option<u64>,
    pub(crate) shared_iterations: Option<u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct OpenPlan {
    pub(crate) curve: Curve,
    pub(crate) pool: Pool,
    pub(crate) timer: StartTimer,
}

/// How an open model's scheduler waits for intended starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum StartTimer {
    /// tokio's timer: the millisecond tick nearest each start; one wake per tick.
    #[default]
    Tick,
    /// A ticker thread that sleeps until each start; one thread wake per iteration.
    Thread,
}

#[derive(Clone, Debug)]
pub(crate) struct CapacityPlan {
    pub(crate) start: f64,
    pub(crate) step: f64,
    pub(crate) max: f64,
    pub(crate) hold: Duration,
    pub(crate) bisections: u32,
    pub(crate) pool: Pool,
}

/// A validated load: the plan, its named stages, and how to describe it in the report.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub(crate) plan: Plan,
    pub(crate) stages: Vec<StageSpan>,
    pub(crate) kind: &'static str,
    /// The planned length of the run, when it is bounded by time.
    pub(crate) duration: Option<Duration>,
    pub(crate) users: Option<u32>,
    pub(crate) ramp_up: Option<Duration>,
    pub(crate) iterations: Option<u64>,
    pub(crate) shared_iterations: Option<u64>,
    pub(crate) rate: Option<f64>,
    pub(crate) start: Option<f64>,
    pub(crate) pool: Option<Pool>,
}

impl Resolved {
    fn new(kind: &'static str, plan: Plan) -> Self {
        Resolved {
            plan,
            stages: Vec::new(),
            kind,
            duration: None,
            users: None,
            ramp_up: None,
            iterations: None,
            shared_iterations: None,
            rate: None,
            start: None,
            pool: None,
        }
    }
}

fn check_duration(field: &str, d: Duration) -> Result<(), LoadError> {
    if d.is_zero() {
        return Err(bad(field, "must be above zero"));
    }
    Ok(())
}

fn check_rate(field: &str, rate: f64, zero_ok: bool) -> Result<(), LoadError> {
    if !rate.is_finite() || rate < 0.0 || (!zero_ok && rate == 0.0) {
        let want = if zero_ok { "at least 0" } else { "above 0" };
        return Err(bad(
            field,
            format!("must be a number {want} iterations per second, not {rate}"),
        ));
    }
    if rate > MAX_RATE {
        return Err(bad(
            field,
            format!(
                "{rate}/s is more than any agent pool can sustain: one scheduler starts at most \
                 {MAX_RATE}/s (split the load with segments across processes)"
            ),
        ));
    }
    Ok(())
}

fn check_pool(pool: Pool) -> Result<(), LoadError> {
    if pool.max < 1 {
        return Err(bad("pool.max", "must be at least 1 agent"));
    }
    if pool.preallocated < 1 {
        return Err(bad("pool.preallocated", "must be at least 1 agent"));
    }
    if pool.preallocated > pool.max {
        return Err(bad(
            "pool.preallocated",
            format!(
                "{} preallocated agents are more than the maximum of {}",
                pool.preallocated, pool.max
            ),
        ));
    }
    if pool.max > MAX_AGENTS {
        return Err(bad(
            "pool.max",
            format!("at most {MAX_AGENTS} agents per process"),
        ));
    }
    Ok(())
}

/// Checks the stages and returns their spans.
fn spans<T: Copy>(
    stages: &[Stage<T>],
    check: impl Fn(&str, T) -> Result<f64, LoadError>,
) -> Result<Vec<StageSpan>, LoadError> {
    if stages.is_empty() {
        return Err(bad("stages", "is empty: give at least one stage"));
    }
    let mut t = Duration::ZERO;
    let mut out = Vec::with_capacity(stages.len());
    for (i, s) in stages.iter().enumerate() {
        check_duration(&format!("stages[{i}].duration"), s.duration)?;
        let target = check(&format!("stages[{i}].target"), s.target)?;
        let name = s.name.clone().unwrap_or_else(|| format!("stage {}", i + 1));
        if name.trim().is_empty() {
            return Err(bad(format!("stages[{i}].name"), "is empty"));
        }
        if out.iter().any(|o: &StageSpan| o.name == name) {
            return Err(bad(
                format!("stages[{i}].name"),
                format!("`{name}` names two stages"),
            ));
        }
        out.push(StageSpan {
            name,
            from: t,
            to: t + s.duration,
            target,
        });
        t += s.duration;
    }
    Ok(out)
}

impl Load {
    /// Checks the settings and works out the plan.
    pub(crate) fn resolve(&self) -> Result<Resolved, LoadError> {
        match &self.0 {
            Model::Users(u) => resolve_users(u),
            Model::RampingUsers(r) => {
                if r.start > MAX_AGENTS {
                    return Err(bad("start", format!("at most {MAX_AGENTS} users")));
                }
                let stages = spans(&r.stages, |field, users| {
                    if users > MAX_AGENTS {
                        return Err(bad(field, format!("at most {MAX_AGENTS} users")));
                    }
                    Ok(f64::from(users))
                })?;
                let segments: Vec<_> = r.stages.iter().map(|s| (s.duration, s.target)).collect();
                let users = schedule::user_intervals(r.start, &segments);
                if users.is_empty() {
                    return Err(bad("stages", "never has a user: every target is 0"));
                }
                let duration = stages.last().map(|s| s.to);
                let mut resolved = Resolved::new(
                    "ramping_users",
                    Plan::Closed(ClosedPlan {
                        users: users.clone(),
                        duration,
                        iterations: None,
                        shared_iterations: None,
                    }),
                );
                resolved.stages = stages;
                resolved.duration = duration;
                resolved.users = Some(users.len() as u32);
                resolved.start = Some(f64::from(r.start));
                Ok(resolved)
            }
            Model::ArrivalRate(a) => {
                check_rate("rate", a.rate.0, false)?;
                let duration = a
                    .duration
                    .ok_or_else(|| bad("duration", "is not set: an open model needs one"))?;
                check_duration("duration", duration)?;
                check_pool(a.pool)?;
                let mut resolved = Resolved::new(
                    "constant_rate",
                    Plan::Open(OpenPlan {
                        curve: Curve {
                            start: a.rate.0,
                            segments: vec![(duration, a.rate.0)],
                        },
                        pool: a.pool,
                        timer: a.timer,
                    }),
                );
                resolved.duration = Some(duration);
                resolved.rate = Some(a.rate.0);
                resolved.pool = Some(a.pool);
                Ok(resolved)
            }
            Model::RampingRate(r) => {
                check_rate("start", r.start.0, true)?;
                let stages = spans(&r.stages, |field, rate: Rate| {
                    check_rate(field, rate.0, true)?;
                    Ok(rate.0)
                })?;
                check_pool(r.pool)?;
                let curve = Curve {
                    start: r.start.0,
                    segments: r.stages.iter().map(|s| (s.duration, s.target.0)).collect(),
                };
                if curve.peak() == 0.0 {
                    return Err(bad("stages", "never starts an iteration: every rate is 0"));
                }
                let duration = curve.duration();
                let mut resolved = Resolved::new(
                    "ramping_rate",
                    Plan::Open(OpenPlan {
                        curve,
                        pool: r.pool,
                        timer: r.timer,
                    }),
                );
                resolved.stages = stages;
                resolved.duration = Some(duration);
                resolved.start = Some(r.start.0);
                resolved.pool = Some(r.pool);
                Ok(resolved)
            }
            Model::Capacity(c) => {
                check_rate("start", c.start.0, false)?;
                let step = c.step.unwrap_or(c.start).0;
                check_rate("step", step, false)?;
                let max = c
                    .max
                    .map_or((c.start.0 + 100.0 * step).min(MAX_RATE), |m| m.0);
                check_rate("max", max, false)?;
                if max < c.start.0 {
                    return Err(bad(
                        "max",
                        format!("{max}/s is below the start rate of {}/s", c.start.0),
                    ));
                }
                check_duration("hold", c.hold)?;
                check_pool(c.pool)?;
                let mut resolved = Resolved::new(
                    "capacity",
                    Plan::Capacity(CapacityPlan {
                        start: c.start.0,
                        step,
                        max,
                        hold: c.hold,
                        bisections: c.bisections,
                        pool: c.pool,
                    }),
                );
                resolved.rate = Some(c.start.0);
                resolved.pool = Some(c.pool);
                Ok(resolved)
            }
        }
    }
}

fn resolve_users(u: &Users) -> Result<Resolved, LoadError> {
    if u.users == 0 {
        return Err(bad("users", "must be at least 1"));
    }
    if u.users > MAX_AGENTS {
        return Err(bad("users", format!("at most {MAX_AGENTS} users")));
    }
    if let Some(d) = u.duration {
        check_duration("duration", d)?;
        if u.ramp_up > d {
            return Err(bad(
                "ramp_up",
                format!("{:?} is longer than the duration ({d:?})", u.ramp_up),
            ));
        }
    }
    if u.iterations == Some(0) {
        return Err(bad("iterations", "must be above zero"));
    }
    if u.shared_iterations == Some(0) {
        return Err(bad("shared_iterations", "must be above zero"));
    }
    if u.iterations.is_some() && u.shared_iterations.is_some() {
        return Err(bad(
            "shared_iterations",
            "cannot be combined with per-user `iterations`: choose one",
        ));
    }
    if u.duration.is_none() && u.iterations.is_none() && u.shared_iterations.is_none() {
        return Err(bad(
            "duration",
            "is not set, nor are iterations: set `duration` and/or `iterations` so that the \
             run ends",
        ));
    }
    let users: Vec<_> = (0..u.users)
        .map(|i| {
            let offset = if u.users <= 1 {
                Duration::ZERO
            } else {
                u.ramp_up.mul_f64(f64::from(i) / f64::from(u.users))
            };
            vec![(offset, None)]
        })
        .collect();
    let kind = match (u.iterations, u.shared_iterations) {
        (Some(_), _) => "per_user_iterations",
        (_, Some(_)) => "shared_iterations",
        _ => "constant_users",
    };
    let mut resolved = Resolved::new(
        kind,
        Plan::Closed(ClosedPlan {
            users,
            duration: u.duration,
            iterations: u.iterations,
            shared_iterations: u.shared_iterations,
        }),
    );
    if let Some(d) = u.duration
        && !u.ramp_up.is_zero()
    {
        resolved.stages = vec![
            StageSpan {
                name: "ramp-up".into(),
                from: Duration::ZERO,
                to: u.ramp_up,
                target: f64::from(u.users),
            },
            StageSpan {
                name: "steady".into(),
                from: u.ramp_up,
                to: d,
                target: f64::from(u.users),
            },
        ];
    }
    resolved.duration = u.duration;
    resolved.users = Some(u.users);
    resolved.ramp_up = Some(u.ramp_up);
    resolved.iterations = u.iterations;
    resolved.shared_iterations = u.shared_iterations;
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ms, secs};

    fn err(load: impl Into<Load>) -> String {
        let e = load.into().resolve().unwrap_err();
        format!("{}: {}", e.field, e.reason)
    }

    #[test]
    fn bad_settings_name_their_field() {
        assert_eq!(
            err(Load::rate(per_sec(0)).duration(secs(1))),
            "rate: must be a number above 0 iterations per second, not 0"
        );
        assert!(err(Load::rate(per_sec(-5)).duration(secs(1))).starts_with("rate: "));
        assert!(err(Load::rate(per_sec(f64::NAN)).duration(secs(1))).starts_with("rate: "));
        assert!(err(Load::rate(per_sec(1)).duration(secs(1)).pool(0, 0)).starts_with("pool.max"));
        assert!(
            err(Load::rate(per_sec(1)).duration(secs(1)).pool(0, 5))
                .starts_with("pool.preallocated")
        );
        assert!(
            err(Load::rate(per_sec(1)).duration(secs(1)).pool(6, 5))
                .contains("more than the maximum")
        );
        assert!(
            err(Load::rate(per_sec(5e6)).duration(secs(1))).contains("more than any agent pool")
        );
        assert!(err(Load::rate(per_sec(5))).starts_with("duration: is not set"));
        assert_eq!(
            err(Load::ramping_rate([])),
            "stages: is empty: give at least one stage"
        );
        assert_eq!(
            err(Load::ramping_rate([
                stage(secs(1), per_sec(5)),
                stage(Duration::ZERO, per_sec(5))
            ])),
            "stages[1].duration: must be above zero"
        );
        assert!(
            err(Load::ramping_rate([stage(secs(1), per_sec(-1))]))
                .starts_with("stages[0].target: must be a number at least 0")
        );
        assert!(err(Load::ramping_rate([stage(secs(1), per_sec(0))])).contains("every rate is 0"));
        assert!(err(Load::ramping_users([stage(secs(1), 0)])).contains("every target is 0"));
        assert!(
            err(Load::ramping_users([
                stage(secs(1), 3).named("a"),
                stage(secs(1), 3).named("a")
            ]))
            .contains("`a` names two stages")
        );
        assert_eq!(
            err(Load::users(0).duration(secs(1))),
            "users: must be at least 1"
        );
        assert!(err(Load::users(2)).starts_with("duration: is not set"));
        assert!(err(Load::users(2).ramp_up(secs(5)).duration(secs(1))).starts_with("ramp_up"));
        assert!(
            err(Load::users(2).iterations(3).shared_iterations(5)).contains("cannot be combined")
        );
        assert!(err(Load::capacity(per_sec(10)).max(per_sec(5))).contains("below the start"));
        assert!(err(Load::capacity(per_sec(10)).hold(Duration::ZERO)).starts_with("hold"));
    }

    #[test]
    fn stages_get_names_and_spans() {
        let r = Load::ramping_rate([
            stage(secs(10), per_sec(100)),
            stage(secs(30), per_sec(100)).named("peak"),
        ])
        .into();
        let r = Load::resolve(&r).unwrap();
        assert_eq!(r.stages[0].name, "stage 1");
        assert_eq!(r.stages[1].name, "peak");
        assert_eq!((r.stages[1].from, r.stages[1].to), (secs(10), secs(40)));
        assert_eq!(r.duration, Some(secs(40)));
        let r: Load = Load::users(4).ramp_up(ms(500)).duration(secs(2)).into();
        let r = r.resolve().unwrap();
        assert_eq!(r.stages[1].name, "steady");
        let Plan::Closed(plan) = r.plan else { panic!() };
        let starts: Vec<_> = plan.users.iter().map(|u| u[0].0).collect();
        assert_eq!(starts, [0, 125, 250, 375].map(ms));
    }

    #[test]
    fn rates_read_as_per_second() {
        assert_eq!(per_min(30).per_second(), 0.5);
        assert_eq!(per_sec(2.5).to_string(), "2.5/s");
    }
}
