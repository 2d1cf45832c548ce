//! Runs the scenarios of the `shared-scenarios` library crate: naming the crate in `main!` keeps
//! its registrations, which the linker would otherwise drop.

windtunnel::main!(shared_scenarios);
