//! [`Scenario`]: the typed builder a `#[scenario]` body configures and runs: agents, the load
//! model, the target and the objectives. `run()` validates it all, hands the plan to the
//! executor and turns what the metrics recorded into a [`LoadReport`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::agent::{AgentFn, Stop};
use crate::capacity::Search;
use crate::executor::{self, Executed, Run};
use crate::http::{ClientError, DEFAULT_REQUEST_TIMEOUT, HttpClient};
use crate::load::{CapacityPlan, Load, OpenPlan, Plan, Resolved, StartTimer, schedule::Curve};
use crate::metrics::{MetricsSnapshot, Recorder, RecorderSettings};
use crate::objectives::{ABORT_GRACE, Objective, Span, Window};
use crate::report::{CapacityReport, CapacityStep, LoadConfig, LoadReport, StopInfo, StopReason};

/// How long in-flight iterations may finish after the run's end before they are cancelled.
/// (Default: 5 seconds.)
pub const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(5);

/// One scenario's load: which agents, which load model, against what, and which objectives
/// decide pass or fail.
///
/// The closed model with constant users can be set in place (`.users(..)`, `.ramp_up(..)`,
/// `.duration(..)`, `.iterations(..)`); every model, open ones included, with
/// [`load`](Self::load).
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
///
/// #[scenario]
/// async fn spike(s: Scenario) -> Result<()> {
///     s.target("http://127.0.0.1:8080")
///         .agents([browser])
///         .load(
///             Load::ramping_rate([
///                 stage(secs(10), per_sec(50)),
///                 stage(secs(20), per_sec(500)).named("spike"),
///                 stage(secs(10), per_sec(50)),
///             ])
///             .pool(20, 500),
///         )
///         .slo(p99(ALL).below(ms(300)).during("spike"))
///         .slo(error_rate().below(0.05).abort_on_fail())
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
    load: Option<Load>,
    users: Option<u32>,
    ramp_up: Option<Duration>,
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

/// An objective with the part of the run it is judged on.
type Bound = (Objective, Option<Span>);
/// From when to when after the start of the load.
type TimeWindow = (Duration, Duration);

struct Started {
    config: LoadConfig,
    recorder: Recorder,
    start: Instant,
    objectives: Vec<Bound>,
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

    fn set_recorder(&self, recorder: &Recorder) {
        if let Some(started) = &mut self.lock().started {
            started.recorder = recorder.clone();
        }
    }
}

