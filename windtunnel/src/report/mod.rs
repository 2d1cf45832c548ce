//! The report model: plain serde data, versioned ([`SCHEMA_VERSION`]). Every output — JSON, JUnit,
//! the terminal summary — is a function of it, so reports render outside a test run too.
//!
//! The JSON Schema of [`Report`] is published at `windtunnel/schemas/report.v8.schema.json`.

mod assemble;
mod exact;
mod findings;
#[cfg(test)]
pub(crate) mod fixture;
mod gitlab;
mod html;
mod junit;
mod markdown;
mod merge;
mod model;
mod rerun;
mod store;
mod summary;
pub mod untrusted;
mod verdict;

pub use exact::ExactMetrics;
pub use findings::{Evidence, Finding, FindingType, Severity, findings};
pub use gitlab::to_load_performance;
pub use html::to_html;
pub use junit::to_junit_xml;
pub use markdown::{scenario_markdown, to_markdown};
pub use merge::{MergeError, Part, merge};
pub(crate) use model::MAX_LISTED_FAULTS;
pub use model::{
    AgentAssignment, CapacityReport, CapacityStep, CheckReport, ErrorReport, GeneratorReport,
    InjectedFault, IterationReport, LatencyReport, LoadConfig, LoadReport, Outcome, PanicReport,
    Percentiles, PhaseReport, PoolConfig, Report, RequestReport, RuleReport, SCHEMA_VERSION,
    ScenarioReport, ScheduleReport, SeriesPoint, SeriesReport, ServiceReport, Setting, StageConfig,
    StepReport, StopInfo, StopReason, TapeRef, ToolInfo, ToxicReport, TurbulenceReport,
    VariationReport, VariationValue,
};
pub use rerun::{Program, REPLAY_FLAGS, Rerun, RerunError, Runner, is_valid_run_id};
pub use store::{
    GITHUB_STEP_SUMMARY, OLDEST_READABLE_SCHEMA, ReadError, ReportError, StoredRun,
    append_to_step_summary, list_runs, prune_runs, read_report, write_atomically,
};
pub(crate) use store::{ReportStore, now_rfc3339, resolve_root};
pub(crate) use summary::value as format_value;
pub use summary::{failure_message, scenario_summary};
