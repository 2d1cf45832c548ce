//! The executor: follows a load plan by spawning agent tasks on the scenario's runtime, ends the
//! run on time with a bounded graceful stop, and catches agent panics. It schedules; it does not
//! measure (agents record into the recorder) and it does not judge (the scenario hands it a
//! `judge` that may end the run early).
//!
//! - `closed`: users with active intervals, looping over their agent.
//! - `open`: iterations due on a schedule, started on a bounded pool of agents.
//! - `capacity`: a capacity search, one open step after another.

mod capacity;
mod closed;
mod open;

pub(crate) use capacity::{Step, run_capacity};

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Once};
use std::task::Poll;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::agent::{Agent, AgentFn, AgentFuture, Stop};
use crate::http::{CheckFailed, HttpClient, HttpError};
use crate::load::{ClosedPlan, OpenPlan};
use crate::metrics::{CpuMeter, CpuUse, IterationOutcome, Recorder};
use crate::report::{StopInfo, StopReason};
use crate::segment::Segment;
use crate::workflow::StepError;

/// After this many connection errors with not a single response, the target is taken to be
/// unreachable and the run is aborted instead of spinning until its end.
pub(crate) const UNREACHABLE_AFTER: u64 = 10;
/// How often the supervisor looks at the run.
const SUPERVISE_EVERY: Duration = Duration::from_millis(20);
/// How often the judge is asked whether the run should go on.
const JUDGE_EVERY: Duration = Duration::from_secs(1);

/// Says, given the time since the start, why the run must end now (an objective marked to abort
/// the run is lost), or `None`.
pub(crate) type Judge<'a> = &'a (dyn Fn(Duration) -> Option<String> + Send + Sync);

/// Picks agents in proportion to their weights, interleaved (smooth weighted round-robin), so a
/// ramp-up starts a mix, not one kind first, and an open model's iterations are mixed alike.
pub(crate) struct Picker {
    weights: Vec<i64>,
    current: Vec<i64>,
    total: i64,
}

impl Picker {
    pub(crate) fn new(agents: &[AgentFn]) -> Self {
        let weights: Vec<i64> = agents.iter().map(|a| i64::from(a.weight())).collect();
        Picker {
            total: weights.iter().sum(),
            current: vec![0; weights.len()],
            weights,
        }
    }

    /// The index of the next agent.
    pub(crate) fn next(&mut self) -> usize {
        for (c, w) in self.current.iter_mut().zip(&self.weights) {
            *c += w;
        }
        let best = (0..self.weights.len())
            .max_by_key(|&i| (self.current[i], -(i as i64)))
            .unwrap_or(0);
        self.current[best] -= self.total;
        best
    }
}

/// Assigns each of `users` users an agent (an index into `agents`); see [`Picker`].
pub(crate) fn assign(agents: &[AgentFn], users: usize) -> Vec<usize> {
    let mut picker = Picker::new(agents);
    (0..users).map(|_| picker.next()).collect()
}

/// Everything one run needs besides its plan.
pub(crate) struct Run<'a> {
    pub(crate) agents: &'a [AgentFn],
    pub(crate) seed: u64,
    pub(crate) client: HttpClient,
    pub(crate) recorder: Recorder,
    pub(crate) interrupt: Arc<Stop>,
    pub(crate) target: &'a str,
    /// The start of the run (the recorder's origin).
    pub(crate) start: Instant,
    pub(crate) graceful_stop: Duration,
    pub(crate) judge: Option<Judge<'a>>,
    /// The part of the load this process runs.
    pub(crate) segment: Segment,
}

/// How a run went, as far as scheduling is concerned.
pub(crate) struct Executed {
    pub(crate) stop: StopInfo,
    pub(crate) elapsed: Duration,
    pub(crate) cancelled: u64,
    /// How busy the generator was until the stop.
    pub(crate) cpu: CpuUse,
}

/// Runs a closed model to its end.
pub(crate) async fn run_closed(plan: &ClosedPlan, run: Run<'_>) -> Executed {
    closed::run(plan, run).await
}