/// A scenario's load could not start: its configuration is incomplete or contradictory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// No agents.
    #[error("scenario `{0}` has no agents: add some with `.agents([..])`")]
    NoAgents(String),
    /// A load setting that cannot run.
    #[error("scenario `{name}`: invalid load: `{field}` {reason}")]
    InvalidLoad {
        /// The scenario.
        name: String,
        /// The setting, e.g. `stages[1].duration` or `pool.max`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An objective that cannot be judged on this load.
    #[error("scenario `{name}`: {reason}")]
    InvalidObjective {
        /// The scenario.
        name: String,
        /// What is wrong.
        reason: String,
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
            load: None,
            users: None,
            ramp_up: None,
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

    /// The agents users are assigned to (or, in an open model, iterations are started on), in
    /// proportion to their weights.
    pub fn agents(mut self, agents: impl IntoIterator<Item = AgentFn>) -> Self {
        self.agents.extend(agents);
        self
    }

    /// The load model: closed or open, constant or through stages, or a capacity search. See
    /// [`Load`]. Use it instead of `users`/`ramp_up`/`duration`/`iterations`, not with them.
    pub fn load(mut self, load: impl Into<Load>) -> Self {
        self.load = Some(load.into());
        self
    }

    /// Constant users (closed model): how many run at once. (Default: 1.) Short for
    /// `.load(Load::users(n)..)`.
    pub fn users(mut self, users: u32) -> Self {
        self.users = Some(users);
        self
    }

    /// Constant users: starts them evenly over this time instead of all at once. (Default: 0.)
    pub fn ramp_up(mut self, ramp_up: Duration) -> Self {
        self.ramp_up = Some(ramp_up);
        self
    }

    /// Constant users: how long the load runs, ramp-up included. With `iterations`, whichever
    /// ends first.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// Constant users: how many iterations each user runs. With `duration`, whichever ends
    /// first.
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

    fn invalid_load(&self, field: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
        ScenarioError::InvalidLoad {
            name: self.ctx.name.clone(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The load: set with `.load(..)`, or constant users from the shorthand setters.
    fn resolve_load(&self) -> Result<Resolved, ScenarioError> {
        let shorthand = [
            ("users", self.users.is_some()),
            ("ramp_up", self.ramp_up.is_some()),
            ("duration", self.duration.is_some()),
            ("iterations", self.iterations.is_some()),
        ];
        let load = match &self.load {
            Some(load) => {
                if let Some((field, _)) = shorthand.iter().find(|(_, set)| *set) {
                    return Err(self.invalid_load(
                        *field,
                        "is set in place and a load model with `.load(..)`: set the load in \
                         one of the two ways",
                    ));
                }
                load.clone()
            }
            None => {
                let mut users = Load::users(self.users.unwrap_or(1));
                if let Some(r) = self.ramp_up {
                    users = users.ramp_up(r);
                }
                if let Some(d) = self.duration {
                    users = users.duration(d);
                }
                if let Some(n) = self.iterations {
                    users = users.iterations(n);
                }
                users.into()
            }
        };
        load.resolve()
            .map_err(|e| self.invalid_load(e.field, e.reason))
    }

    /// Where each objective's window lies in this load, and the recorder windows they need.
    fn resolve_windows(
        &self,
        load: &Resolved,
    ) -> Result<(Vec<Bound>, Vec<TimeWindow>), ScenarioError> {
        let invalid = |reason: String| ScenarioError::InvalidObjective {
            name: self.ctx.name.clone(),
            reason,
        };
        let open = !matches!(load.plan, Plan::Closed(_));
        let mut windows = Vec::new();
        let mut bound = Vec::new();
        for o in &self.objectives {
            if let Some(problem) = o.problem(open) {
                return Err(invalid(problem));
            }
            let span = match o.window() {
                None => None,
                Some(_) if matches!(load.plan, Plan::Capacity(_)) => {
                    return Err(invalid(format!(
                        "objective `{o}`: a capacity search judges its objectives on each step; \
                         they cannot be scoped to a window"
                    )));
                }
                Some(Window::Stage(name)) => {
                    let Some(stage) = load.stages.iter().find(|s| &s.name == name) else {
                        let known: Vec<String> = load
                            .stages
                            .iter()
                            .map(|s| format!("`{}`", s.name))
                            .collect();
                        return Err(invalid(format!(
                            "objective `{o}`: the load has no stage named `{name}` (stages: {})",
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        )));
                    };
                    Some((Some(name.clone()), stage.from, stage.to))
                }
                Some(Window::Range(from, to)) => {
                    if let Some(d) = load.duration
                        && *from >= d
                    {
                        return Err(invalid(format!(
                            "objective `{o}`: the window starts after the load ends ({d:?})"
                        )));
                    }
                    Some((None, *from, *to))
                }
            };
            let span = span.map(|(stage, from, to)| {
                let index = windows
                    .iter()
                    .position(|w| *w == (from, to))
                    .unwrap_or_else(|| {
                        windows.push((from, to));
                        windows.len() - 1
                    });
                Span {
                    index,
                    from,
                    to,
                    stage,
                }
            });
            bound.push((o.clone(), span));
        }
        Ok((bound, windows))
    }

    fn validate(&self) -> Result<(String, Resolved), ScenarioError> {
        let name = || self.ctx.name.clone();
        if self.agents.is_empty() {
            return Err(ScenarioError::NoAgents(name()));
        }
        let load = self.resolve_load()?;
        let target = self
            .target_url()
            .ok_or_else(|| ScenarioError::NoTarget(name()))?;
        let target =
            crate::config::check_target(target).map_err(|reason| ScenarioError::InvalidTarget {
                name: name(),
                target: target.to_owned(),
                reason,
            })?;
        Ok((target, load))
    }

    /// Runs the load and evaluates the objectives.
    ///
    /// Returns the load's report whether or not the objectives held: the harness fails the
    /// scenario on a failed objective after the body returns, and the body may inspect the
    /// report meanwhile.
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] when the configuration cannot run (no agents, no target, a load
    /// setting out of range, an objective scoped to a stage that does not exist, ...), before
    /// any request is sent.
    pub async fn run(self) -> Result<LoadReport, ScenarioError> {
        let (target, load) = self.validate()?;
        let (objectives, windows) = self.resolve_windows(&load)?;
        let seed = self
            .ctx
            .seed_override
            .or(self.seed)
            .unwrap_or(self.ctx.seed_fallback);
        let url = reqwest::Url::parse(&target).expect("validated above");
        let client = HttpClient::new(&url, self.request_timeout)?;
        let config = LoadConfig::new(
            &target,
            &load,
            self.graceful_stop,
            self.request_timeout,
            &self.agents,
        );
        let start = tokio::time::Instant::now();
        let settings = RecorderSettings {
            origin: start,
            intended: !matches!(load.plan, Plan::Closed(_)),
            windows,
        };
        let recorder = Recorder::with(settings.clone());
        // `run` consumes the only `Scenario` a body gets, so a load starts once per context.
        self.ctx.lock().started = Some(Started {
            config: config.clone(),
            recorder: recorder.clone(),
            start: Instant::now(),
            objectives: objectives.clone(),
            seed,
        });
        tracing::info!(scenario = %self.ctx.name, seed, target = %target, model = load.kind, "load starting");
        let job = Job {
            scenario: &self,
            target: &target,
            seed,
            client,
            start,
            objectives: &objectives,
        };
        let report = match &load.plan {
            Plan::Closed(plan) => {
                let judge = job.judge(&recorder);
                let run =
                    executor::run_closed(plan, job.run(&recorder, judge.as_deref(), job.start))
                        .await;
                job.report(config, run, &recorder.snapshot())
            }
            Plan::Open(plan) => {
                let judge = job.judge(&recorder);
                let run =
                    executor::run_open(plan, job.run(&recorder, judge.as_deref(), job.start)).await;
                job.report(config, run, &recorder.snapshot())
            }
            Plan::Capacity(plan) => job.capacity(plan, config, settings).await,
        };
        tracing::info!(scenario = %self.ctx.name, requests = report.total.count, "load finished");
        self.ctx.lock().finished = Some(report.clone());
        Ok(report)
    }
}

/// A validated scenario on its way through the executor.
struct Job<'a> {
    scenario: &'a Scenario,
    target: &'a str,
    seed: u64,
    client: HttpClient,
    start: tokio::time::Instant,
    objectives: &'a [Bound],
}

type BoxedJudge<'a> = Box<dyn Fn(Duration) -> Option<String> + Send + Sync + 'a>;

impl<'a> Job<'a> {
    /// The executor's inputs for a run that starts at `start` (the recorder's origin, or a
    /// capacity step's own start).
    fn run<'r>(
        &'r self,
        recorder: &Recorder,
        judge: Option<executor::Judge<'r>>,
        start: tokio::time::Instant,
    ) -> Run<'r> {
        Run {
            agents: &self.scenario.agents,
            seed: self.seed,
            client: self.client.clone(),
            recorder: recorder.clone(),
            interrupt: Arc::clone(&self.scenario.ctx.interrupt),
            target: self.target,
            start,
            graceful_stop: self.scenario.graceful_stop,
            judge,
        }
    }

    /// Ends the run when an objective marked `abort_on_fail` is lost: one with a window once its
    /// window is over, any other on the data so far from [`ABORT_GRACE`] on.
    fn judge(&self, recorder: &Recorder) -> Option<BoxedJudge<'a>> {
        let objectives = self.objectives;
        if !objectives.iter().any(|(o, _)| o.aborts()) {
            return None;
        }
        let recorder = recorder.clone();
        Some(Box::new(move |t: Duration| {
            let mut snapshot: Option<MetricsSnapshot> = None;
            for (o, span) in objectives.iter().filter(|(o, _)| o.aborts()) {
                let due = match span {
                    Some(w) => t >= w.to,
                    None => t >= ABORT_GRACE,
                };
                if !due {
                    continue;
                }
                let snap = snapshot.get_or_insert_with(|| recorder.snapshot());
                let result = o.evaluate(snap, t, span.as_ref());
                // A whole-run objective with nothing measured yet is not lost yet.
                if !result.passed && (span.is_some() || result.actual.is_some()) {
                    let actual = match result.actual {
                        Some(v) => format!("{} {}", crate::objectives::trim_float(v), result.unit),
                        None => result.detail.unwrap_or_default(),
                    };
                    return Some(format!(
                        "objective lost at {:.1} s: {} (actual: {actual})",
                        t.as_secs_f64(),
                        result.objective
                    ));
                }
            }
            None
        }))
    }

    fn report(&self, config: LoadConfig, run: Executed, metrics: &MetricsSnapshot) -> LoadReport {
        LoadReport::build(
            config,
            run.stop,
            run.elapsed,
            run.cancelled,
            metrics,
            self.objectives,
        )
    }

    /// Runs a capacity search: one constant-rate step after another, each judged on its own.
    async fn capacity(
        &self,
        plan: &CapacityPlan,
        config: LoadConfig,
        settings: RecorderSettings,
    ) -> LoadReport {
        let mut search = Search::new(plan.start, plan.step, plan.max, plan.bisections);
        let mut total = MetricsSnapshot::new(0);
        let mut curve = Vec::new();
        let mut judged = Vec::new();
        let mut broke_first: Option<(f64, String)> = None;
        let mut cancelled = 0;
        let mut stop = StopInfo::new(StopReason::Duration, None);
        while let Some(rate) = search.next_rate() {
            let recorder = Recorder::with(RecorderSettings {
                windows: Vec::new(),
                ..settings.clone()
            });
            self.scenario.ctx.set_recorder(&recorder);
            let step = OpenPlan {
                curve: Curve {
                    start: rate,
                    segments: vec![(plan.hold, rate)],
                },
                pool: plan.pool,
                timer: StartTimer::Tick,
            };
            let run = self.run(&recorder, None, tokio::time::Instant::now());
            let from = run.start.duration_since(self.start);
            let executed = executor::run_open(&step, run).await;
            let snap = recorder.snapshot();
            let results: Vec<_> = self
                .objectives
                .iter()
                .map(|(o, _)| o.evaluate(&snap, executed.elapsed, None))
                .collect();
            let failed: Vec<String> = results
                .iter()
                .filter(|r| !r.passed)
                .map(|r| r.objective.clone())
                .collect();
            let passed = failed.is_empty();
            let requests = snap.total();
            let (started, dropped) = snap.started_and_dropped();
            let secs = executed.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
            let p99 = requests
                .intended
                .as_ref()
                .filter(|h| !h.is_empty())
                .map_or(0.0, |h| h.value_at_quantile(0.99) as f64 / 1000.0);
            tracing::info!(rate, passed, p99, "capacity step");
            curve.push(CapacityStep {
                rate,
                passed,
                from_s: from.as_secs_f64(),
                started,
                dropped,
                throughput_rps: requests.count as f64 / secs,
                error_rate: requests.error_rate(),
                p99_ms: p99,
                failed_objectives: failed.clone(),
            });
            if !passed && broke_first.as_ref().is_none_or(|(r, _)| rate < *r) {
                broke_first = Some((rate, failed[0].clone()));
            }
            judged.push(results);
            total.merge(&snap);
            cancelled += executed.cancelled;
            search.record(rate, passed);
            if !matches!(executed.stop.reason, StopReason::Duration) {
                stop = executed.stop;
                break;
            }
        }
        let elapsed = self.start.elapsed();
        let mut report = LoadReport::build(config, stop, elapsed, cancelled, &total, &[]);
        // The objectives as they fared at the capacity found, or at the first step if none held.
        let at = search
            .capacity()
            .and_then(|c| curve.iter().position(|s| s.rate == c))
            .unwrap_or(0);
        if at < judged.len() {
            report.objectives = judged.swap_remove(at);
        }
        report.capacity = Some(CapacityReport {
            rate: search.capacity(),
            broke_first: broke_first.map(|(_, o)| o),
            curve,
        });
        report
    }
}
