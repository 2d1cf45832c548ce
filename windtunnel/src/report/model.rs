//! The types of the report, and how a run's metrics become a [`LoadReport`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use hdrhistogram::Histogram;

use crate::agent::AgentFn;
use crate::load::Resolved;
use crate::metrics::{ErrorClass, MetricsSnapshot, RequestMetrics, Series, histogram_of};
use crate::objectives::{Objective, ObjectiveResult, Span};

/// How many injected faults a report lists; past this they are only counted.
pub(crate) const MAX_LISTED_FAULTS: usize = 10_000;

/// The version of the report format. It changes when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 5;

/// One run of a test binary (or, under nextest, of every binary sharing `NEXTEST_RUN_ID`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The tool that wrote the report.
    pub tool: ToolInfo,
    /// The run's id (`NEXTEST_RUN_ID` under nextest).
    pub run_id: String,
    /// When the first scenario started (RFC 3339, UTC).
    pub started_at: String,
    /// When the last scenario ended (RFC 3339, UTC), if any has.
    pub ended_at: Option<String>,
    /// `true` when every selected scenario ran to its end: no interruption, none still running.
    pub complete: bool,
    /// The scenarios, sorted by binary and name.
    pub scenarios: Vec<ScenarioReport>,
}

/// The writer of a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolInfo {
    /// `windtunnel`.
    pub name: String,
    /// Its version.
    pub version: String,
}

impl Default for ToolInfo {
    fn default() -> Self {
        ToolInfo {
            name: "windtunnel".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// How a scenario ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Still running (or the process died before it ended).
    Running,
    /// The body returned `Ok` and every objective held.
    Passed,
    /// The body failed, panicked or timed out, the load was aborted, an agent panicked, or an
    /// objective did not hold.
    Failed,
    /// Nothing failed, but the measurement cannot be trusted: the generator itself was
    /// saturated or started its iterations late (see
    /// [`doubts`](ScenarioReport::doubts)). Fails the test unless the run's `inconclusive`
    /// setting is `warn`, which passes it with the doubts as warnings.
    Inconclusive,
    /// Ignored (`#[scenario(ignore)]`) and not asked for.
    Skipped,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
}

impl Outcome {
    /// Its name, as in reports: `running`, `passed`, `failed`, `inconclusive`, `skipped`,
    /// `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Skipped => "skipped",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// One scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScenarioReport {
    /// `module::name`, as listed by `--list`.
    pub name: String,
    /// The full module path (the JUnit classname).
    pub module: String,
    /// The test binary (target) it ran in.
    pub binary: String,
    /// Where it is defined.
    pub file: String,
    /// The line of its definition.
    pub line: u32,
    /// Its tags.
    pub tags: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed, in one line each; empty when it passed.
    pub problems: Vec<String>,
    /// Why its measurement cannot be trusted, in one line each, with the numbers: the reasons
    /// of an `inconclusive` outcome (or, under `inconclusive = "warn"`, warnings of a pass).
    /// Older reports have none.
    #[serde(default)]
    pub doubts: Vec<String>,
    /// The seed its agents' generators were derived from.
    pub seed: u64,
    /// The command that runs it again with the same seed, for people to read (a POSIX shell
    /// line). `windtunnel replay` never runs it: it runs [`rerun`](Self::rerun).
    pub replay: String,
    /// The same command as checked fields. Reports older than windtunnel 0.1.0's hostile-input
    /// checks have none, and cannot be replayed by `windtunnel replay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun: Option<super::Rerun>,
    /// When it started (RFC 3339, UTC); `None` when skipped.
    pub started_at: Option<String>,
    /// When it ended (RFC 3339, UTC).
    pub ended_at: Option<String>,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// The load, if the body ran one.
    pub load: Option<LoadReport>,
    /// What went wrong, worst first (see [`findings`](super::findings)). Reports of schema 3
    /// have none stored; readers compute them.
    #[serde(default)]
    pub findings: Vec<super::Finding>,
    /// Every resolved setting of the scenario and where its value came from, in the order
    /// `--check-config` prints them. Older reports have none.
    #[serde(default)]
    pub settings: Vec<Setting>,
}

/// One resolved setting of a scenario: its value and where the value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Setting {
    /// The setting: `target`, `seed`, `users`, `objectives`, ...
    pub name: String,
    /// Its value, as text.
    pub value: String,
    /// Where it came from: `code`, `default`, `flag --users`, `env WINDTUNNEL_USERS`, or the
    /// settings file and key (`windtunnel.toml scenarios.browse.users`).
    pub source: String,
}

/// One load: its configuration, how it ended, and what was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoadReport {
    /// The load's configuration.
    pub config: LoadConfig,
    /// Why it stopped.
    pub stop: StopInfo,
    /// From the first user's start to the end of the graceful stop, in seconds.
    pub elapsed_s: f64,
    /// In-flight iterations cancelled after the graceful stop.
    pub cancelled_iterations: u64,
    /// How the open model's scheduler kept up; `None` for a closed model.
    pub schedule: Option<ScheduleReport>,
    /// How busy the load generator (this process) was; `None` when it was not measured (older
    /// reports, a load cut short by the scenario's timeout).
    #[serde(default)]
    pub generator: Option<GeneratorReport>,
    /// The result of a capacity search; `None` for other models.
    pub capacity: Option<CapacityReport>,
    /// What turbulence injected; `None` when the scenario had none.
    pub turbulence: Option<TurbulenceReport>,
    /// The objectives and how they fared.
    pub objectives: Vec<ObjectiveResult>,
    /// Every request together.
    pub total: RequestReport,
    /// Per request name, sorted by name.
    pub requests: Vec<RequestReport>,
    /// Per check, sorted by name.
    pub checks: Vec<CheckReport>,
    /// Per agent, sorted by name.
    pub iterations: Vec<IterationReport>,
    /// The run over time.
    pub series: SeriesReport,
    /// Everything measured, exactly (histograms, not only percentiles), for merging the
    /// reports of segments with `windtunnel merge`; `None` in reports of older versions and of
    /// capacity searches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<super::ExactMetrics>,
}

