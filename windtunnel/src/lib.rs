//! Load, workflow and resilience tests that run inside `cargo test`.
//!
//! Write agents (what one virtual user does) and scenarios (a load, a target, objectives) as
//! plain `async fn`s; `windtunnel::main!()` turns every scenario into a test of a
//! `harness = false` test binary. `cargo test --test load` runs them, fails the ones whose
//! objectives do not hold, and writes `report.json` and `junit.xml`.
//!
//! # Usage
//!
//! In `Cargo.toml`:
//!
//! ```toml
//! [[test]]
//! name = "load"
//! harness = false
//!
//! [dev-dependencies]
//! windtunnel = "0.1"
//! ```
//!
//! In `tests/load.rs`:
//!
//! ```no_run
//! use windtunnel::prelude::*;
//!
//! /// One iteration of a shopper; each user runs it again and again.
//! #[agent(weight = 3)]
//! async fn shopper(a: &mut Agent) -> Result<()> {
//!     let products: Vec<serde_json::Value> =
//!         a.get("/products").name("list").send().await?.expect_status(200)?.json()?;
//!     let pick = a.rng().choose(&products).context("the catalog is empty")?.clone();
//!     let item = serde_json::json!({ "product_id": pick["id"], "quantity": 1 });
//!     a.post("/cart").json(&item).name("add to cart").send().await?.expect_status(201)?;
//!     a.think(ms(100)..ms(300)).await;
//!     Ok(())
//! }
//!
//! #[agent]
//! async fn browser(a: &mut Agent) -> Result<()> {
//!     a.get("/products").name("list").send().await?.expect_status(200)?;
//!     Ok(())
//! }
//!
//! #[scenario(tags = ["nightly"], timeout = "5m")]
//! async fn checkout_holds_up(s: Scenario) -> Result<()> {
//!     s.target("http://127.0.0.1:8080")
//!         .agents([shopper, browser])
//!         .users(50)
//!         .ramp_up(secs(5))
//!         .duration(secs(30))
//!         .slo(p99("add to cart").below(ms(300)))
//!         .slo(error_rate().below(0.01))
//!         .run()
//!         .await?;
//!     Ok(())
//! }
//!
//! windtunnel::main!();
//! ```
//!
//! Then `cargo test --test load`, with libtest's flags (`--list`, a filter, `--exact`, `--skip`,
//! `--ignored`, `--include-ignored`, `--test-threads`, `--format terse`) and windtunnel's
//! (`--seed`, `--target`, `--tag`, `--out`, `--log`) after `--`. `cargo nextest run` runs each
//! scenario in its own process and still writes one combined report per run.
//!
//! Beyond one machine: `--segment 2/4` runs segment 2 of 4 of each load (its share of users,
//! iterations or arrivals, with the agent ids and seeded decisions of the whole load), and
//! `windtunnel merge` merges the segments' reports exactly ([`report::merge`]).
//!
//! # What is measured
//!
//! Every request's latency, from just before it is sent until its body has been read, goes into
//! HDR histograms (1 µs to 1 h, 3 significant digits) per request name, kept per worker thread
//! and merged exactly at the end: percentiles are never averaged. A request fails when no
//! response arrives (connect error, timeout, reset) or its status is not 200–399 (see
//! [`RequestBuilder::accept_status`]). Checks ([`Response::expect_status`], [`Agent::check`]) are
//! counted apart from request failures.
//!
//! # Known limitations
//!
//! - In a closed model, users are assigned to agents for their lifetime, in proportion to the
//!   weights; open models pick an agent per iteration.
//! - Turbulence phases follow the clock: a request near a phase boundary may fall on either side
//!   in a replay. Within a phase, which requests a fault fires on is exact.
//! - Timeouts: a request times out after 30 s unless set with
//!   [`Scenario::request_timeout`]; a scenario after 10 minutes unless `#[scenario(timeout)]`.

#![doc(test(attr(deny(warnings))))]

mod agent;
mod bounded;
mod capacity;
pub mod compare;
mod config;
mod executor;
mod exporter;
mod harness;
mod http;
pub mod load;
mod metrics;
pub mod objectives;
mod os;
mod plan;
mod progress;
mod provenance;
pub mod redact;
mod registry;
pub mod report;
mod scenario;
mod segment;
mod settings;
mod text;
mod timeset;
pub mod turbulence;
mod workflow;

use std::time::Duration;

