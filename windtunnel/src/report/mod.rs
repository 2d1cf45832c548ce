//! The report model: plain serde data, versioned ([`SCHEMA_VERSION`]). Every output — JSON, JUnit,
//! the terminal summary — is a function of it, so reports render outside a test run too.
//!
//! The JSON Schema of [`Report`] is published at `windtunnel/schemas/report.v2.schema.json`.

mod junit;
mod model;
mod store;
mod summary;

pub use junit::to_junit_xml;
pub use model::{
    AgentAssignment, CapacityReport, CapacityStep, CheckReport, ErrorReport, IterationReport,
    LatencyReport, LoadConfig, LoadReport, Outcome, PanicReport, Percentiles, PoolConfig, Report,
    RequestReport, SCHEMA_VERSION, ScenarioReport, ScheduleReport, SeriesPoint, SeriesReport,
    StageConfig, StopInfo, StopReason, ToolInfo,
};
pub use store::{ReportError, write_atomically};
pub(crate) use store::{ReportStore, resolve_root};
pub use summary::{failure_message, scenario_summary};
