//! [`Scenario`]: the typed builder a `#[scenario]` body configures and runs: agents, the load
//! model, the target and the objectives. `run()` validates it all, hands the plan to the
//! executor and turns what the metrics recorded into a [`LoadReport`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::agent::{AgentFn, Stop};
use crate::capacity::Search;
use crate::config::{Overrides, Target};
use crate::executor::{self, Executed, Run};
use crate::http::{ClientError, DEFAULT_MAX_RESPONSE_BODY, DEFAULT_REQUEST_TIMEOUT, HttpClient};
use crate::load::{CapacityPlan, Load, OpenPlan, Plan, Resolved, StartTimer, schedule::Curve};
use crate::metrics::{CpuUse, MetricsSnapshot, Recorder, RecorderSettings};
use crate::objectives::{ABORT_GRACE, Objective, Span, Window};
use crate::progress::Progress;
use crate::provenance::{Set, Source};
use crate::report::{
    AgentAssignment, ExactMetrics, GeneratorReport, PoolConfig, Setting, StageConfig,
};
use crate::report::{CapacityReport, CapacityStep, LoadConfig, LoadReport, StopInfo, StopReason};
use crate::segment::Segment;
use crate::text::list_or_none;
use crate::timeset::TimeSet;
use crate::turbulence::{self, Phase, Proxy, ProxyError, TurbulenceError};

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
    graceful_stop: Option<Duration>,
    request_timeout: Option<Duration>,
    max_response_body: Option<usize>,
    target: Option<String>,
    seed: Option<u64>,
    objectives: Vec<Objective>,
    phases: Vec<Phase>,
    proxies: Vec<Proxy>,
    through_proxy: bool,
}

/// What the harness and a scenario's `run()` share: identity, settings from outside, and the
/// state of the load so that a timed-out body still leaves its metrics behind.
pub(crate) struct ScenarioContext {
    pub(crate) name: String,
    /// Settings from outside the code (the settings file, the environment, flags); each wins
    /// over the code's.
    overrides: Overrides,
    /// The seed used when neither the code nor the settings set one.
    seed_fallback: u64,
    /// `--check-config`: `run()` checks everything, records the settings and returns
    /// [`ScenarioError::CheckOnly`] without sending a request.
    pub(crate) check_only: bool,
    /// What the report calls the code's settings: `code`, or `plan` for a declarative plan.
    pub(crate) code_label: &'static str,
    /// The resolved settings and their sources, once `run()` has checked them.
    settings: Mutex<Vec<Setting>>,
    /// Set when the run is interrupted (Ctrl-C).
    pub(crate) interrupt: Arc<Stop>,
    /// The segment of the load this process runs (`--segment`), with its source.
    pub(crate) segment: Set<Segment>,
    /// Whether a load may show the live progress line: under the harness, which runs one
    /// scenario at a time by default, not in a user's own tests, which libtest runs in parallel.
    pub(crate) progress: bool,
    /// Set by [`Scenario::without_load`]: the body runs no load on purpose.
    without_load: std::sync::atomic::AtomicBool,
    state: Mutex<LoadState>,
}

#[derive(Default)]
struct LoadState {
    started: Option<Started>,
    finished: Option<LoadReport>,
}

/// An objective with the part of the run it is judged on.
type Bound = (Objective, Option<Span>);

struct Started {
    config: LoadConfig,
    recorder: Recorder,
    start: Instant,
    /// The wall-clock time of `start`, which aligns the series of segments when they merge.
    origin: SystemTime,
    objectives: Vec<Bound>,
    seed: u64,
    turbulence: Option<Arc<turbulence::Turbulence>>,
}

impl ScenarioContext {
    pub(crate) fn new(
        name: String,
        overrides: Overrides,
        seed_fallback: u64,
        interrupt: Arc<Stop>,
    ) -> Self {
        ScenarioContext {
            name,
            overrides,
            seed_fallback,
            check_only: false,
            code_label: "code",
            settings: Mutex::new(Vec::new()),
            interrupt,
            segment: Set::default(),
            progress: false,
            without_load: std::sync::atomic::AtomicBool::new(false),
            state: Mutex::new(LoadState::default()),
        }
    }

