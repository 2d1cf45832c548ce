//! `--check-config`: every selected scenario's body runs up to `.run()`, which checks the
//! settings against the scenario (target, load model, objectives, turbulence), records each
//! resolved setting with its source, and returns without sending a request. Prints the
//! settings per scenario; exits 0 when all hold, 2 otherwise. No report is written.

use std::process::ExitCode;
use std::sync::Arc;

use super::Session;
use super::trial::{Body, execute};
use crate::agent::Stop;
use crate::registry::ScenarioInfo;
use crate::report::Setting;
use crate::report::untrusted::for_terminal;
use crate::scenario::{Mode, Origin, ScenarioContext};

/// Checks `scenarios` and prints what each would run with.
pub(super) fn run(scenarios: &[&ScenarioInfo], session: &Session) -> ExitCode {
    match &session.config.file {
        Some(f) => {
            println!("settings file: {}", f.doc.path.display());
            let combinations = session.config.catalog.combinations();
            if !combinations.is_empty() {
                println!("targets catalog: {}", combinations.join(", "));
            }
        }
        None => println!(
            "settings file: none (looked for {} in the working directory)",
            crate::config::DEFAULT_FILES.join(" and ")
        ),
    }
    let mut failed = 0;
    for info in scenarios {
        println!("\n{}", info.name);
        let interrupt = Arc::new(Stop::default());
        let mut ctx = ScenarioContext::new(
            info.name.clone(),
            session.config.for_scenario(&info.name),
            0,
            Arc::clone(&interrupt),
        );
        ctx.mode = Mode::CheckOnly;
        ctx.segment = session.config.segment.clone();
        ctx.tape = session.config.tape.clone();
        ctx.catalog = Arc::new(session.config.catalog.clone());
        if session.plan.is_some() {
            ctx.origin = Origin::Plan;
        }
        let ctx = Arc::new(ctx);
        let problem = match execute(info, &ctx, &interrupt) {
            Err(e) => Some(format!("{e:?}")),
            Ok((Body::Failed(_, true), _)) => None,
            Ok((Body::Failed(message, false), _)) => Some(message),
            Ok((Body::TimedOut, _)) => Some(format!(
                "the body did not reach `.run()` within the scenario's timeout ({})",
                humantime::format_duration(info.timeout)
            )),
            Ok((Body::Ok, _)) => {
                println!("  (the body returned without running a load: nothing more to check)");
                None
            }
        };
        print_settings(&session.settings(ctx.settings()));
        if let Some(p) = problem {
            failed += 1;
            println!("  error: {}", for_terminal(&p));
        }
    }
    println!();
    if failed > 0 {
        eprintln!(
            "error: the settings do not hold for {failed} of {} scenario(s); no request was sent",
            scenarios.len()
        );
        ExitCode::from(2)
    } else {
        println!(
            "settings hold for {} scenario(s); no request was sent",
            scenarios.len()
        );
        ExitCode::SUCCESS
    }
}

fn print_settings(settings: &[Setting]) {
    let name_width = settings.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let value_width = settings
        .iter()
        .map(|s| s.value.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    for s in settings {
        println!(
            "  {:name_width$}  {:value_width$}  {}",
            s.name,
            for_terminal(&s.value),
            for_terminal(&s.source)
        );
    }
}