/// Runs an open model to its end.
pub(crate) async fn run_open(plan: &OpenPlan, run: Run<'_>) -> Executed {
    open::run(plan, run).await
}

/// Watches a run's tasks until the run is over (`done` says why when every task ended by
/// itself), then stops them: gracefully, and after `graceful_stop` by cancelling them, counting
/// the iterations still in flight (`active`).
async fn supervise(
    run: &Run<'_>,
    stop: &Stop,
    tasks: &mut JoinSet<()>,
    deadline: Option<Instant>,
    done: StopReason,
    active: &(dyn Fn() -> u64 + Sync),
) -> Executed {
    let mut tick = tokio::time::interval(SUPERVISE_EVERY);
    let mut cpu = CpuMeter::start();
    let mut next_judgement = run.start + JUDGE_EVERY;
    let reason = loop {
        tokio::select! {
            biased;
            () = run.interrupt.wait() => break StopInfo::new(StopReason::Interrupted, None),
            () = sleep_until_opt(deadline) => break StopInfo::new(StopReason::Duration, None),
            joined = tasks.join_next() => match joined {
                None => break StopInfo::new(done, None),
                Some(result) => check_join(result),
            },
            _ = tick.tick() => {
                let now = Instant::now();
                cpu.sample(now);
                run.recorder.active_agents(now, active());
                let errors = run.recorder.connect_errors();
                if errors >= UNREACHABLE_AFTER && !run.recorder.has_response() {
                    let detail = format!(
                        "target {} is unreachable: {errors} connection errors and no response",
                        run.target
                    );
                    break StopInfo::new(StopReason::Aborted, Some(detail));
                }
                if let Some(judge) = run.judge
                    && now >= next_judgement
                {
                    next_judgement += JUDGE_EVERY;
                    if let Some(why) = judge(now - run.start) {
                        break StopInfo::new(StopReason::ObjectiveLost, Some(why));
                    }
                }
            }
        }
    };
    stop.set();
    let cpu = cpu.finish(Instant::now());
    let drained = tokio::time::timeout(run.graceful_stop, async {
        while let Some(result) = tasks.join_next().await {
            check_join(result);
        }
    })
    .await;
    let mut cancelled = 0;
    if drained.is_err() {
        cancelled = active();
        tasks.abort_all();
        while let Some(result) = tasks.join_next().await {
            check_join(result);
        }
    }
    let elapsed = run.start.elapsed();
    tracing::debug!(?reason, ?elapsed, cancelled, "run ended");
    Executed {
        stop: reason,
        elapsed,
        cancelled,
        cpu,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A task ends on its own terms or is cancelled; a panic here would be a windtunnel bug
/// (agent panics are caught per iteration), so it is reported loudly, never swallowed.
fn check_join(result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs iteration `n` of `agent`, started `lateness` after its intended start, and records how
/// it ended; a panic is caught and counted.
async fn iterate(
    def: &AgentFn,
    agent: &mut Agent,
    recorder: &Recorder,
    n: u64,
    lateness: Duration,
    arrival: Option<u64>,
) {
    agent.set_iteration(n, lateness, arrival);
    let name = def.name();
    let began = Instant::now();
    let ended = catch_panic(def.call(agent)).await;
    // From the intended start: what the iteration's user waited, delays in starting it included.
    let took = began.elapsed() + lateness;
    recorder.variations(agent.choices(), !matches!(ended, Ok(Ok(()))));
    match ended {
        Ok(Ok(())) => recorder.iteration_ended(name, IterationOutcome::Completed, took),
        Ok(Err(e)) => {
            // The journey's variations tell a failing one apart.
            let message = match agent.choices_text() {
                Some(choices) => format!("{e:#} [{choices}]"),
                None => format!("{e:#}"),
            };
            let class = failure_class(&e);
            recorder.iteration_ended(
                name,
                IterationOutcome::Failed {
                    class,
                    message: &message,
                    injected: agent.last_request_injected(),
                },
                took,
            );
        }
        Err(message) => {
            tracing::warn!(agent = agent.id(), %message, "agent panicked");
            recorder.iteration_ended(
                name,
                IterationOutcome::Panicked {
                    agent_id: agent.id(),
                    message: &message,
                },
                took,
            );
        }
    }
    // An iteration that awaited nothing (it returned at once, or failed before its first
    // request) must still let the runtime run the supervisor: its deadline, the scenario's
    // timeout and Ctrl-C. This yields once the task's cooperative budget is spent, which a
    // real request spends anyway.
    tokio::task::coop::consume_budget().await;
}

/// Why an iteration failed, in one word: a failed check, an HTTP error, a workflow step (a wait
/// that timed out, a retry that gave up), or the agent's own error.
fn failure_class(e: &anyhow::Error) -> &'static str {
    if e.downcast_ref::<CheckFailed>().is_some() {
        "check"
    } else if e.downcast_ref::<HttpError>().is_some()
        || matches!(e.downcast_ref::<StepError>(), Some(StepError::Http(_)))
    {
        "http"
    } else if e.downcast_ref::<StepError>().is_some() {
        "step"
    } else {
        "error"
    }
}

thread_local! {
    /// Set while an agent's future is being polled, so the panic hook stays quiet for panics
    /// that are caught, counted and reported.
    static IN_AGENT: Cell<bool> = const { Cell::new(false) };
    /// The message and location of the last agent panic on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_AGENT.with(Cell::get) {
                let message = panic_text(info.payload());
                let text = match info.location() {
                    Some(l) => format!("{message} (at {}:{})", l.file(), l.line()),
                    None => message,
                };
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Polls an agent iteration, turning a panic into `Err(message)`.
fn catch_panic(
    mut fut: AgentFuture<'_>,
) -> impl Future<Output = Result<anyhow::Result<()>, String>> + '_ {
    std::future::poll_fn(move |cx| {
        IN_AGENT.with(|f| f.set(true));
        let polled = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)));
        IN_AGENT.with(|f| f.set(false));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
            Err(payload) => {
                let message = LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| panic_text(&*payload));
                Poll::Ready(Err(message))
            }
        }
    })
}

