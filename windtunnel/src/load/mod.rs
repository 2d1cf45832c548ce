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

mod resolve;
pub(crate) mod schedule;
mod settings;

pub(crate) use resolve::{CapacityPlan, ClosedPlan, OpenPlan, Plan, Resolved, StartTimer};
pub(crate) use settings::{Overrides, StageSetting};

use std::fmt;
use std::time::Duration;

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
            repeats: 1,
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
    repeats: u32,
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

    /// How many times each rate runs (default 1). A rate holds when most of its repeats
    /// held; the report's interval runs from the highest rate at which every repeat held to the
    /// lowest that failed, so repeats make a noisy knee show as a wider interval rather than a
    /// wrong number.
    ///
    /// ```
    /// # use windtunnel::prelude::*;
    /// let load = Load::capacity(per_sec(50)).step(per_sec(50)).hold(secs(5)).repeats(3);
    /// # let _ = load;
    /// ```
    pub fn repeats(mut self, n: u32) -> Self {
        self.repeats = n;
        self
    }

    /// The agent pool; see [`ArrivalRate::pool`].
    pub fn pool(mut self, preallocated: u32, max: u32) -> Self {
        self.pool = Pool { preallocated, max };
        self
    }
}

into_load!(Users, RampingUsers, ArrivalRate, RampingRate, Capacity);

#[cfg(test)]
mod tests;
