//! One trial: a scenario run on a runtime of its own, its body a spawned task (so a panic is a
//! `JoinError`, not a crash), bounded by the scenario's timeout, interruptible by Ctrl-C, and
//! recorded in the reports whatever happens.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use libtest_mimic::Failed;
use tracing::Instrument;

use super::Session;
use crate::agent::{Stop, random_seed};
use crate::config::Inconclusive;
use crate::registry::ScenarioInfo;
use crate::report::now_rfc3339;
use crate::report::untrusted::for_terminal;
use crate::report::{Outcome, ScenarioReport, StopReason, failure_message};
use crate::scenario::{Origin, Scenario, ScenarioContext, ScenarioError};

/// The number of the first signal that stopped the run (`SIGINT` 2 from Ctrl-C, `SIGTERM` 15
/// from CI runners, `timeout`, Kubernetes and `docker stop`), 0 while none has. The harness then
/// stops the current load gracefully, writes the reports marked incomplete and exits with 128
/// plus the signal's number (130, 143).
static STOPPED_BY: AtomicI32 = AtomicI32::new(0);

fn signal_name(signal: i32) -> &'static str {
    if signal == SIGTERM {
        "SIGTERM"
    } else {
        "Ctrl-C"
    }
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

fn report(info: &ScenarioInfo, session: &Session, seed: u64) -> ScenarioReport {
    let rerun = session.rerun(info, seed);
    ScenarioReport {
        name: info.name.clone(),
        module: info.module.to_owned(),
        binary: session.target.clone(),
        file: info.file.to_owned(),
        line: info.line,
        tags: info.tags.iter().map(|t| (*t).to_owned()).collect(),
        outcome: Outcome::Running,
        problems: Vec::new(),
        doubts: Vec::new(),
        seed,
        replay: rerun.command_line(),
        rerun: Some(rerun),
        started_at: None,
        ended_at: None,
        duration_s: 0.0,
        load: None,
        findings: Vec::new(),
        settings: Vec::new(),
    }
}

/// The report of a scenario that is ignored and was not asked for.
pub(super) fn skipped(info: &ScenarioInfo, session: &Session) -> ScenarioReport {
    let seed = session
        .config
        .for_scenario(&info.name)
        .seed
        .map_or(0, |s| s.value);
    ScenarioReport {
        outcome: Outcome::Skipped,
        ..report(info, session, seed)
    }
}

pub(super) enum Body {
    Ok,
    /// The body returned an error, or panicked: the message, and whether it was
    /// [`ScenarioError::CheckOnly`](crate::ScenarioError::CheckOnly).
    Failed(String, bool),
    TimedOut,
}

/// Runs a scenario's body on a runtime of its own, bounded by its timeout; a panic is a
/// failure, not a crash. Returns how the body ended and how long it took.
pub(super) fn execute(
    info: &ScenarioInfo,
    ctx: &Arc<ScenarioContext>,
    interrupt: &Arc<Stop>,
) -> Result<(Body, Duration), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("windtunnel-worker")
        .build()
        .map_err(|e| Failed::from(format!("cannot start a tokio runtime: {e}")))?;
    let start = Instant::now();
    let span = tracing::info_span!("scenario", name = %info.name, seed = ctx.seed());
    let body = runtime.block_on(async {
        let watcher = tokio::spawn(watch_signals(Arc::clone(interrupt)));
        let mut task =
            tokio::spawn((info.run)(Scenario::from_context(Arc::clone(ctx))).instrument(span));
        let body = match tokio::time::timeout(info.timeout, &mut task).await {
            Ok(Ok(Ok(()))) => Body::Ok,
            Ok(Ok(Err(e))) => {
                let checked = matches!(
                    e.downcast_ref::<ScenarioError>(),
                    Some(ScenarioError::CheckOnly(_))
                );
                Body::Failed(format!("the scenario returned an error: {e:#}"), checked)
            }
            Ok(Err(join)) if join.is_panic() => {
                let payload = join.into_panic();
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic with a non-string payload".into());
                Body::Failed(format!("the scenario panicked: {msg}"), false)
            }
            Ok(Err(join)) => {
                Body::Failed(format!("the scenario task was cancelled: {join}"), false)
            }
            Err(_) => {
                task.abort();
                let _ = task.await;
                Body::TimedOut
            }
        };
        watcher.abort();
        body
    });
    // Agent code that ignores cancellation must not keep the harness waiting.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok((body, start.elapsed()))
}

