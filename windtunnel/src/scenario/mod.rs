//! [`Scenario`]: the typed builder a `#[scenario]` body configures and runs: agents, the load
//! model, the target and the objectives. `run()` validates it all, hands the plan to the
//! executor and turns what the metrics recorded into a [`LoadReport`](crate::report::LoadReport).
//!
//! - `builder`: [`Scenario`] and its setters, what a body writes;
//! - `error`: [`ScenarioError`], why a load cannot start;
//! - `channel`: [`ScenarioContext`], what the harness and a running scenario share;
//! - `resolve`: the builder with the settings from outside, checked into one prepared load;
//! - `settings`: each resolved setting with where it came from, for the report;
//! - `conductor`: `run()`, which drives the executor, judges aborts and assembles the report.

mod builder;
mod channel;
mod conductor;
mod error;
mod resolve;
mod settings;

use std::time::Duration;

pub use builder::Scenario;
pub(crate) use channel::{Mode, Origin, ScenarioContext};
pub use error::ScenarioError;

/// How long in-flight iterations may finish after the run's end before they are cancelled.
/// (Default: 5 seconds.)
pub const DEFAULT_GRACEFUL_STOP: Duration = Duration::from_secs(5);
