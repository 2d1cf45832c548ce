//! [`Scenario`]: the typed builder a `#[scenario]` body configures and runs: agents, the load
//! model, the target and the objectives. `run()` hands the plan to the executor and turns what
//! the metrics recorded into a [`LoadReport`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::agent::{AgentFn, Stop};
use crate::executor::{self, ClosedModel};
use crate::http::{ClientError, DEFAULT_REQUEST_TIMEOUT, HttpClient};
use crate::metrics::Recorder;
use crate::objectives::Objective;
use crate::report::{LoadConfig, LoadReport, StopInfo, StopReason};

/// How long in-flight iterations may finish after the run's end before they are cancelled.
/// (Default: 5 seconds.)
pub const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(5);

/// One scenario's load: which agents, how many users, for how long, against what, and which
/// objectives decide pass or fail.
///
/// ```no_run
/// use windtunnel::prelude::*;
///
/// #[agent]
/// async fn browser(a: &mut Agent) -> Result<()> {
///     a.get("/products").name("list").send().await?.expect_status(200)?;
///     Ok(())
/// }
///
/// #[scenario(tags = ["smoke"], timeout = "1m")]
/// async fn browse(s: Scenario) -> Result<()> {
///     s.target("http://127.0.0.1:8080")
///         .agents([browser])
///         .users(20)
///         .ramp_up(secs(2))
///         .duration(secs(10))
///         .slo(p99("list").below(ms(250)))
///         .slo(error_rate().below(0.01))
///         .run()
///         .await?;
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[must_use = "a scenario does nothing until `.run().await`"]
pub struct Scenario {
    ctx: Arc<ScenarioContext>,
    agents: Vec<AgentFn>,
    users: u32,
    ramp_up: Duration,
    duration: Option<Duration>,
    iterations: Option<u64>,
    graceful_stop: Duration,
    request_timeout: Duration,
    target: Option<String>,
    seed: Option<u64>,
    objectives: Vec<Objective>,
}

/// What the harness and a scenario's `run()` share: identity, settings from outside, and the
/// state of the load so that a timed-out body still leaves its metrics behind.
pub(crate) struct ScenarioContext {
    pub(crate) name: String,
    /// A seed from `--seed`/`WINDTUNNEL_SEED`; it wins over one set in code.
    seed_override: Option<u64>,
    /// The seed used when neither the flags nor the code set one.
    seed_fallback: u64,
    /// A target from `--target`/`WINDTUNNEL_TARGET`; it wins over one set in code.
    target_override: Option<String>,
    /// Set when the run is interrupted (Ctrl-C).
    pub(crate) interrupt: Arc<Stop>,
    state: Mutex<LoadState>,
}

#[derive(Default)]
struct LoadState {
    started: Option<Started>,
    finished: Option<LoadReport>,
}

struct Started {
    config: LoadConfig,
    recorder: Recorder,
    start: Instant,
    objectives: Vec<Objective>,
    seed: u64,
}