/// Runs one scenario; `Err` carries the failure message libtest prints.
pub(super) fn run(info: &ScenarioInfo, session: &Session) -> Result<(), Failed> {
    if STOPPED_BY.load(Ordering::SeqCst) != 0 {
        return Err("not run: the run was interrupted".into());
    }
    let interrupt = Arc::new(Stop::default());
    let mut ctx = ScenarioContext::new(
        info.name.clone(),
        session.config.for_scenario(&info.name),
        random_seed(),
        Arc::clone(&interrupt),
    );
    ctx.progress = true;
    ctx.segment = session.config.segment.clone();
    ctx.tape = session.config.tape.clone();
    ctx.catalog = Arc::new(session.config.catalog.clone());
    if session.plan.is_some() {
        ctx.origin = Origin::Plan;
    }
    let ctx = Arc::new(ctx);
    let mut placeholder = report(info, session, ctx.seed());
    let started_at = now_rfc3339();
    placeholder.started_at = Some(started_at.clone());
    session.record(placeholder);

    let (body, elapsed) = execute(info, &ctx, &interrupt)?;

    let interrupted = interrupt.is_set();
    let (failure, cut_short) = match body {
        Body::Ok if !ctx.ran_a_load_or_said_none() => (
            Some(
                "the body returned without running a load: no request was sent. Await the \
                 load (`.run().await?`), or call `s.without_load()` if the scenario runs none \
                 on purpose"
                    .to_owned(),
            ),
            StopReason::Interrupted,
        ),
        Body::Ok => (None, StopReason::Interrupted),
        Body::Failed(f, _) => (Some(f), StopReason::Aborted),
        Body::TimedOut => (
            Some(format!(
                "the scenario timed out after {}",
                humantime::format_duration(info.timeout)
            )),
            StopReason::TimedOut,
        ),
    };
    let load = ctx.load_report(cut_short);
    let problems = ScenarioReport::problems_of(failure.as_deref(), load.as_ref());
    let doubts: Vec<String> = ScenarioReport::doubts_of(load.as_ref())
        .into_iter()
        .map(|d| d.text)
        .collect();
    let outcome = if interrupted {
        Outcome::Interrupted
    } else if !problems.is_empty() {
        Outcome::Failed
    } else if !doubts.is_empty() && session.config.inconclusive.value == Inconclusive::Fail {
        Outcome::Inconclusive
    } else {
        Outcome::Passed
    };
    let mut done = report(info, session, ctx.seed());
    done.outcome = outcome;
    done.problems = problems;
    done.doubts = doubts;
    done.started_at = Some(started_at);
    done.ended_at = Some(now_rfc3339());
    done.duration_s = elapsed.as_secs_f64();
    done.load = load;
    done.findings = crate::report::findings(&done);
    done.settings = session.settings(ctx.settings());
    let message = failure_message(&done);
    session.record(done);

    if interrupted {
        let signal = match STOPPED_BY.load(Ordering::SeqCst) {
            0 => SIGINT,
            s => s,
        };
        eprintln!(
            "\nwindtunnel: interrupted ({}); reports written (marked incomplete)",
            signal_name(signal)
        );
        session.finish();
        std::process::exit(128 + signal);
    }
    match outcome {
        Outcome::Passed => Ok(()),
        // libtest prints the message as it is: it holds SUT bytes and user names.
        _ => Err(for_terminal(&message).into_owned().into()),
    }
}

/// The next Ctrl-C or SIGTERM, as its signal number; `None` when neither can be watched.
async fn next_signal(term: &mut Option<tokio::signal::unix::Signal>) -> Option<i32> {
    let terminated = async {
        match term {
            Some(t) => t.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.ok().map(|()| SIGINT),
        Some(()) = terminated => Some(SIGTERM),
    }
}

/// First Ctrl-C or SIGTERM: stop the load gracefully (the report says so). Second: exit at once.
async fn watch_signals(interrupt: Arc<Stop>) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let Some(signal) = next_signal(&mut term).await else {
        return;
    };
    STOPPED_BY.store(signal, Ordering::SeqCst);
    interrupt.set();
    eprintln!(
        "\nwindtunnel: stopping on {} ({} again to quit at once)",
        signal_name(signal),
        signal_name(signal)
    );
    if let Some(again) = next_signal(&mut term).await {
        std::process::exit(128 + again);
    }
}