/// The configuration of a load, as resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoadConfig {
    /// The load model: `constant_users`, `per_user_iterations`, `shared_iterations`,
    /// `ramping_users` (closed); `constant_rate`, `ramping_rate` (open); `capacity`.
    pub model: String,
    /// `true` for the open models (and capacity), whose iterations start on a schedule.
    pub open: bool,
    /// The base URL.
    pub target: String,
    /// Closed models: the most concurrent users.
    pub users: Option<u32>,
    /// Constant users: the ramp-up in seconds.
    pub ramp_up_s: Option<f64>,
    /// The planned duration in seconds, if bounded by time.
    pub duration_s: Option<f64>,
    /// Iterations per user, if bounded by count.
    pub iterations: Option<u64>,
    /// Iterations shared by all users, if bounded by count.
    pub shared_iterations: Option<u64>,
    /// Constant rate (or the capacity search's start), in iterations per second.
    pub rate: Option<f64>,
    /// Ramping models: the users or rate at the start.
    pub start: Option<f64>,
    /// The named stages (ramping models; `ramp-up` and `steady` for constant users with a
    /// ramp-up).
    pub stages: Vec<StageConfig>,
    /// Open models: the agent pool.
    pub pool: Option<PoolConfig>,
    /// Graceful stop in seconds.
    pub graceful_stop_s: f64,
    /// Request timeout in seconds.
    pub request_timeout_s: f64,
    /// The agents, with the users each got in a closed model.
    pub agents: Vec<AgentAssignment>,
    /// The segment this process ran (`2/4`), when the load was cut into segments: the rest of
    /// the configuration is the whole load's. `None` for a whole load, and in a merged report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

/// A stage of a ramping load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StageConfig {
    /// Its name.
    pub name: String,
    /// Its start, in seconds from the start of the load.
    pub from_s: f64,
    /// Its end.
    pub to_s: f64,
    /// The users or rate (iterations per second) it ends at.
    pub target: f64,
}

/// The agent pool of an open model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Agents made before the load starts.
    pub preallocated: u32,
    /// The most agents.
    pub max: u32,
}

impl LoadConfig {
    pub(crate) fn new(
        target: &str,
        load: &Resolved,
        graceful_stop: Duration,
        request_timeout: Duration,
        agents: &[AgentFn],
    ) -> Self {
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
}

/// An agent of a load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AgentAssignment {
    /// Its name.
    pub name: String,
    /// Its weight.
    pub weight: u32,
    /// How many users ran it (closed models).
    pub users: Option<u32>,
}

/// How busy the load generator was: the process's CPU time per second of the load, as a share
/// of the cores it may use (the SUT's share too, when it runs in the same process).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GeneratorReport {
    /// The cores the process may use.
    pub cores: u32,
    /// The share of those cores busy over the load.
    pub cpu_mean: f64,
    /// The share busy in the busiest second.
    pub cpu_peak: f64,
    /// Seconds measured.
    pub sampled_s: f64,
    /// Seconds in which at least 90% of the cores were busy.
    pub saturated_s: f64,
}

