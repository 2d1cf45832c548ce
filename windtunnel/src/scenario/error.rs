//! Why a scenario's load could not start.

use crate::http::ClientError;
use crate::turbulence::{ProxyError, TurbulenceError};

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
    /// A service cannot be used: a bad name, a name given twice, a target that is no URL or
    /// catalog combination.
    #[error("scenario `{name}`: service `{service}`: {reason}")]
    InvalidService {
        /// The scenario.
        name: String,
        /// The service's name.
        service: String,
        /// What is wrong.
        reason: String,
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
    /// The fault tape given with `--tape` does not fit the scenario: another scenario's, other
    /// turbulence, another seed, or incomplete.
    #[error("scenario `{name}`: cannot replay the fault tape: {reason}")]
    Tape {
        /// The scenario.
        name: String,
        /// Why not.
        reason: String,
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