/// A run of `agents` for the executor's tests: seed 1, a client for a closed port, 5 s of
/// graceful stop, no judge.
#[cfg(test)]
pub(crate) fn test_run<'a>(agents: &'a [AgentFn], recorder: &Recorder, start: Instant) -> Run<'a> {
    let url = reqwest::Url::parse("http://127.0.0.1:9").expect("a valid URL");
    Run {
        agents,
        seed: 1,
        client: HttpClient::new(&url, Duration::from_secs(1), &Default::default())
            .expect("a client"),
        recorder: recorder.clone(),
        interrupt: Arc::new(Stop::default()),
        target: "http://127.0.0.1:9",
        start,
        graceful_stop: Duration::from_secs(5),
        judge: None,
        segment: Segment::WHOLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn noop<'a>(_: &'a mut Agent) -> AgentFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    #[test]
    fn assignment_follows_weights_exactly_per_cycle_and_interleaves() {
        let agents = [AgentFn::new("a", 3, noop), AgentFn::new("b", 1, noop)];
        let got = assign(&agents, 8);
        assert_eq!(got.iter().filter(|&&i| i == 0).count(), 6);
        assert_eq!(got.iter().filter(|&&i| i == 1).count(), 2);
        // Not all of `a` first: `b` appears within the first cycle of 4.
        assert!(got[..4].contains(&1), "{got:?}");
        assert_eq!(assign(&agents, 1), vec![0]);
        let one = [AgentFn::new("only", 5, noop)];
        assert_eq!(assign(&one, 3), vec![0, 0, 0]);
    }

    #[tokio::test]
    async fn a_panic_becomes_a_message_with_its_location() {
        install_panic_hook();
        let fut: AgentFuture<'static> = Box::pin(async {
            if true {
                panic!("boom {}", 7);
            }
            Ok(())
        });
        let err = catch_panic(fut).await.unwrap_err();
        assert!(err.starts_with("boom 7 (at "), "{err}");
        assert!(err.contains("executor"), "{err}");
        let fine: AgentFuture<'static> = Box::pin(async { Ok(()) });
        assert!(catch_panic(fine).await.unwrap().is_ok());
    }
}