impl GeneratorReport {
    pub(crate) fn of(cpu: &crate::metrics::CpuUse) -> Self {
        GeneratorReport {
            cores: cpu.cores,
            cpu_mean: cpu.mean(),
            cpu_peak: cpu.peak,
            sampled_s: cpu.sampled.as_secs_f64(),
            saturated_s: cpu.saturated.as_secs_f64(),
        }
    }
}

/// How an open model's scheduler kept up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScheduleReport {
    /// Iterations started.
    pub started: u64,
    /// Iterations that were due but were not started: they found no free agent and no room in
    /// the pool for one more, or the load stopped first. Started and dropped together are every
    /// iteration due before the load stopped.
    pub dropped: u64,
    /// How late iterations started after their intended start, in milliseconds.
    pub start_lateness_ms: LatencyReport,
}

/// What a scenario's turbulence injected, and what the SUT did by itself meanwhile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TurbulenceReport {
    /// The compact spec (`--turbulence`, `WINDTUNNEL_TURBULENCE`) that replaced the turbulence
    /// set in code, if one did.
    pub overridden_by: Option<String>,
    /// The phases, in the order they were added.
    pub phases: Vec<PhaseReport>,
    /// Failed requests whose failure turbulence injected (aborts, hangs, drops).
    pub injected_failures: u64,
    /// Failed requests that turbulence did not fail: every failed request minus the injected
    /// failures.
    pub sut_failures: u64,
    /// Rules that matched no request, phases that never started.
    pub warnings: Vec<String>,
    /// The injected faults in time order (the first 10,000).
    pub faults: Vec<InjectedFault>,
    /// Injected faults past those listed.
    pub faults_not_listed: u64,
}

/// One turbulence phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PhaseReport {
    /// Its name.
    pub name: String,
    /// When it was active, as `[from, to]` seconds from the start of the load (the first 100).
    pub occurrences: Vec<[f64; 2]>,
    /// How long it was active in all, in seconds.
    pub active_s: f64,
    /// The probability ramp over each occurrence, if any.
    pub ramp: Option<[f64; 2]>,
    /// Requests that started while it was active.
    pub requests: u64,
    /// Of those, the failed ones.
    pub failed: u64,
    /// Of the failed ones, those whose failure turbulence injected.
    pub injected_failures: u64,
    /// Of the failed ones, the others: the SUT's own.
    pub sut_failures: u64,
    /// Its HTTP faults.
    pub rules: Vec<RuleReport>,
    /// Its network toxics.
    pub toxics: Vec<ToxicReport>,
}

/// One HTTP fault of a phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RuleReport {
    /// The fault, e.g. "abort 503 POST /cart* p=0.1".
    pub rule: String,
    /// `delay`, `abort`, `hang`, `drop_request` or `drop_response`.
    pub kind: String,
    /// Requests it matched while its phase was active.
    pub matched: u64,
    /// Requests it fired on.
    pub injected: u64,
}

/// One network toxic of a phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToxicReport {
    /// The proxy it acts on.
    pub proxy: String,
    /// The toxic, e.g. "latency 100 ms ± 10 ms downstream".
    pub toxic: String,
    /// `latency`, `bandwidth`, `reset_peer`, `timeout`, `slow_close`, `limit_data`, `down` or
    /// `slicer`.
    pub kind: String,
    /// Connection directions it applied to (a refused connection counts once).
    pub applied: u64,
}

/// One injected fault: what, when, and on what, by logical identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InjectedFault {
    /// Seconds from the start of the load.
    pub at_s: f64,
    /// The phase.
    pub phase: String,
    /// The fault or toxic.
    pub fault: String,
    /// Its kind.
    pub kind: String,
    /// HTTP faults: the request's name.
    pub request: Option<String>,
    /// HTTP faults in a closed model: the agent's id.
    pub agent: Option<u64>,
    /// HTTP faults: the agent's iteration (closed model) or the iteration's place in the
    /// schedule (open model).
    pub iteration: Option<u64>,
    /// HTTP faults: the request's number within its iteration.
    pub request_number: Option<u64>,
    /// Toxics: the proxy.
    pub proxy: Option<String>,
    /// Toxics: the connection's number on the proxy.
    pub connection: Option<u64>,
    /// Toxics: `upstream` or `downstream` (`None`: refused at accept).
    pub direction: Option<String>,
    /// What was drawn, e.g. the delay.
    pub detail: Option<String>,
}

