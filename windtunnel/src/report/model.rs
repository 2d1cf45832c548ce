//! The types of the report, and how a run's metrics become a [`LoadReport`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::agent::AgentFn;
use crate::executor::ClosedModel;
use crate::metrics::{ErrorClass, MetricsSnapshot, RequestMetrics};
use crate::objectives::{Objective, ObjectiveResult};

/// The version of the report format. It changes when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// One run of a test binary (or, under nextest, of every binary sharing `NEXTEST_RUN_ID`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
pub enum Outcome {
    /// Still running (or the process died before it ended).
    Running,
    /// The body returned `Ok` and every objective held.
    Passed,
    /// The body failed, panicked or timed out, the load was aborted, an agent panicked, or an
    /// objective did not hold.
    Failed,
    /// Ignored (`#[scenario(ignore)]`) and not asked for.
    Skipped,
    /// Stopped by Ctrl-C.
    Interrupted,
}

/// One scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// The seed its agents' generators were derived from.
    pub seed: u64,
    /// The command that runs it again with the same seed.
    pub replay: String,
    /// When it started (RFC 3339, UTC); `None` when skipped.
    pub started_at: Option<String>,
    /// When it ended (RFC 3339, UTC).
    pub ended_at: Option<String>,
    /// Wall time in seconds.
    pub duration_s: f64,
    /// The load, if the body ran one.
    pub load: Option<LoadReport>,
}

/// One load: its configuration, how it ended, and what was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The load's configuration.
    pub config: LoadConfig,
    /// Why it stopped.
    pub stop: StopInfo,
    /// From the first user's start to the end of the graceful stop, in seconds.
    pub elapsed_s: f64,
    /// In-flight iterations cancelled after the graceful stop.
    pub cancelled_iterations: u64,
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
}

/// The configuration of a load, as resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadConfig {
    /// The load model: `closed`.
    pub model: String,
    /// The base URL.
    pub target: String,
    /// Concurrent users.
    pub users: u32,
    /// Ramp-up in seconds.
    pub ramp_up_s: f64,
    /// Duration in seconds, if bounded by time.
    pub duration_s: Option<f64>,
    /// Iterations per user, if bounded by count.
    pub iterations: Option<u64>,
    /// Graceful stop in seconds.
    pub graceful_stop_s: f64,
    /// Request timeout in seconds.
    pub request_timeout_s: f64,
    /// The agents and how many users each got.
    pub agents: Vec<AgentAssignment>,
}

impl LoadConfig {
    pub(crate) fn closed(
        target: &str,
        model: &ClosedModel,
        request_timeout: Duration,
        agents: &[AgentFn],
        assignment: &[usize],
    ) -> Self {
        LoadConfig {
            model: "closed".into(),
            target: target.to_owned(),
            users: model.users,
            ramp_up_s: model.ramp_up.as_secs_f64(),
            duration_s: model.duration.map(|d| d.as_secs_f64()),
            iterations: model.iterations,
            graceful_stop_s: model.graceful_stop.as_secs_f64(),
            request_timeout_s: request_timeout.as_secs_f64(),
            agents: agents
                .iter()
                .enumerate()
                .map(|(i, a)| AgentAssignment {
                    name: a.name().to_owned(),
                    weight: a.weight(),
                    users: assignment.iter().filter(|&&x| x == i).count() as u32,
                })
                .collect(),
        }
    }
}

/// An agent of a load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentAssignment {
    /// Its name.
    pub name: String,
    /// Its weight.
    pub weight: u32,
    /// How many users ran it.
    pub users: u32,
}

/// Why a load stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Its duration was over.
    Duration,
    /// Every user finished its iterations.
    Iterations,
    /// It was aborted (the target was unreachable).
    Aborted,
    /// Ctrl-C.
    Interrupted,
    /// The scenario's timeout hit while the load ran.
    TimedOut,
}

/// Why a load stopped, with details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Latency of every request, failed ones included.
    pub latency_ms: LatencyReport,
    /// Responses per status code.
    pub statuses: BTreeMap<String, u64>,
    /// Failures grouped by kind, with samples.
    pub errors: Vec<ErrorReport>,
}

/// Latency statistics in milliseconds, from an HDR histogram at 3 significant digits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
pub struct ErrorReport {
    /// The kind (`connect`, `timeout`, `request`, `status`, `operation`; for iterations:
    /// `check`, `http`, `error`).
    pub kind: String,
    /// How many.
    pub count: u64,
    /// A few distinct messages.
    pub samples: Vec<String>,
}

/// One check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Its name.
    pub name: String,
    /// Passes.
    pub passed: u64,
    /// Failures.
    pub failed: u64,
    /// A few distinct failure messages.
    pub samples: Vec<String>,
}

/// The iterations of one agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
}

/// Agent panics with one message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PanicReport {
    /// The panic message and location.
    pub message: String,
    /// How many times.
    pub count: u64,
    /// The ids of the first agents that hit it.
    pub agent_ids: Vec<u64>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn errors(classes: impl IntoIterator<Item = (String, ErrorClass)>) -> Vec<ErrorReport> {
    let mut out: Vec<ErrorReport> = classes
        .into_iter()
        .map(|(kind, c)| ErrorReport {
            kind,
            count: c.count,
            samples: c.samples,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
    out
}

impl RequestReport {
    fn from_metrics(name: &str, m: &RequestMetrics, elapsed: Duration) -> Self {
        let h = &m.histogram;
        let empty = h.is_empty();
        let q = |q: f64| {
            if empty {
                0.0
            } else {
                ms(h.value_at_quantile(q))
            }
        };
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
            latency_ms: LatencyReport {
                min: if empty { 0.0 } else { ms(h.min()) },
                mean: if empty { 0.0 } else { h.mean() / 1000.0 },
                p50: q(0.5),
                p90: q(0.9),
                p95: q(0.95),
                p99: q(0.99),
                p999: q(0.999),
                max: if empty { 0.0 } else { ms(h.max()) },
            },
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
        objectives: &[Objective],
    ) -> Self {
        LoadReport {
            config,
            stop,
            elapsed_s: elapsed.as_secs_f64(),
            cancelled_iterations,
            objectives: objectives
                .iter()
                .map(|o| o.evaluate(metrics, elapsed))
                .collect(),
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

impl ScenarioReport {
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
            if let StopReason::Aborted = load.stop.reason {
                let detail = load.stop.detail.as_deref().unwrap_or("no detail");
                problems.push(format!("the load was aborted: {detail}"));
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
            for o in load.objectives.iter().filter(|o| !o.passed) {
                problems.push(format!("objective not met: {}", o.objective));
            }
        }
        problems
    }
}
