//! Attribute macros of [windtunnel](https://docs.rs/windtunnel): `#[agent]` and `#[scenario]`.
//!
//! Use them through the `windtunnel` crate (`use windtunnel::prelude::*;`); the generated code
//! names `::windtunnel` paths only, so users never depend on this crate or on `inventory`.

mod attr;
mod expand;

use proc_macro::TokenStream;

/// Turns `async fn name(a: &mut Agent) -> Result<()>` into an agent: a `const` of type
/// `windtunnel::AgentFn` with the same name, to hand to `Scenario::agents`.
///
/// Keys: `weight = 3` (how many users of this agent per user of a weight-1 agent; default 1),
/// `name = "shopper"` (default: the function's name).
#[proc_macro_attribute]
pub fn agent(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::agent(args.into(), item.into()).into()
}

/// Registers `async fn name(s: Scenario) -> Result<()>` as a scenario: one test of the
/// `windtunnel::main!()` harness.
///
/// Keys: `name = "..."` (default: the function's name), `tags = ["nightly", ...]`, `ignore`
/// (or `ignore = true`), `timeout = "5m"` (a humantime duration; default 10 minutes).
#[proc_macro_attribute]
pub fn scenario(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::scenario(args.into(), item.into()).into()
}