#[doc(inline)]
pub use agent::{Agent, AgentFn, AgentRng, ThinkTime, Vars};
#[doc(inline)]
pub use http::{
    CheckFailed, DEFAULT_MAX_RESPONSE_BODY, DEFAULT_REQUEST_TIMEOUT, Expect, HttpError,
    RequestBuilder, Response, Service, ServiceRequests, Subject, Unmet,
};
#[doc(inline)]
pub use load::{Load, Rate, Stage, per_min, per_sec, stage};
#[doc(inline)]
pub use metrics::ErrorKind;
pub use objectives::Objective;
#[doc(inline)]
pub use registry::DEFAULT_SCENARIO_TIMEOUT;
#[doc(inline)]
pub use scenario::{DEFAULT_GRACEFUL_STOP, Scenario, ScenarioError};
#[doc(inline)]
pub use turbulence::{Fault, Jitter, Phase, Proxy, Toxic};
#[doc(inline)]
pub use windtunnel_macros::{agent, scenario};
#[doc(inline)]
pub use workflow::{Backoff, DEFAULT_POLL_INTERVAL, RETRY_STATUSES, Retry, StepError, Wait};

/// `anyhow`, whose error type agents and scenarios return: `?` works on any error.
pub use anyhow;

/// The result of agents and scenarios: any error converts with `?`.
pub type Result<T = (), E = anyhow::Error> = std::result::Result<T, E>;

/// `n` milliseconds.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` seconds.
pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `n` minutes.
pub const fn mins(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

/// What a test file needs: `use windtunnel::prelude::*;`.
pub mod prelude {
    pub use crate::load::{Load, per_min, per_sec, stage};
    pub use crate::objectives::{
        ALL, check_pass_rate, dropped_iteration_count, dropped_iterations, error_rate,
        iteration_failure_rate, iteration_max, iteration_p50, iteration_p90, iteration_p95,
        iteration_p99, max_latency, p50, p90, p95, p99, p999, successful_throughput, throughput,
    };
    pub use crate::turbulence::{Fault, Jitter, Phase, Proxy, Toxic};
    pub use crate::workflow::{Backoff, Retry, Wait};
    pub use crate::{Agent, Expect, Result, Scenario, Service, agent, mins, ms, scenario, secs};
    pub use anyhow::{Context as _, anyhow, bail, ensure};
}

/// Generates the `main` of a `harness = false` test binary that runs every registered scenario.
///
/// Name the library crates whose `#[scenario]`s should run too: the linker drops registrations
/// from a crate the binary never mentions, and naming it keeps them.
///
/// ```ignore
/// windtunnel::main!();                   // scenarios of this binary
/// windtunnel::main!(shared_scenarios);   // ...and those of the crate `shared_scenarios`
/// ```
#[macro_export]
macro_rules! main {
    ($($krate:ident),* $(,)?) => {
        $(
            #[allow(unused_imports)]
            use $krate as _;
        )*

        fn main() -> ::std::process::ExitCode {
            ::windtunnel::__private::run(::windtunnel::__private::Binary {
                package: ::std::env!("CARGO_PKG_NAME"),
            })
        }
    };
}

/// Runs the declarative plan (TOML or JSON) at `path` with windtunnel's flags `args`, as
/// `windtunnel run PLAN [FLAGS]` does: the same settings, engine, reports and exit codes as a
/// `#[scenario]` under `cargo test` (0 passed, 101 failed or inconclusive, 2 bad input, 130 or
/// 143 interrupted). The plan's format is in the README, section "Plans: load tests without Rust".
///
/// ```no_run
/// use std::path::Path;
///
/// let code = windtunnel::run_plan(
///     Path::new("examples/plans/browse.toml"),
///     vec!["--duration".into(), "5s".into()],
/// );
/// # let _ = code;
/// ```
pub fn run_plan(path: &std::path::Path, args: Vec<std::ffi::OsString>) -> std::process::ExitCode {
    plan::run(path, args)
}

/// Not public API. Used by generated code.
#[doc(hidden)]
pub mod __private {
    pub use crate::agent::AgentFuture;
    pub use crate::harness::{Binary, run};
    pub use crate::registry::{ScenarioFuture, ScenarioRegistration};
    pub use inventory;

    /// Builds the `AgentFn` that `#[agent]` defines.
    pub const fn agent_fn(
        name: &'static str,
        weight: u32,
        run: for<'a> fn(&'a mut crate::Agent) -> AgentFuture<'a>,
    ) -> crate::AgentFn {
        crate::AgentFn::new(name, weight, run)
    }
}