/// The result of a capacity search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CapacityReport {
    /// The highest rate (iterations per second) at which every objective held; `None` when
    /// even the start rate broke one.
    pub rate: Option<f64>,
    /// The first objective that broke, at the lowest failing rate; `None` if none broke up to
    /// the maximum rate.
    pub broke_first: Option<String>,
    /// Every step, in the order it ran.
    pub curve: Vec<CapacityStep>,
}

/// One step of a capacity search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CapacityStep {
    /// The rate asked for.
    pub rate: f64,
    /// Whether every objective held.
    pub passed: bool,
    /// Its start, in seconds from the start of the search.
    pub from_s: f64,
    /// Iterations started and dropped.
    pub started: u64,
    /// Iterations dropped for want of a free agent.
    pub dropped: u64,
    /// Requests per second.
    pub throughput_rps: f64,
    /// The share of failed requests.
    pub error_rate: f64,
    /// p99 latency from the intended start, in milliseconds.
    pub p99_ms: f64,
    /// The objectives that did not hold.
    pub failed_objectives: Vec<String>,
}

/// The run over time: one point per `interval_s` seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SeriesReport {
    /// The time one point covers (1 s; doubled as often as needed to keep a long run within
    /// 3,600 points).
    pub interval_s: f64,
    /// The points with anything in them, by time.
    pub points: Vec<SeriesPoint>,
}

/// One point of the series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SeriesPoint {
    /// Its start, in seconds from the start of the load.
    pub t_s: f64,
    /// Requests that ended in it.
    pub requests: u64,
    /// Of which failed.
    pub failed: u64,
    /// `requests` per second.
    pub throughput_rps: f64,
    /// Iterations that ended in it.
    pub iterations: u64,
    /// Iterations started (open model).
    pub started: Option<u64>,
    /// Iterations dropped (open model).
    pub dropped: Option<u64>,
    /// The most agents in an iteration at once (sampled every 20 ms).
    pub active_agents: u64,
    /// Service time percentiles (2 significant digits); `None` without requests.
    pub latency_ms: Option<Percentiles>,
    /// Latency from the intended start (open model).
    pub intended_latency_ms: Option<Percentiles>,
}

/// Latency percentiles of a series point, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// Why a load stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// Its duration was over.
    Duration,
    /// Every user finished its iterations.
    Iterations,
    /// It was aborted (the target was unreachable).
    Aborted,
    /// An objective marked `abort_on_fail` was lost.
    ObjectiveLost,
    /// Ctrl-C.
    Interrupted,
    /// The scenario's timeout hit while the load ran.
    TimedOut,
}

/// Why a load stopped, with details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StopInfo {
    /// The reason.
    pub reason: StopReason,
    /// More about it, e.g. why the run was aborted.
    pub detail: Option<String>,
}

impl StopInfo {
    pub(crate) fn new(reason: StopReason, detail: Option<String>) -> Self {
        StopInfo { reason, detail }
    }
}

/// What was measured for one request name (or for all requests).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequestReport {
    /// The request name (`*` for all requests).
    pub name: String,
    /// Requests completed (with a response or an error).
    pub count: u64,
    /// Failed requests: transport errors and statuses the request did not accept.
    pub failed: u64,
    /// `failed / count`.
    pub error_rate: f64,
    /// `count` per second of the load's elapsed time.
    pub throughput_rps: f64,
    /// Service time of every request, failed ones included.
    pub latency_ms: LatencyReport,
    /// Latency from the intended start of each request's iteration (open model).
    pub intended_latency_ms: Option<LatencyReport>,
    /// Responses per status code.
    pub statuses: BTreeMap<String, u64>,
    /// Failures grouped by kind, with samples.
    pub errors: Vec<ErrorReport>,
}

/// Latency statistics in milliseconds, from an HDR histogram at 3 significant digits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LatencyReport {
    /// Minimum.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

/// Failures of one kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorReport {
    /// The kind (`connect`, `timeout`, `request`, `status`, `operation`, `invalid` (never
    /// sent), `unfinished` (abandoned in flight); for iterations: `check`, `http`, `error`).
    pub kind: String,
    /// How many.
    pub count: u64,
    /// How many of them turbulence caused: an injected fault on the request (or, for
    /// iterations, on the iteration's last request). Older reports have none.
    #[serde(default)]
    pub injected: u64,
    /// A few distinct messages.
    pub samples: Vec<String>,
}

/// One check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// Its name.
    pub name: String,
    /// Passes.
    pub passed: u64,
    /// Failures.
    pub failed: u64,
    /// Failures on responses that turbulence made (an injected abort). Older reports have
    /// none.
    #[serde(default)]
    pub injected: u64,
    /// A few distinct failure messages.
    pub samples: Vec<String>,
}

