//! The executor: runs a load model (so far the closed model: N users, ramp-up, duration and/or
//! iterations) by spawning one task per user on the scenario's runtime, ends the run on time with
//! a bounded graceful stop, and catches agent panics. It schedules; it does not measure.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::task::Poll;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::agent::{Agent, AgentFn, AgentFuture, Stop};
use crate::http::{CheckFailed, HttpClient, HttpError, Session};
use crate::metrics::{IterationOutcome, Recorder, with_recorder};
use crate::report::{StopInfo, StopReason};

/// After this many connection errors with not a single response, the target is taken to be
/// unreachable and the run is aborted instead of spinning until its end.
pub(crate) const UNREACHABLE_AFTER: u64 = 10;
/// How often the supervisor looks at the run.
const SUPERVISE_EVERY: Duration = Duration::from_millis(20);

/// The closed model: a fixed number of users, each running iterations back to back.
#[derive(Clone, Debug)]
pub(crate) struct ClosedModel {
    pub(crate) users: u32,
    pub(crate) ramp_up: Duration,
    pub(crate) duration: Option<Duration>,
    pub(crate) iterations: Option<u64>,
    pub(crate) graceful_stop: Duration,
}

impl ClosedModel {
    /// When user `i` starts, counted from the start of the run: evenly spread over the ramp-up.
    pub(crate) fn start_offset(&self, i: u32) -> Duration {
        if self.users <= 1 {
            return Duration::ZERO;
        }
        self.ramp_up.mul_f64(f64::from(i) / f64::from(self.users))
    }
}

/// Assigns each of `users` users an agent (an index into `agents`), in proportion to the weights
/// and interleaved (smooth weighted round-robin), so a ramp-up starts a mix, not one kind first.
pub(crate) fn assign(agents: &[AgentFn], users: u32) -> Vec<usize> {
    let total: i64 = agents.iter().map(|a| i64::from(a.weight())).sum();
    let mut current = vec![0i64; agents.len()];
    (0..users)
        .map(|_| {
            for (c, a) in current.iter_mut().zip(agents) {
                *c += i64::from(a.weight());
            }
            let best = (0..agents.len())
                .max_by_key(|&i| (current[i], -(i as i64)))
                .unwrap_or(0);
            current[best] -= total;
            best
        })
        .collect()
}

/// Everything one run needs.
pub(crate) struct Run<'a> {
    pub(crate) model: &'a ClosedModel,
    pub(crate) agents: &'a [AgentFn],
    pub(crate) assignment: &'a [usize],
    pub(crate) seed: u64,
    pub(crate) client: HttpClient,
    pub(crate) recorder: Recorder,
    pub(crate) interrupt: Arc<Stop>,
    pub(crate) target: &'a str,
}

/// How a run went, as far as scheduling is concerned.
pub(crate) struct Executed {
    pub(crate) stop: StopInfo,
    pub(crate) elapsed: Duration,
    pub(crate) cancelled: u64,
}