impl ScenarioContext {
    pub(crate) fn new(
        name: String,
        seed_override: Option<u64>,
        seed_fallback: u64,
        target_override: Option<String>,
        interrupt: Arc<Stop>,
    ) -> Self {
        ScenarioContext {
            name,
            seed_override,
            seed_fallback,
            target_override,
            interrupt,
            state: Mutex::new(LoadState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LoadState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The seed the scenario ran with (or will run with, if it has not started a load).
    pub(crate) fn seed(&self) -> u64 {
        match &self.lock().started {
            Some(s) => s.seed,
            None => self.seed_override.unwrap_or(self.seed_fallback),
        }
    }

    /// The load's report: the finished one, or, if the body never returned from `run()` (it
    /// timed out), one built from what was recorded so far.
    pub(crate) fn load_report(&self, cut_short: StopReason) -> Option<LoadReport> {
        let state = self.lock();
        if let Some(done) = &state.finished {
            return Some(done.clone());
        }
        let started = state.started.as_ref()?;
        let elapsed = started.start.elapsed();
        Some(LoadReport::build(
            started.config.clone(),
            StopInfo {
                reason: cut_short,
                detail: None,
            },
            elapsed,
            0,
            &started.recorder.snapshot(),
            &started.objectives,
        ))
    }
}

/// A scenario's load could not start: its configuration is incomplete or contradictory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// No agents.
    #[error("scenario `{0}` has no agents: add some with `.agents([..])`")]
    NoAgents(String),
    /// Zero users.
    #[error("scenario `{0}`: `.users(..)` must be at least 1")]
    NoUsers(String),
    /// Neither a duration nor an iteration count: the run would never end.
    #[error(
        "scenario `{0}` has neither a duration nor an iteration count: set `.duration(..)` \
         and/or `.iterations(..)` so that the run ends"
    )]
    Unbounded(String),
    /// A zero duration or iteration count.
    #[error("scenario `{0}`: `.{1}(..)` must be above zero")]
    Zero(String, &'static str),
    /// The ramp-up is longer than the run.
    #[error(
        "scenario `{name}`: the ramp-up ({ramp_up:?}) is longer than the duration ({duration:?})"
    )]
    RampTooLong {
        /// The scenario.
        name: String,
        /// The ramp-up.
        ramp_up: Duration,
        /// The duration.
        duration: Duration,
    },
    /// No target.
    #[error(
        "scenario `{0}` has no target: set one with `.target(url)`, `--target URL` after `--`, \
         or `WINDTUNNEL_TARGET`"
    )]
    NoTarget(String),
    /// The target is not an absolute http(s) URL.
    #[error("scenario `{name}`: invalid target `{target}`: {reason}")]
    InvalidTarget {
        /// The scenario.
        name: String,
        /// The target as given.
        target: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl Scenario {
    /// A scenario outside the harness, e.g. in a `#[tokio::test]` or a binary of your own:
    /// no report files are written; `run()` returns the [`LoadReport`].
    ///
    /// ```no_run
    /// # use windtunnel::prelude::*;
    /// # #[agent] async fn browser(_a: &mut Agent) -> Result<()> { Ok(()) }
    /// # #[allow(dead_code)]
    /// # async fn example() -> Result<()> {
    /// let report = Scenario::new("smoke")
    ///     .seed(7)
    ///     .target("http://127.0.0.1:8080")
    ///     .agents([browser])
    ///     .users(2)
    ///     .iterations(10)
    ///     .run()
    ///     .await?;
    /// assert_eq!(report.total.count, 20);
    /// # Ok(()) }
    /// ```
    pub fn new(name: &str) -> Self {
        let ctx = ScenarioContext::new(
            name.to_owned(),
            None,
            crate::harness::random_seed(),
            None,
            Arc::new(Stop::default()),
        );
        Scenario::from_context(Arc::new(ctx))
    }

    pub(crate) fn from_context(ctx: Arc<ScenarioContext>) -> Self {
        Scenario {
            ctx,
            agents: Vec::new(),
            users: 1,
            ramp_up: Duration::ZERO,
            duration: None,
            iterations: None,
            graceful_stop: DEFAULT_GRACEFUL_STOP,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            target: None,
            seed: None,
            objectives: Vec::new(),
        }
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.ctx.name
    }

    /// The target requests go to: the one from `--target`/`WINDTUNNEL_TARGET` if given, else the
    /// one set with [`target`](Self::target), else `None`.
    pub fn target_url(&self) -> Option<&str> {
        self.ctx
            .target_override
            .as_deref()
            .or(self.target.as_deref())
    }

    /// Sets the target (base URL) in code. `--target` or `WINDTUNNEL_TARGET` override it.
    pub fn target(mut self, url: impl Into<String>) -> Self {
        self.target = Some(url.into());
        self
    }

    /// Sets the seed in code. `--seed` or `WINDTUNNEL_SEED` override it. (Default: random,
    /// printed in the report and in the replay command.)
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The agents users are assigned to, in proportion to their weights.
    pub fn agents(mut self, agents: impl IntoIterator<Item = AgentFn>) -> Self {
        self.agents.extend(agents);
        self
    }

    /// The number of concurrent users (closed model). (Default: 1.)
    pub fn users(mut self, users: u32) -> Self {
        self.users = users;
        self
    }

    /// Starts the users evenly over this time instead of all at once. (Default: 0.)
    pub fn ramp_up(mut self, ramp_up: Duration) -> Self {
        self.ramp_up = ramp_up;
        self
    }

    /// How long the load runs, ramp-up included. With `iterations`, whichever ends first.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// How many iterations each user runs. With `duration`, whichever ends first.
    pub fn iterations(mut self, per_user: u64) -> Self {
        self.iterations = Some(per_user);
        self
    }

    /// How long in-flight iterations may go on after the end before they are cancelled (and
    /// counted as cancelled). (Default: 5 seconds.)
    pub fn graceful_stop(mut self, grace: Duration) -> Self {
        self.graceful_stop = grace;
        self
    }

    /// The timeout of each request. (Default: 30 seconds.)
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Adds an objective; the scenario fails if any objective does not hold.
    pub fn slo(mut self, objective: Objective) -> Self {
        self.objectives.push(objective);
        self
    }

    fn validate(&self) -> Result<(String, ClosedModel), ScenarioError> {
        let name = || self.ctx.name.clone();
        if self.agents.is_empty() {
            return Err(ScenarioError::NoAgents(name()));
        }
        if self.users == 0 {
            return Err(ScenarioError::NoUsers(name()));
        }
        match (self.duration, self.iterations) {
            (None, None) => return Err(ScenarioError::Unbounded(name())),
            (Some(d), _) if d.is_zero() => return Err(ScenarioError::Zero(name(), "duration")),
            (_, Some(0)) => return Err(ScenarioError::Zero(name(), "iterations")),
            (Some(d), _) if self.ramp_up > d => {
                return Err(ScenarioError::RampTooLong {
                    name: name(),
                    ramp_up: self.ramp_up,
                    duration: d,
                });
            }
            _ => {}
        }
        let target = self
            .target_url()
            .ok_or_else(|| ScenarioError::NoTarget(name()))?;
        let target =
            crate::config::check_target(target).map_err(|reason| ScenarioError::InvalidTarget {
                name: name(),
                target: target.to_owned(),
                reason,
            })?;
        Ok((
            target,
            ClosedModel {
                users: self.users,
                ramp_up: self.ramp_up,
                duration: self.duration,
                iterations: self.iterations,
                graceful_stop: self.graceful_stop,
            },
        ))
    }

    /// Runs the load and evaluates the objectives.
    ///
    /// Returns the load's report whether or not the objectives held: the harness fails the
    /// scenario on a failed objective after the body returns, and the body may inspect the
    /// report meanwhile.
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] when the configuration cannot run (no agents, no target, no bound
    /// on the run, ...), before any request is sent.
    pub async fn run(self) -> Result<LoadReport, ScenarioError> {
        let (target, model) = self.validate()?;
        let seed = self
            .ctx
            .seed_override
            .or(self.seed)
            .unwrap_or(self.ctx.seed_fallback);
        let url = reqwest::Url::parse(&target).expect("validated above");
        let client = HttpClient::new(&url, self.request_timeout)?;
        let recorder = Recorder::new();
        let assignment = executor::assign(&self.agents, self.users);
        let config = LoadConfig::closed(
            &target,
            &model,
            self.request_timeout,
            &self.agents,
            &assignment,
        );
        // `run` consumes the only `Scenario` a body gets, so a load starts once per context.
        self.ctx.lock().started = Some(Started {
            config: config.clone(),
            recorder: recorder.clone(),
            start: Instant::now(),
            objectives: self.objectives.clone(),
            seed,
        });
        tracing::info!(scenario = %self.ctx.name, seed, target = %target, users = self.users, "load starting");
        let run = executor::run_closed(executor::Run {
            model: &model,
            agents: &self.agents,
            assignment: &assignment,
            seed,
            client,
            recorder: recorder.clone(),
            interrupt: Arc::clone(&self.ctx.interrupt),
            target: &target,
        })
        .await;
        let report = LoadReport::build(
            config,
            run.stop,
            run.elapsed,
            run.cancelled,
            &recorder.snapshot(),
            &self.objectives,
        );
        tracing::info!(scenario = %self.ctx.name, requests = report.total.count, "load finished");
        self.ctx.lock().finished = Some(report.clone());
        Ok(report)
    }
}