/// The iterations of one agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IterationReport {
    /// The agent's name.
    pub agent: String,
    /// Iterations that returned `Ok`.
    pub completed: u64,
    /// Iterations that returned `Err`.
    pub failed: u64,
    /// Iterations that panicked.
    pub panicked: u64,
    /// Why iterations failed, by class, with samples.
    pub failures: Vec<ErrorReport>,
    /// The panics, by message.
    pub panics: Vec<PanicReport>,
    /// How long its iterations took, every one (failed and panicked too), in milliseconds:
    /// from the intended start in an open model (what Gatling calls a group and k6
    /// `iteration_duration`), from the start in a closed one. `None` in older reports.
    #[serde(default)]
    pub duration_ms: Option<Percentiles>,
}

impl IterationReport {
    /// Every iteration of the agent: completed, failed and panicked.
    pub fn count(&self) -> u64 {
        self.completed + self.failed + self.panicked
    }
}

/// Agent panics with one message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PanicReport {
    /// The panic message and location.
    pub message: String,
    /// How many times.
    pub count: u64,
    /// The ids of the first agents that hit it.
    pub agent_ids: Vec<u64>,
}

/// The share of an open model's due iterations that may go unstarted before the scenario fails,
/// unless it has an objective on dropped iterations of its own.
pub(crate) const MAX_DROPPED: f64 = 0.05;

/// The first sample of an error class, or a word saying it has none.
fn first_sample(e: &ErrorReport) -> &str {
    e.samples.first().map_or("no sample", String::as_str)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Error classes as the report lists them: most frequent first.
pub(super) fn errors(classes: impl IntoIterator<Item = (String, ErrorClass)>) -> Vec<ErrorReport> {
    let mut out: Vec<ErrorReport> = classes
        .into_iter()
        .map(|(kind, c)| ErrorReport {
            kind,
            count: c.count,
            injected: c.injected,
            samples: c.samples,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
    out
}

impl LatencyReport {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        let empty = h.is_empty();
        let q = |q: f64| {
            if empty {
                0.0
            } else {
                ms(h.value_at_quantile(q))
            }
        };
        LatencyReport {
            min: if empty { 0.0 } else { ms(h.min()) },
            mean: if empty { 0.0 } else { h.mean() / 1000.0 },
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: if empty { 0.0 } else { ms(h.max()) },
        }
    }
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Percentiles {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        })
    }
}

impl SeriesReport {
    pub(crate) fn of(series: &Series, open: bool) -> Self {
        let interval = series.interval().as_secs_f64();
        SeriesReport {
            interval_s: interval,
            points: series
                .points()
                .iter()
                .map(|(&i, p)| SeriesPoint {
                    t_s: i as f64 * interval,
                    requests: p.requests,
                    failed: p.failed,
                    throughput_rps: p.requests as f64 / interval,
                    iterations: p.iterations,
                    started: open.then_some(p.started),
                    dropped: open.then_some(p.dropped),
                    active_agents: p.active,
                    latency_ms: Percentiles::of(&histogram_of(&p.service)),
                    intended_latency_ms: if series.intended {
                        Percentiles::of(&histogram_of(&p.intended))
                    } else {
                        None
                    },
                })
                .collect(),
        }
    }
}

impl RequestReport {
    fn from_metrics(name: &str, m: &RequestMetrics, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        RequestReport {
            name: name.to_owned(),
            count: m.count,
            failed: m.failed,
            error_rate: m.error_rate(),
            throughput_rps: if secs > 0.0 {
                m.count as f64 / secs
            } else {
                0.0
            },
            latency_ms: LatencyReport::of(&m.histogram),
            intended_latency_ms: m.intended.as_ref().map(LatencyReport::of),
            statuses: m
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            errors: errors(
                m.errors
                    .iter()
                    .map(|(k, c)| (k.as_str().to_owned(), c.clone())),
            ),
        }
    }
}