/// Runs the closed model to its end and returns how it ended.
pub(crate) async fn run_closed(run: Run<'_>) -> Executed {
    install_panic_hook();
    let model = run.model;
    let stop = Arc::new(Stop::default());
    let start = Instant::now();
    let mut users: JoinSet<()> = JoinSet::new();
    let mut busy: Vec<Arc<AtomicBool>> = Vec::with_capacity(model.users as usize);
    for (i, &agent_index) in run.assignment.iter().enumerate() {
        let def = run.agents[agent_index];
        let in_iteration = Arc::new(AtomicBool::new(false));
        busy.push(Arc::clone(&in_iteration));
        let user = User {
            id: i as u64,
            def,
            start_at: start + model.start_offset(i as u32),
            iterations: model.iterations,
            seed: run.seed,
            session: Session::new(run.client.clone(), run.recorder.clone()),
            recorder: run.recorder.clone(),
            stop: Arc::clone(&stop),
            in_iteration,
        };
        let span = tracing::debug_span!("agent", id = i, name = def.name());
        users.spawn(with_recorder(run.recorder.clone(), user.run()).instrument(span));
    }

    let deadline = model.duration.map(|d| start + d);
    let mut supervise = tokio::time::interval(SUPERVISE_EVERY);
    let reason = loop {
        tokio::select! {
            biased;
            () = run.interrupt.wait() => break StopInfo::new(StopReason::Interrupted, None),
            () = sleep_until_opt(deadline) => break StopInfo::new(StopReason::Duration, None),
            joined = users.join_next() => match joined {
                None => break StopInfo::new(StopReason::Iterations, None),
                Some(result) => check_join(result),
            },
            _ = supervise.tick() => {
                let errors = run.recorder.connect_errors();
                if errors >= UNREACHABLE_AFTER && !run.recorder.has_response() {
                    let detail = format!(
                        "target {} is unreachable: {errors} connection errors and no response",
                        run.target
                    );
                    break StopInfo::new(StopReason::Aborted, Some(detail));
                }
            }
        }
    };
    stop.set();
    let drained = tokio::time::timeout(model.graceful_stop, async {
        while let Some(result) = users.join_next().await {
            check_join(result);
        }
    })
    .await;
    let mut cancelled = 0;
    if drained.is_err() {
        cancelled = busy.iter().filter(|b| b.load(Ordering::Acquire)).count() as u64;
        users.abort_all();
        while let Some(result) = users.join_next().await {
            check_join(result);
        }
    }
    let elapsed = start.elapsed();
    tracing::debug!(?reason, ?elapsed, cancelled, "run ended");
    Executed {
        stop: reason,
        elapsed,
        cancelled,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A user task ends on its own terms or is cancelled; a panic here would be a windtunnel bug
/// (agent panics are caught per iteration), so it is reported loudly, never swallowed.
fn check_join(result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

struct User {
    id: u64,
    def: AgentFn,
    start_at: Instant,
    iterations: Option<u64>,
    seed: u64,
    session: Session,
    recorder: Recorder,
    stop: Arc<Stop>,
    in_iteration: Arc<AtomicBool>,
}

impl User {
    async fn run(self) {
        tokio::select! {
            () = tokio::time::sleep_until(self.start_at) => {}
            () = self.stop.wait() => return,
        }
        let name = self.def.name();
        let recorder = self.recorder.clone();
        let mut agent = Agent::new(
            self.id,
            name,
            self.seed,
            self.session,
            self.recorder,
            Arc::clone(&self.stop),
        );
        let mut n = 0u64;
        while !self.stop.is_set() && self.iterations.is_none_or(|max| n < max) {
            agent.set_iteration(n);
            self.in_iteration.store(true, Ordering::Release);
            let outcome = catch_panic(self.def.call(&mut agent)).await;
            self.in_iteration.store(false, Ordering::Release);
            match outcome {
                Ok(Ok(())) => recorder.iteration(name, IterationOutcome::Completed),
                Ok(Err(e)) => {
                    let message = format!("{e:#}");
                    let class = failure_class(&e);
                    recorder.iteration(
                        name,
                        IterationOutcome::Failed {
                            class,
                            message: &message,
                        },
                    );
                }
                Err(message) => {
                    tracing::warn!(agent = self.id, %message, "agent panicked");
                    recorder.iteration(
                        name,
                        IterationOutcome::Panicked {
                            agent_id: self.id,
                            message: &message,
                        },
                    );
                }
            }
            n += 1;
        }
    }
}

/// Why an iteration failed, in one word: a failed check, an HTTP error, or the agent's own error.
fn failure_class(e: &anyhow::Error) -> &'static str {
    if e.downcast_ref::<CheckFailed>().is_some() {
        "check"
    } else if e.downcast_ref::<HttpError>().is_some() {
        "http"
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
) -> impl Future<Output = Result<crate::Result<()>, String>> + '_ {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn noop<'a>(_: &'a mut Agent) -> AgentFuture<'a> {
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

    #[test]
    fn ramp_up_spreads_starts_evenly() {
        let m = ClosedModel {
            users: 4,
            ramp_up: Duration::from_secs(2),
            duration: Some(Duration::from_secs(10)),
            iterations: None,
            graceful_stop: Duration::ZERO,
        };
        let starts: Vec<_> = (0..4).map(|i| m.start_offset(i)).collect();
        assert_eq!(starts, [0, 500, 1000, 1500].map(Duration::from_millis));
    }

    fn ticker<'a>(a: &'a mut Agent) -> AgentFuture<'a> {
        Box::pin(async move {
            a.measure("tick", async { Ok::<_, std::io::Error>(()) })
                .await?;
            a.think(Duration::from_millis(100)).await;
            Ok(())
        })
    }

    async fn run_ticker(model: ClosedModel) -> (Executed, crate::metrics::MetricsSnapshot) {
        let agents = [AgentFn::new("ticker", 1, ticker)];
        let assignment = assign(&agents, model.users);
        let url = reqwest::Url::parse("http://127.0.0.1:9").unwrap();
        let recorder = Recorder::new();
        let executed = run_closed(Run {
            model: &model,
            agents: &agents,
            assignment: &assignment,
            seed: 1,
            client: HttpClient::new(&url, Duration::from_secs(1)).unwrap(),
            recorder: recorder.clone(),
            interrupt: Arc::new(Stop::default()),
            target: "http://127.0.0.1:9",
        })
        .await;
        (executed, recorder.snapshot())
    }

    #[tokio::test(start_paused = true)]
    async fn ramp_up_think_time_and_duration_schedule_exactly() {
        // User 0 starts at 0 ms, user 1 at 250 ms; each iteration ticks, then thinks 100 ms.
        // Within 975 ms: user 0 ticks at 0, 100, ..., 900 (10), user 1 at 250, ..., 950 (8).
        let (executed, snap) = run_ticker(ClosedModel {
            users: 2,
            ramp_up: Duration::from_millis(500),
            duration: Some(Duration::from_millis(975)),
            iterations: None,
            graceful_stop: Duration::from_secs(5),
        })
        .await;
        assert_eq!(snap.requests["tick"].count, 18);
        assert_eq!(executed.stop.reason, StopReason::Duration);
        assert_eq!(executed.cancelled, 0);
        // Thinking ends at the stop signal, so the run ends on time, not 100 ms late.
        assert_eq!(executed.elapsed, Duration::from_millis(975));
        let it = &snap.iterations["ticker"];
        assert_eq!((it.completed, it.failed, it.panicked), (18, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn an_iteration_count_ends_the_run_when_every_user_is_done() {
        let (executed, snap) = run_ticker(ClosedModel {
            users: 3,
            ramp_up: Duration::ZERO,
            duration: Some(Duration::from_secs(60)),
            iterations: Some(4),
            graceful_stop: Duration::from_secs(5),
        })
        .await;
        assert_eq!(snap.requests["tick"].count, 12);
        assert_eq!(executed.stop.reason, StopReason::Iterations);
        assert_eq!(executed.elapsed, Duration::from_millis(400));
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
        assert!(err.contains("executor.rs"), "{err}");
        let fine: AgentFuture<'static> = Box::pin(async { Ok(()) });
        assert!(catch_panic(fine).await.unwrap().is_ok());
    }
}