    /// Whether a load was started, or the body said it runs none on purpose.
    pub(crate) fn ran_a_load_or_said_none(&self) -> bool {
        self.lock().started.is_some() || self.without_load.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LoadState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The seed the scenario ran with (or will run with, if it has not started a load).
    pub(crate) fn seed(&self) -> u64 {
        match &self.lock().started {
            Some(s) => s.seed,
            None => self
                .overrides
                .seed
                .as_ref()
                .map_or(self.seed_fallback, |s| s.value),
        }
    }

    /// The resolved settings with their sources, once the body called `run()`.
    pub(crate) fn settings(&self) -> Vec<Setting> {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
        let snapshot = started.recorder.snapshot();
        let mut report = LoadReport::build(
            started.config.clone(),
            StopInfo {
                reason: cut_short,
                detail: None,
            },
            elapsed,
            0,
            &snapshot,
            Objective::evaluate_all(&started.objectives, &snapshot, elapsed),
        );
        report.exact = Some(ExactMetrics::of(
            started.origin,
            &snapshot,
            &started.objectives,
        ));
        if let Some(t) = &started.turbulence {
            report.turbulence = Some(turbulence_report(t, &report, elapsed));
        }
        Some(report)
    }

    fn set_recorder(&self, recorder: &Recorder) {
        if let Some(started) = &mut self.lock().started {
            started.recorder = recorder.clone();
        }
        crate::exporter::watch(&self.name, self.segment.value, recorder);
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
         `WINDTUNNEL_TARGET`, or `target` in windtunnel.toml"
    )]
    NoTarget(String),
    /// The target is not an absolute http(s) URL.
    #[error(
        "scenario `{name}`: invalid target `{}`: {reason}",
        crate::redact::url(target)
    )]
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
    /// `--check-config`: the settings were checked and the load was not run. The harness
    /// expects this error from a body under `--check-config`; no user code needs to handle it.
    #[error("scenario `{0}`: settings checked (`--check-config`); no load was run")]
    CheckOnly(String),
    /// Turbulence that cannot run: a probability out of range, an inverted window, a toxic on
    /// a proxy the scenario does not know, ...
    #[error("scenario `{name}`: {error}")]
    InvalidTurbulence {
        /// The scenario.
        name: String,
        /// Which phase and rule, and what is wrong.
        error: TurbulenceError,
    },
    /// The load cannot be cut into the segment this process runs (`--segment`).
    #[error("scenario `{name}`: cannot run segment {segment}: {reason}")]
    Segment {
        /// The scenario.
        name: String,
        /// The segment and where it was set, e.g. `2/4 (flag --segment)`.
        segment: String,
        /// Why not.
        reason: String,
    },
    /// A proxy could not start, or cannot reach its upstream.
    #[error("scenario `{name}`: {error}{}", rule.as_ref().map(|r| format!(" (needed by turbulence rule `{r}`)")).unwrap_or_default())]
    Proxy {
        /// The scenario.
        name: String,
        /// The first rule that needs the proxy, if any does.
        rule: Option<String>,
        /// What went wrong.
        error: ProxyError,
    },
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
            Overrides::default(),
            crate::agent::random_seed(),
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
            graceful_stop: None,
            request_timeout: None,
            max_response_body: None,
            target: None,
            seed: None,
            objectives: Vec::new(),
            phases: Vec::new(),
            proxies: Vec::new(),
            through_proxy: false,
        }
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.ctx.name
    }

    /// The target requests go to: the one from outside the code (`--target`,
    /// `WINDTUNNEL_TARGET`, or `target` in the settings file) if given, else the
    /// one set with [`target`](Self::target), else `None`.
    pub fn target_url(&self) -> Option<&str> {
        match &self.ctx.overrides.target {
            Some(t) => Some(&t.value.url),
            None => self.target.as_deref(),
        }
    }

    /// Sets the target (base URL) in code. `--target`, `WINDTUNNEL_TARGET` or the settings
    /// file's `target` override it.
    pub fn target(mut self, url: impl Into<String>) -> Self {
        self.target = Some(url.into());
        self
    }

    /// Sets the seed in code. `--seed`, `WINDTUNNEL_SEED` or the settings file override it. (Default: random,
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
        self.graceful_stop = Some(grace);
        self
    }

    /// Declares that this scenario runs no load on purpose (it checks a setup, or drives the
    /// SUT without agents). Without it, a body that returns `Ok` without having run a load
    /// fails: a load that was built but never awaited (`.run()` without `.await`) must not pass.
    ///
    /// ```no_run
    /// # use windtunnel::prelude::*;
    /// #[scenario]
    /// async fn health_is_configured(s: Scenario) -> Result<()> {
    ///     ensure!(s.target_url().is_some(), "no target");
    ///     s.without_load();
    ///     Ok(())
    /// }
    /// # fn main() {}
    /// ```
    pub fn without_load(self) {
        self.ctx
            .without_load
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The timeout of each request. (Default: 30 seconds.)
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How many bytes of each response body are kept for the agent
    /// ([`Response::body`](crate::Response::body)) and for error samples. The rest of a longer
    /// body is still read, timed and counted; [`Response::json`](crate::Response::json) on a
    /// truncated body is an error that says so. This bounds memory against a SUT that sends
    /// huge or endless bodies. (Default: [`DEFAULT_MAX_RESPONSE_BODY`](crate::DEFAULT_MAX_RESPONSE_BODY), 16 MiB.)
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = Some(bytes);
        self
    }

    /// Adds an objective; the scenario fails if any objective does not hold.
    pub fn slo(mut self, objective: Objective) -> Self {
        self.objectives.push(objective);
        self
    }

    /// Adds a turbulence phase: faults and toxics and when they apply (see
    /// [`turbulence`](crate::turbulence)). `--turbulence` or `WINDTUNNEL_TURBULENCE` replace
    /// every phase set in code for an ad-hoc run.
    pub fn turbulence(mut self, phase: Phase) -> Self {
        self.phases.push(phase);
        self
    }

    /// Makes `proxy` known to the scenario, so that phases' toxics can name it (e.g. a proxy
    /// between the SUT and its database). Its toxics apply while the load runs.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// Sends the agents through a proxy named `target`, started on loopback in front of the
    /// target when the load starts, so that toxics can act on their connections. The target
    /// must be an `http` URL (the proxy forwards bytes; a TLS certificate would not match it).
    pub fn through_proxy(mut self) -> Self {
        self.through_proxy = true;
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
    fn resolve_load(&self) -> Result<(Load, Resolved), ScenarioError> {
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
        let load = load.with_overrides(&self.ctx.overrides.load).map_err(|e| {
            self.invalid_load(e.setting, format!("(from {}): {}", e.source, e.reason))
        })?;
        let resolved = load
            .resolve()
            .map_err(|e| self.invalid_load(e.field, e.reason))?;
        Ok((load, resolved))
    }

    /// Where each objective's window lies in this load and its turbulence, and the recorder
    /// windows they need.
    fn resolve_windows(
        &self,
        load: &Resolved,
        plan: &turbulence::Plan,
    ) -> Result<(Vec<Bound>, Vec<TimeSet>), ScenarioError> {
        let invalid = |reason: String| ScenarioError::InvalidObjective {
            name: self.ctx.name.clone(),
            reason,
        };
        let open = !matches!(load.plan, Plan::Closed(_));
        let overridden = match &self.ctx.overrides.turbulence {
            Some(t) => format!(
                "; the turbulence from {} replaced the code's phases",
                t.source
            ),
            None => String::new(),
        };
        let mut windows: Vec<TimeSet> = Vec::new();
        let mut bound = Vec::new();
        for o in &self.objectives {
            if let Some(problem) = o.problem(open) {
                return Err(invalid(problem));
            }
            let unknown_phase = |name: &str| {
                let known: Vec<String> = plan
                    .phases
                    .iter()
                    .map(|p| format!("`{}`", p.name))
                    .collect();
                invalid(format!(
                    "objective `{o}`: the scenario has no turbulence phase named `{name}` \
                     (phases: {}{})",
                    list_or_none(&known),
                    overridden
                ))
            };
            let span = match o.window() {
                None => None,
                Some(_) if matches!(load.plan, Plan::Capacity(_)) => {
                    return Err(invalid(format!(
                        "objective `{o}`: a capacity search judges its objectives on each step; \
                         they cannot be scoped to a window"
                    )));
                }
                Some(Window::Named(name)) => {
                    let stage = load.stages.iter().find(|s| &s.name == name);
                    let phase = plan.phase(name);
                    match (stage, phase) {
                        (Some(_), Some(_)) => {
                            return Err(invalid(format!(
                                "objective `{o}`: both a stage and a turbulence phase are named \
                                 `{name}`; rename one"
                            )));
                        }
                        (Some(stage), None) => Some((
                            TimeSet::Range(stage.from, stage.to),
                            Some(name.clone()),
                            None,
                        )),
                        (None, Some(phase)) => {
                            Some((TimeSet::During(phase.timing), None, Some(name.clone())))
                        }
                        (None, None) => {
                            let mut known: Vec<String> = load
                                .stages
                                .iter()
                                .map(|s| format!("stage `{}`", s.name))
                                .collect();
                            known.extend(plan.phases.iter().map(|p| format!("phase `{}`", p.name)));
                            return Err(invalid(format!(
                                "objective `{o}`: the scenario has no stage or turbulence phase \
                                 named `{name}` (it has: {}{})",
                                list_or_none(&known),
                                overridden
                            )));
                        }
                    }
                }
                Some(Window::After(name, delay)) => {
                    let phase = plan.phase(name).ok_or_else(|| unknown_phase(name))?;
                    Some((
                        TimeSet::After(phase.timing, *delay),
                        None,
                        Some(name.clone()),
                    ))
                }
                Some(Window::Range(from, to)) => {
                    if let Some(d) = load.duration
                        && *from >= d
                    {
                        return Err(invalid(format!(
                            "objective `{o}`: the window starts after the load ends ({d:?})"
                        )));
                    }
                    Some((TimeSet::Range(*from, *to), None, None))
                }
            };
            let span = span.map(|(set, stage, phase)| {
                let index = windows.iter().position(|w| *w == set).unwrap_or_else(|| {
                    windows.push(set.clone());
                    windows.len() - 1
                });
                Span {
                    index,
                    set,
                    stage,
                    phase,
                }
            });
            bound.push((o.clone(), span));
        }
        Ok((bound, windows))
    }

    /// The turbulence of this run (the override's, or the code's), resolved for its load; with
    /// [`through_proxy`](Self::through_proxy), the proxy it starts, which `url` then points at.
    async fn resolve_turbulence(
        &self,
        load: &Resolved,
        url: &mut reqwest::Url,
    ) -> Result<(turbulence::Plan, Option<Proxy>), ScenarioError> {
        let name = || self.ctx.name.clone();
        let (phases, spec) = match &self.ctx.overrides.turbulence {
            Some(o) => (o.value.phases.as_slice(), Some(o.value.text.clone())),
            None => (self.phases.as_slice(), None),
        };
        let mut proxies = self.proxies.clone();
        let mut front = None;
        if self.through_proxy {
            if url.scheme() != "http" {
                return Err(ScenarioError::InvalidTarget {
                    name: name(),
                    target: url.to_string(),
                    reason: "`through_proxy()` needs an `http` target: the proxy forwards bytes, \
                             and a TLS certificate would not match its address",
                });
            }
            let host = url.host_str().unwrap_or("127.0.0.1");
            let port = url.port_or_known_default().unwrap_or(80);
            let mut builder = Proxy::builder("target", format!("{host}:{port}"));
            if self.ctx.check_only {
                // `--check-config` makes no connection to the target.
                builder = builder.unchecked();
            }
            let proxy = builder
                .start()
                .await
                .map_err(|error| ScenarioError::Proxy {
                    name: name(),
                    rule: None,
                    error,
                })?;
            let addr = proxy.addr();
            // An IP address always parses as a host; a port always fits an http URL.
            let _ = url.set_ip_host(addr.ip());
            let _ = url.set_port(Some(addr.port()));
            proxies.push(proxy.clone());
            front = Some(proxy);
        }
        let mut plan =
            turbulence::Plan::resolve(phases, load.duration, &proxies).map_err(|error| {
                ScenarioError::InvalidTurbulence {
                    name: name(),
                    error,
                }
            })?;
        plan.spec = spec;
        // The proxies handed in may have outlived their upstream; the one in front of the
        // target (after them) checked its upstream as it started.
        let checked = if self.ctx.check_only {
            0
        } else {
            self.proxies.len()
        };
        for (i, proxy) in plan.proxies.iter().enumerate().take(checked) {
            let Some(needed) = plan.toxics.iter().find(|t| t.proxy == i) else {
                continue;
            };
            proxy.check().await.map_err(|error| ScenarioError::Proxy {
                name: name(),
                rule: Some(format!("{} on proxy `{}`", needed.toxic, proxy.name())),
                error,
            })?;
        }
        Ok((plan, front))
    }

    /// Checks that the load can be cut into the segment this process runs: the seed is fixed
    /// (every segment must draw the same decisions) and the load is not a capacity search
    /// (its steps follow the objectives of the whole).
    fn check_segment(&self, load: &Resolved) -> Result<(), ScenarioError> {
        let segment = &self.ctx.segment;
        if segment.value.is_whole() {
            return Ok(());
        }
        let error = |reason: String| ScenarioError::Segment {
            name: self.ctx.name.clone(),
            segment: format!("{} ({})", segment.value, segment.source.short()),
            reason,
        };
        if let Plan::Capacity(_) = load.plan {
            return Err(error(
                "a capacity search cannot be cut into segments: each step's rate follows the \
                 objectives of the whole load; run it in one process"
                    .into(),
            ));
        }
        if self.ctx.overrides.seed.is_none() && self.seed.is_none() {
            return Err(error(
                "the seed is random: every segment must run with the same seed, so set one \
                 with `.seed(..)`, `--seed`, `WINDTUNNEL_SEED` or `seed` in windtunnel.toml"
                    .into(),
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(Target, Load, Resolved), ScenarioError> {
        let name = || self.ctx.name.clone();
        if self.agents.is_empty() {
            return Err(ScenarioError::NoAgents(name()));
        }
        let (load, resolved) = self.resolve_load()?;
        let target = match &self.ctx.overrides.target {
            Some(t) => t.value.clone(),
            None => {
                let url = self
                    .target
                    .as_deref()
                    .ok_or_else(|| ScenarioError::NoTarget(name()))?;
                Target::url(url).map_err(|reason| ScenarioError::InvalidTarget {
                    name: name(),
                    target: url.to_owned(),
                    reason,
                })?
            }
        };
        Ok((target, load, resolved))
    }

    /// The settings the code set, replaced by those from outside (the load's are applied in
    /// [`resolve_load`](Self::resolve_load)).
    fn apply_overrides(&mut self) {
        let o = &self.ctx.overrides;
        if let Some(s) = &o.objectives {
            self.objectives = s.value.clone();
        }
        if let Some(s) = &o.request_timeout {
            self.request_timeout = Some(s.value);
        }
        if let Some(s) = &o.graceful_stop {
            self.graceful_stop = Some(s.value);
        }
    }

    /// Every resolved setting and where it came from.
    fn settings(
        &self,
        target: &Target,
        seed: u64,
        load: &Load,
        plan: &turbulence::Plan,
    ) -> Vec<Setting> {
        let o = &self.ctx.overrides;
        let code_or = |set: bool| if set { Source::Code } else { Source::Default };
        /// The source of a setting from outside, else the code's (if it set one) or the default.
        fn source<T>(outside: &Option<Set<T>>, in_code: bool) -> Source {
            match outside {
                Some(s) => s.source.clone(),
                None if in_code => Source::Code,
                None => Source::Default,
            }
        }
        let label = self.ctx.code_label;
        let mut v = Vec::new();
        let mut push = |name: &str, value: String, source: Source| {
            v.push(Setting {
                name: name.to_owned(),
                value,
                source: match source {
                    Source::Code => label.to_owned(),
                    other => other.short(),
                },
            });
        };
        let target_source = source(&o.target, true);
        push("target", target.describe(), target_source.clone());
        if !target.headers.is_empty() {
            let headers: Vec<String> = target
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {}", crate::redact::header_value(k, v)))
                .collect();
            push("headers", headers.join(", "), target_source.clone());
        }
        if target.insecure || target.ca.is_some() {
            let mut tls = Vec::new();
            if target.insecure {
                tls.push("insecure (any certificate)".to_owned());
            }
            if let Some(ca) = &target.ca {
                tls.push(format!("ca {}", ca.path.display()));
            }
            push("tls", tls.join(", "), target_source);
        }
        let seed_text = match (&o.seed, self.seed) {
            (Some(_), _) | (None, Some(_)) => seed.to_string(),
            // `--check-config` draws no seed: each run draws its own.
            (None, None) if self.ctx.check_only => "random".into(),
            (None, None) => format!("{seed} (random)"),
        };
        push("seed", seed_text, source(&o.seed, self.seed.is_some()));
        if !self.ctx.segment.value.is_whole() {
            push(
                "segment",
                self.ctx.segment.value.to_string(),
                self.ctx.segment.source.clone(),
            );
        }
        let shorthand = self.load.is_none();
        for (name, value) in load.describe() {
            let outside = match name {
                "users" => o.load.users.as_ref().map(|s| &s.source),
                "rate" => o.load.rate.as_ref().map(|s| &s.source),
                "duration" => o.load.duration.as_ref().map(|s| &s.source),
                "ramp_up" => o.load.ramp_up.as_ref().map(|s| &s.source),
                "iterations" => o.load.iterations.as_ref().map(|s| &s.source),
                _ => None,
            };
            let source = match (outside, &o.load.stages) {
                (Some(s), _) => s.clone(),
                (None, Some(stages)) if matches!(name, "model" | "start" | "stages") => {
                    stages.source.clone()
                }
                (None, _) if !shorthand => Source::Code,
                (None, _) => code_or(match name {
                    "users" => self.users.is_some(),
                    "ramp_up" => self.ramp_up.is_some(),
                    "model" => [
                        self.users.is_some(),
                        self.ramp_up.is_some(),
                        self.duration.is_some(),
                        self.iterations.is_some(),
                    ]
                    .contains(&true),
                    _ => true,
                }),
            };
            push(name, value, source);
        }
        let turbulence = if plan.phases.is_empty() {
            "none".to_owned()
        } else {
            plan.spec.clone().unwrap_or_else(|| {
                plan.phases
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        };
        push(
            "turbulence",
            turbulence,
            source(&o.turbulence, !self.phases.is_empty()),
        );
        let objectives: Vec<String> = self.objectives.iter().map(ToString::to_string).collect();
        push(
            "objectives",
            if objectives.is_empty() {
                "none".to_owned()
            } else {
                objectives.join("; ")
            },
            source(&o.objectives, !self.objectives.is_empty()),
        );
        push(
            "request_timeout",
            humantime::format_duration(self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT))
                .to_string(),
            source(&o.request_timeout, self.request_timeout.is_some()),
        );
        push(
            "max_response_body",
            format!(
                "{} bytes",
                self.max_response_body.unwrap_or(DEFAULT_MAX_RESPONSE_BODY)
            ),
            code_or(self.max_response_body.is_some()),
        );
        push(
            "graceful_stop",
            humantime::format_duration(self.graceful_stop.unwrap_or(DEFAULT_GRACEFUL_STOP))
                .to_string(),
            source(&o.graceful_stop, self.graceful_stop.is_some()),
        );
        v
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
    pub async fn run(mut self) -> Result<LoadReport, ScenarioError> {
        self.apply_overrides();
        let (target, spec, load) = self.validate()?;
        let seed = match &self.ctx.overrides.seed {
            Some(s) => s.value,
            None => self.seed.unwrap_or(self.ctx.seed_fallback),
        };
        self.check_segment(&load)?;
        let segment = self.ctx.segment.value;
        let mut url = reqwest::Url::parse(&target.url).expect("validated above");
        let (mut plan, proxy) = self.resolve_turbulence(&load, &mut url).await?;
        // A fault's budget is cut like the load, so that the segments together inject it at
        // most as often as one process would.
        for (_, fault) in &mut plan.rules {
            fault.count = fault.count.map(|n| segment.share(n));
        }
        let (objectives, windows) = self.resolve_windows(&load, &plan)?;
        let request_timeout = self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        let mut client = HttpClient::new(&url, request_timeout, &target)?;
        client.max_body = self.max_response_body.unwrap_or(DEFAULT_MAX_RESPONSE_BODY);
        *self.ctx.settings.lock().unwrap_or_else(|e| e.into_inner()) =
            self.settings(&target, seed, &spec, &plan);
        if self.ctx.check_only {
            return Err(ScenarioError::CheckOnly(self.ctx.name.clone()));
        }
        let target = target.url;
        let mut config = describe_load(
            &target,
            &load,
            self.graceful_stop.unwrap_or(DEFAULT_GRACEFUL_STOP),
            request_timeout,
            &self.agents,
        );
        config.segment = (!segment.is_whole()).then(|| segment.to_string());
        let start = tokio::time::Instant::now();
        let origin = SystemTime::now();
        let settings = RecorderSettings {
            origin: start,
            intended: !matches!(load.plan, Plan::Closed(_)),
            windows,
        };
        let recorder = Recorder::with(settings.clone());
        let turbulence = (!plan.phases.is_empty()).then(|| {
            Arc::new(turbulence::Turbulence::new(Arc::new(plan), start, seed).in_segment(segment))
        });
        // Also with toxics alone: the client counts each phase's requests and failures.
        let client = match &turbulence {
            Some(t) => client.with_turbulence(Arc::clone(t)),
            None => client,
        };
        // Toxics apply while the load runs: until these guards are dropped.
        let _attached: Vec<_> = turbulence
            .iter()
            .flat_map(|t| {
                t.plan
                    .proxies
                    .iter()
                    .enumerate()
                    .map(|(i, p)| p.attach(Arc::clone(t), i))
            })
            .collect();
        // Kept alive for the whole load, also when no toxic names it.
        let _proxy = proxy;
        // `run` consumes the only `Scenario` a body gets, so a load starts once per context.
        self.ctx.lock().started = Some(Started {
            config: config.clone(),
            recorder: recorder.clone(),
            start: Instant::now(),
            origin,
            objectives: objectives.clone(),
            seed,
            turbulence: turbulence.clone(),
        });
        crate::exporter::watch(&self.ctx.name, segment, &recorder);
        tracing::info!(scenario = %self.ctx.name, seed, target = %crate::redact::url(&target), model = load.kind, "load starting");
        let job = Job {
            scenario: &self,
            target: &target,
            seed,
            client,
            start,
            origin,
            objectives: &objectives,
        };
        let planned = config
            .duration_s
            .or_else(|| config.stages.last().map(|s| s.to_s))
            .map(Duration::from_secs_f64);
        // A capacity search records each step apart: it has no single line to show.
        let progress = match &load.plan {
            Plan::Capacity(_) => None,
            _ if !self.ctx.progress => None,
            _ => Progress::start(&self.ctx.name, &recorder, start, planned),
        };
        let mut report = match &load.plan {
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
        drop(progress);
        recorder.finished();
        if let Some(t) = &turbulence {
            let elapsed = Duration::from_secs_f64(report.elapsed_s);
            report.turbulence = Some(turbulence_report(t, &report, elapsed));
        }
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
    origin: SystemTime,
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
            graceful_stop: self.scenario.graceful_stop.unwrap_or(DEFAULT_GRACEFUL_STOP),
            judge,
            segment: self.scenario.ctx.segment.value,
        }
    }

    /// Ends the run when an objective marked `abort_on_fail` is lost: one with a window once its
    /// window is over, any other on the data so far from [`ABORT_GRACE`] on.
    fn judge(&self, recorder: &Recorder) -> Option<BoxedJudge<'a>> {
        let objectives = self.objectives;
        // A segment sees part of the load: only the merge of all segments judges objectives.
        if !self.scenario.ctx.segment.value.is_whole()
            || !objectives.iter().any(|(o, _)| o.aborts())
        {
            return None;
        }
        let recorder = recorder.clone();
        Some(Box::new(move |t: Duration| {
            let mut snapshot: Option<MetricsSnapshot> = None;
            for (o, span) in objectives.iter().filter(|(o, _)| o.aborts()) {
                let due = match span {
                    // A recovery has no end: judge it on the data so far, as a whole run.
                    Some(w) if w.end() == Duration::MAX => t >= w.set.start() + ABORT_GRACE,
                    Some(w) => t >= w.end(),
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
                        Some(v) => format!("{} {}", crate::text::trim_float(v), result.unit),
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
        let mut report = LoadReport::build(
            config,
            run.stop,
            run.elapsed,
            run.cancelled,
            metrics,
            Objective::evaluate_all(self.objectives, metrics, run.elapsed),
        );
        report.generator = Some(GeneratorReport::of(&run.cpu));
        report.exact = Some(ExactMetrics::of(self.origin, metrics, self.objectives));
        report
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
        let mut cpu = CpuUse::default();
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
            cpu.merge(&executed.cpu);
            search.record(rate, passed);
            if !matches!(executed.stop.reason, StopReason::Duration) {
                stop = executed.stop;
                break;
            }
        }
        let elapsed = self.start.elapsed();
        let mut report = LoadReport::build(config, stop, elapsed, cancelled, &total, Vec::new());
        report.generator = Some(GeneratorReport::of(&cpu));
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

/// The turbulence report of a load, with the names of the requests it saw.
fn turbulence_report(
    t: &turbulence::Turbulence,
    report: &LoadReport,
    elapsed: Duration,
) -> crate::report::TurbulenceReport {
    let names: Vec<&str> = report.requests.iter().map(|r| r.name.as_str()).collect();
    t.ledger
        .report(&t.plan, elapsed, report.total.failed, &names)
}

/// What the report says of the load a scenario runs: its resolved model, where it goes, its
/// limits, and how its users are shared among its agents.
fn describe_load(
    target: &str,
    load: &Resolved,
    graceful_stop: Duration,
    request_timeout: Duration,
    agents: &[AgentFn],
) -> LoadConfig {
    let assignment = load
        .users
        .map(|n| crate::executor::assign(agents, n as usize));
    LoadConfig {
        model: load.kind.into(),
        open: load.rate.is_some() || load.pool.is_some(),
        // Reports are shared: no secret of the query reaches them.
        target: crate::redact::url(target).into_owned(),
        users: load.users,
        ramp_up_s: load.ramp_up.map(|d| d.as_secs_f64()),
        duration_s: load.duration.map(|d| d.as_secs_f64()),
        iterations: load.iterations,
        shared_iterations: load.shared_iterations,
        rate: load.rate,
        start: load.start,
        stages: load
            .stages
            .iter()
            .map(|s| StageConfig {
                name: s.name.clone(),
                from_s: s.from.as_secs_f64(),
                to_s: s.to.as_secs_f64(),
                target: s.target,
            })
            .collect(),
        pool: load.pool.map(|p| PoolConfig {
            preallocated: p.preallocated,
            max: p.max,
        }),
        graceful_stop_s: graceful_stop.as_secs_f64(),
        request_timeout_s: request_timeout.as_secs_f64(),
        agents: agents
            .iter()
            .enumerate()
            .map(|(i, a)| AgentAssignment {
                name: a.name().to_owned(),
                weight: a.weight(),
                users: assignment
                    .as_ref()
                    .map(|asg| asg.iter().filter(|&&x| x == i).count() as u32),
            })
            .collect(),
        segment: None,
    }
}