impl LoadReport {
    pub(crate) fn build(
        config: LoadConfig,
        stop: StopInfo,
        elapsed: Duration,
        cancelled_iterations: u64,
        metrics: &MetricsSnapshot,
        objectives: &[(Objective, Option<Span>)],
    ) -> Self {
        let open = config.open;
        let schedule = open.then(|| {
            let (started, dropped) = metrics.started_and_dropped();
            ScheduleReport {
                started,
                dropped,
                start_lateness_ms: LatencyReport::of(&metrics.lateness),
            }
        });
        LoadReport {
            config,
            stop,
            elapsed_s: elapsed.as_secs_f64(),
            cancelled_iterations,
            schedule,
            generator: None,
            capacity: None,
            turbulence: None,
            objectives: objectives
                .iter()
                .map(|(o, span)| o.evaluate(metrics, elapsed, span.as_ref()))
                .collect(),
            series: SeriesReport::of(&metrics.series, open),
            exact: None,
            total: RequestReport::from_metrics("*", &metrics.total(), elapsed),
            requests: metrics
                .requests
                .iter()
                .map(|(n, m)| RequestReport::from_metrics(n, m, elapsed))
                .collect(),
            checks: metrics
                .checks
                .iter()
                .map(|(n, c)| CheckReport {
                    name: n.clone(),
                    passed: c.passed,
                    failed: c.failed.count,
                    injected: c.failed.injected,
                    samples: c.failed.samples.clone(),
                })
                .collect(),
            iterations: metrics
                .iterations
                .iter()
                .map(|(agent, it)| {
                    let mut panics: Vec<PanicReport> = it
                        .panics
                        .iter()
                        .map(|(m, (count, ids))| PanicReport {
                            message: m.clone(),
                            count: *count,
                            agent_ids: ids.clone(),
                        })
                        .collect();
                    panics.sort_by(|a, b| b.count.cmp(&a.count).then(a.message.cmp(&b.message)));
                    IterationReport {
                        agent: agent.clone(),
                        completed: it.completed,
                        failed: it.failed,
                        panicked: it.panicked,
                        failures: errors(
                            it.failures
                                .iter()
                                .map(|(k, c)| ((*k).to_owned(), c.clone())),
                        ),
                        panics,
                        duration_ms: it.duration.as_ref().and_then(Percentiles::of),
                    }
                })
                .collect(),
        }
    }

    /// The report of one request name.
    pub fn request(&self, name: &str) -> Option<&RequestReport> {
        self.requests.iter().find(|r| r.name == name)
    }

    /// Whether every objective held.
    pub fn objectives_passed(&self) -> bool {
        self.objectives.iter().all(|o| o.passed)
    }

    /// How many agent iterations panicked.
    pub fn panics(&self) -> u64 {
        self.iterations.iter().map(|i| i.panicked).sum()
    }
}

/// Why a measurement cannot be trusted: what it is about (stable across runs, for findings)
/// and one line with the numbers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Doubt {
    pub(crate) subject: &'static str,
    pub(crate) text: String,
}

impl Doubt {
    fn new(subject: &'static str, text: String) -> Self {
        Doubt { subject, text }
    }
}

/// An open model's start lateness may reach this share of its tightest latency objective's
/// threshold before the measurement is in doubt...
pub(crate) const LATENESS_SHARE: f64 = 0.10;
/// ...but never less than this (tokio's timer ticks every millisecond), in milliseconds...
pub(crate) const LATENESS_FLOOR_MS: f64 = 2.0;
/// ...and this much when no objective judges latency, in milliseconds.
pub(crate) const LATENESS_DEFAULT_MS: f64 = 100.0;
/// The generator's CPU is in doubt when it was saturated this share of the load...
pub(crate) const SATURATED_SHARE: f64 = 0.25;
/// ...and at least this many seconds.
pub(crate) const SATURATED_MIN_S: f64 = 1.0;

impl ScenarioReport {
    /// Why the measurement of this load cannot be trusted, one line each with the numbers
    /// (empty: it can). The load generator is in doubt when its own CPU was saturated (at
    /// least 90% of its cores busy) for [`SATURATED_SHARE`] of the load and
    /// [`SATURATED_MIN_S`], or, in an open model, when the p99 of the start lateness (the
    /// generator's own delay in starting iterations on free agents) exceeds
    /// [`LATENESS_SHARE`] of the tightest latency objective (at least [`LATENESS_FLOOR_MS`];
    /// [`LATENESS_DEFAULT_MS`] with no latency objective).
    pub(crate) fn doubts_of(load: Option<&LoadReport>) -> Vec<Doubt> {
        let mut doubts = Vec::new();
        let Some(load) = load else {
            return doubts;
        };
        if let Some(g) = &load.generator
            && g.saturated_s >= SATURATED_MIN_S
            && g.saturated_s >= SATURATED_SHARE * g.sampled_s
        {
            doubts.push(Doubt::new(
                "generator cpu",
                format!(
                    "the load generator was saturated: at least {:.0}% of its {} core(s) busy for \
                 {:.1} of {:.1} s (peak {:.0}%), so its own delays are in every latency; use a \
                 release build, fewer agents, or more machines (`--segment`)",
                    crate::metrics::SATURATED * 100.0,
                    g.cores,
                    g.saturated_s,
                    g.sampled_s,
                    g.cpu_peak * 100.0
                ),
            ));
        }
        if let Some(schedule) = &load.schedule
            && schedule.started > 0
        {
            let tightest = load
                .objectives
                .iter()
                .filter(|o| o.unit == "ms")
                .min_by(|a, b| a.expected.total_cmp(&b.expected));
            let (bound, why) = match tightest {
                Some(o) => (
                    (LATENESS_SHARE * o.expected).max(LATENESS_FLOOR_MS),
                    format!(
                        "{:.0}% of the tightest latency objective, `{}`",
                        LATENESS_SHARE * 100.0,
                        o.objective
                    ),
                ),
                None => (
                    LATENESS_DEFAULT_MS,
                    "the bound with no latency objective".to_owned(),
                ),
            };
            let p99 = schedule.start_lateness_ms.p99;
            if p99 > bound {
                doubts.push(Doubt::new(
                    "generator lateness",
                    format!(
                        "iterations started late: start lateness p99 {p99:.1} ms is beyond \
                     {bound:.1} ms ({why}); the generator, not the SUT, delayed them (agent \
                     code that blocks its thread, or a busy machine); for tight thresholds, \
                     `precise_starts()`"
                    ),
                ));
            }
        }
        doubts
    }

