//! The types of the report: plain data, read by the renderers and written as JSON. How a
//! run's metrics become them is in `assemble`; what verdict they earn is in `verdict`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::objectives::ObjectiveResult;

/// How many injected faults a report lists; past this they are only counted.
pub(crate) const MAX_LISTED_FAULTS: usize = 10_000;

/// The version of the report format. It changes when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 8;

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
    /// Per service (the target first), its requests together, when the scenario names other
    /// services; empty when it names none.
    #[serde(default)]
    pub services: Vec<ServiceReport>,
    /// Per check, sorted by name.
    pub checks: Vec<CheckReport>,
    /// Per workflow step (a wait, a retried request), sorted by name. Older reports have none.
    #[serde(default)]
    pub steps: Vec<StepReport>,
    /// Per variation the journeys drew (a toggle, a value picked), sorted by name: per value,
    /// how many iterations drew it and how many of them failed. Older reports have none.
    #[serde(default)]
    pub variations: Vec<VariationReport>,
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
    /// The run's fault tape: every decision by identity, written next to the report, which
    /// `windtunnel replay` injects again (`None` in reports before schema 7; in a merged run,
    /// the union of its segments' tapes, `None` when one of them has none).
    #[serde(default)]
    pub tape: Option<TapeRef>,
    /// The SHA-256 of the tape this run replayed (`--tape`), if it replayed one.
    #[serde(default)]
    pub replayed_tape: Option<String>,
    /// The tape's bytes, until the store writes them.
    #[serde(skip)]
    pub(crate) tape_bytes: Option<std::sync::Arc<Vec<u8>>>,
}

/// Where a run's fault tape is, and what it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TapeRef {
    /// The file, relative to the run's directory (`tapes/<scenario>.json`).
    pub file: String,
    /// The SHA-256 of its bytes, in hex.
    pub sha256: String,
    /// HTTP faults it holds.
    pub requests: u64,
    /// Toxic decisions it holds: per connection, occurrence and direction, and, for HTTP
    /// toxics, per request.
    pub connections: u64,
    /// `false` when the run made more decisions than a tape holds: it cannot be replayed
    /// exactly.
    pub complete: bool,
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
    /// `latency`, `bandwidth`, `reset_peer`, `timeout`, `slow_close`, `limit_data`, `down`,
    /// `slicer`, or an HTTP toxic's `http_delay`, `http_abort`, `http_hang`,
    /// `http_drop_request` or `http_drop_response`.
    pub kind: String,
    /// Connection directions it applied to (a refused connection counts once); for an HTTP
    /// toxic, the requests it acted on.
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
    /// HTTP faults: the request's number within its iteration; HTTP toxics: within its
    /// connection.
    pub request_number: Option<u64>,
    /// Toxics: the proxy.
    pub proxy: Option<String>,
    /// Toxics: the connection's number on the proxy.
    pub connection: Option<u64>,
    /// Toxics: `upstream` or `downstream` (`None`: refused at accept, or an HTTP toxic).
    pub direction: Option<String>,
    /// What was drawn, e.g. the delay; for an HTTP toxic, the request's method and path.
    pub detail: Option<String>,
}

/// The result of a capacity search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CapacityReport {
    /// The knee: the highest rate (iterations per second) at which the objectives held (in
    /// most of its repeats); `None` when even the start rate broke one.
    pub rate: Option<f64>,
    /// Where the capacity lies: from the highest rate at which every repeat held (at most the
    /// knee) to the lowest rate above the knee that failed; `None` when `rate` is `None` or no
    /// rate above the knee failed (see `at_least`).
    #[serde(default)]
    pub interval: Option<[f64; 2]>,
    /// The capacity is at least `rate`, and how much more is not known: the search reached its
    /// maximum rate with every objective holding, or the generator became the bottleneck first
    /// (`generator_bound_from`).
    #[serde(default)]
    pub at_least: bool,
    /// The lowest rate at which the load generator itself was the bottleneck (its CPU
    /// saturated, or iterations started late); the search stopped there, and no such step can
    /// be the knee.
    #[serde(default)]
    pub generator_bound_from: Option<f64>,
    /// How many times each rate ran.
    #[serde(default = "one")]
    pub repeats: u32,
    /// The first objective that broke, at the lowest failing rate; `None` if none broke up to
    /// the maximum rate.
    pub broke_first: Option<String>,
    /// Every step, in the order it ran (each repeat a step).
    pub curve: Vec<CapacityStep>,
}

fn one() -> u32 {
    1
}

/// One step of a capacity search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CapacityStep {
    /// The rate asked for.
    pub rate: f64,
    /// Which repeat of the rate this was, from 1.
    #[serde(default = "one")]
    pub repeat: u32,
    /// Whether every objective held.
    pub passed: bool,
    /// Why the load generator, not the SUT, was the bottleneck in this step (its verdict is not
    /// counted); `None` when it was not.
    #[serde(default)]
    pub generator_bound: Option<String>,
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

/// One variation of the journeys ([`Agent::toggle`](crate::Agent::toggle),
/// [`Agent::vary`](crate::Agent::vary), [`Agent::vary_in`](crate::Agent::vary_in), a plan's
/// `vars`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VariationReport {
    /// Its name.
    pub name: String,
    /// Per value drawn (at most 20; further ones count under `(other values)`), sorted.
    pub values: Vec<VariationValue>,
}

/// One value of a variation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VariationValue {
    /// The value, as text (`true`, `M`, `3`).
    pub value: String,
    /// Iterations that drew it.
    pub iterations: u64,
    /// How many of those failed (or panicked).
    pub failed: u64,
}

/// One service of a scenario and its requests together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceReport {
    /// Its name: `target` for the scenario's target.
    pub name: String,
    /// Its base URL (secrets in it redacted).
    pub url: String,
    /// Its requests together (named `*`).
    pub total: RequestReport,
}

/// One workflow step: a wait for a state, or a request retried on purpose. Its attempts are
/// requests in [`LoadReport::requests`] under their own names; a wait's duration is there
/// too, under the step's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StepReport {
    /// Its name.
    pub name: String,
    /// `wait` or `retry`.
    pub kind: String,
    /// How many times it ran.
    pub runs: u64,
    /// Runs that succeeded on their first attempt.
    pub first_attempt: u64,
    /// Runs that succeeded after more than one attempt.
    pub later_attempt: u64,
    /// Runs that gave up: a wait that timed out, a retry out of attempts, a run that stopped.
    pub gave_up: u64,
    /// Attempts of all runs together (requests sent).
    pub attempts: u64,
    /// The most attempts one run took.
    pub max_attempts: u64,
    /// A few distinct reasons for giving up.
    pub samples: Vec<String>,
    /// A wait as an operation: its duration (from its first attempt to the response that met
    /// its conditions, or to giving up) and outcome, judged by objectives on its name; `None`
    /// for a retry, whose requests are its record.
    #[serde(default)]
    pub operation: Option<RequestReport>,
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

impl LoadReport {
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