    /// Why a scenario with this body result and load failed, one line each (empty: it passed).
    pub(crate) fn problems_of(
        body_failure: Option<&str>,
        load: Option<&LoadReport>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(f) = body_failure {
            problems.push(f.to_owned());
        }
        if let Some(load) = load {
            if let StopReason::Aborted | StopReason::ObjectiveLost = load.stop.reason {
                let detail = load.stop.detail.as_deref().unwrap_or("no detail");
                problems.push(format!("the load was aborted: {detail}"));
            }
            if let Some(c) = &load.capacity
                && c.rate.is_none()
            {
                let why = c.broke_first.as_deref().unwrap_or("no step ran");
                problems.push(format!(
                    "capacity search: no rate met the objectives (first broken: {why})"
                ));
            }
            // Judged on the whole load, after it ended: the same in every run, unlike the
            // early abort, which races the end of a short load.
            let mut requests = 0u64;
            let mut invalid: Option<(u64, &str)> = None;
            let mut unanswered = BTreeMap::<&str, u64>::new();
            for r in &load.requests {
                requests += r.count;
                for e in &r.errors {
                    match e.kind.as_str() {
                        "invalid" => {
                            let (n, _) = invalid.get_or_insert((0, first_sample(e)));
                            *n += e.count;
                        }
                        "connect" | "timeout" | "request" | "unfinished" => {
                            *unanswered.entry(e.kind.as_str()).or_default() += e.count;
                        }
                        _ => {}
                    }
                }
            }
            let (never_sent, sample) = invalid.unwrap_or((0, ""));
            let sent = requests - never_sent;
            if requests > 0 && sent == 0 {
                problems.push(format!(
                    "no request was sent: all {requests} request(s) were invalid (first: \
                     {sample})"
                ));
            }
            if sent > 0 && unanswered.values().sum::<u64>() == sent {
                let kinds: Vec<String> = unanswered
                    .iter()
                    .map(|(k, n)| format!("{k}: {n}"))
                    .collect();
                problems.push(format!(
                    "the target never answered: all {sent} request(s) sent failed without a \
                     response ({})",
                    kinds.join(", ")
                ));
            }
            // A capacity search drops iterations on purpose once a step is beyond capacity.
            if let Some(schedule) = load.schedule.as_ref().filter(|_| load.capacity.is_none()) {
                let due = schedule.started + schedule.dropped;
                let bounded = load
                    .objectives
                    .iter()
                    .any(|o| o.metric.starts_with("dropped_iteration"));
                if !bounded && due > 0 && schedule.dropped as f64 > MAX_DROPPED * due as f64 {
                    problems.push(format!(
                        "the load did not run as planned: {} of {due} due iterations ({:.1}%) \
                         were not started (no free agent: raise the pool's most agents or lower \
                         the rate; a `dropped_iterations()` objective sets another bound)",
                        schedule.dropped,
                        100.0 * schedule.dropped as f64 / due as f64
                    ));
                }
            }
            let completed: u64 = load.iterations.iter().map(|i| i.completed).sum();
            let failed: u64 = load.iterations.iter().map(|i| i.failed).sum();
            if completed == 0 && failed > 0 {
                let first = load
                    .iterations
                    .iter()
                    .flat_map(|i| i.failures.iter().map(move |f| (i, f)))
                    .next()
                    .map(|(i, f)| {
                        format!(
                            " (first: agent `{}`, {}: {})",
                            i.agent,
                            f.kind,
                            first_sample(f)
                        )
                    })
                    .unwrap_or_default();
                problems.push(format!(
                    "no iteration succeeded: {failed} of {} failed{first}",
                    failed + load.panics()
                ));
            }
            let panics = load.panics();
            if panics > 0 {
                let first = load
                    .iterations
                    .iter()
                    .flat_map(|i| i.panics.iter().map(move |p| (i, p)))
                    .next()
                    .map(|(i, p)| {
                        format!(
                            " (first: agent `{}` #{:?}: {})",
                            i.agent,
                            p.agent_ids.first().unwrap_or(&0),
                            p.message
                        )
                    })
                    .unwrap_or_default();
                problems.push(format!("{panics} agent iteration(s) panicked{first}"));
            }
            // A segment sees part of the load: only the merge of all segments judges it.
            if load.config.segment.is_none() {
                for o in load.objectives.iter().filter(|o| !o.passed) {
                    problems.push(format!("objective not met: {}", o.objective));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::scenario;

    fn texts(load: &LoadReport) -> Vec<String> {
        ScenarioReport::doubts_of(Some(load))
            .into_iter()
            .map(|d| d.text)
            .collect()
    }

    #[test]
    fn a_saturated_generator_is_in_doubt_for_a_quarter_of_the_load_and_a_second() {
        let mut load = scenario().load.unwrap();
        let mut generator = GeneratorReport {
            cores: 2,
            cpu_mean: 0.7,
            cpu_peak: 0.99,
            sampled_s: 10.0,
            saturated_s: 2.4,
        };
        load.generator = Some(generator.clone());
        assert!(texts(&load).is_empty(), "under a quarter");
        generator.saturated_s = 2.5;
        load.generator = Some(generator.clone());
        assert_eq!(
            texts(&load),
            [
                "the load generator was saturated: at least 90% of its 2 core(s) busy for 2.5 of \
              10.0 s (peak 99%), so its own delays are in every latency; use a release build, \
              fewer agents, or more machines (`--segment`)"
            ]
        );
        generator.sampled_s = 1.5;
        generator.saturated_s = 0.9;
        load.generator = Some(generator);
        assert!(texts(&load).is_empty(), "under a second");
    }

    #[test]
    fn dropping_over_5_percent_fails_unless_bounded_or_a_capacity_search() {
        let mut load = scenario().load.unwrap();
        load.objectives.clear();
        let lateness = load.total.latency_ms.clone();
        load.schedule = Some(ScheduleReport {
            started: 94,
            dropped: 6,
            start_lateness_ms: lateness,
        });
        let problems = |l: &LoadReport| ScenarioReport::problems_of(None, Some(l));
        assert!(
            problems(&load)[0].starts_with(
                "the load did not run as planned: 6 of 100 due iterations (6.0%) were not started"
            ),
            "{:?}",
            problems(&load)
        );
        let schedule = load.schedule.as_mut().unwrap();
        (schedule.started, schedule.dropped) = (95, 5);
        assert!(
            problems(&load)
                .iter()
                .all(|p| !p.contains("did not run as planned")),
            "5% is within the bound"
        );
        load.schedule.as_mut().unwrap().dropped = 50;
        load.capacity = Some(CapacityReport {
            rate: Some(100.0),
            broke_first: None,
            curve: vec![],
        });
        assert!(
            problems(&load)
                .iter()
                .all(|p| !p.contains("did not run as planned")),
            "a capacity search drops on purpose"
        );
    }

    #[test]
    fn start_lateness_is_judged_against_the_tightest_latency_objective() {
        let mut load = scenario().load.unwrap();
        let mut lateness = load.total.latency_ms.clone();
        lateness.p99 = 2.5;
        load.schedule = Some(ScheduleReport {
            started: 100,
            dropped: 0,
            start_lateness_ms: lateness.clone(),
        });
        // The fixture's tightest latency objective is 20 ms: 10% is 2 ms.
        let got = texts(&load);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0]
                .starts_with("iterations started late: start lateness p99 2.5 ms is beyond 2.0 ms"),
            "{got:?}"
        );
        // With no latency objective, the bound is 100 ms.
        load.objectives.retain(|o| o.unit != "ms");
        assert!(texts(&load).is_empty());
        lateness.p99 = 150.0;
        load.schedule.as_mut().unwrap().start_lateness_ms = lateness;
        assert!(texts(&load)[0].contains("beyond 100.0 ms (the bound with no latency objective)"));
    }
}
