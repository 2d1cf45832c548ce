//! The open model: a scheduler task starts each iteration at its intended time on a free agent
//! of a bounded pool, whether or not earlier iterations have finished. An iteration that finds
//! no free agent (and no room to make one) is dropped and counted.
//!
//! Timing: by default the scheduler sleeps on tokio's timer, which ticks every millisecond, and
//! wakes at the tick nearest each intended start (at most half a tick early); one wake serves
//! every iteration due in that tick, so the scheduler costs next to nothing. With
//! `precise_starts()` a ticker thread of its own sleeps until each intended start (the OS wakes
//! it within tens of microseconds) instead, at the price of a thread wake per iteration. Either
//! way the agent measures how late it really started, and that lateness is added to the latency
//! of the iteration's requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::load::schedule::Curve;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use super::{Executed, Picker, Run, check_join, install_panic_hook, iterate, supervise};
use crate::agent::{Agent, AgentFn, Stop};
use crate::http::{HttpClient, Session};
use crate::load::schedule::Arrivals;
use crate::load::{OpenPlan, StartTimer};
use crate::metrics::{Recorder, with_recorder};
use crate::report::StopReason;
use crate::segment::Segment;

/// Half of tokio's timer resolution: the scheduler wakes this much before an intended start,
/// so the timer's rounding up to its next tick lands on the nearest tick.
const HALF_TICK: Duration = Duration::from_micros(500);
/// The longest the ticker thread sleeps before it looks at the stop signal again.
const TICKER_NAP: Duration = Duration::from_millis(20);

pub(super) async fn run(plan: &OpenPlan, run: Run<'_>) -> Executed {
    install_panic_hook();
    let stop = Arc::new(Stop::default());
    let pool = Arc::new(PoolState {
        idle: Mutex::new(vec![Vec::new(); run.agents.len()]),
        created: AtomicU64::new(0),
    });
    let scheduler = Scheduler {
        plan: OpenPlan {
            pool: plan.pool.segment(run.segment),
            ..plan.clone()
        },
        agents: run.agents.to_vec(),
        seed: run.seed,
        client: run.client.clone(),
        recorder: run.recorder.clone(),
        stop: Arc::clone(&stop),
        start: run.start,
        pool: Arc::clone(&pool),
        segment: run.segment,
        senders: Vec::new(),
        tasks: JoinSet::new(),
    };
    let mut tasks: JoinSet<()> = JoinSet::new();
    tasks.spawn(
        with_recorder(run.recorder.clone(), scheduler.run())
            .instrument(tracing::debug_span!("scheduler")),
    );
    let deadline = Some(run.start + plan.curve.duration());
    let active = || pool.busy();
    supervise(
        &run,
        &stop,
        &mut tasks,
        deadline,
        StopReason::Duration,
        &active,
    )
    .await
}

/// What the scheduler and the agents share: which agents are free.
struct PoolState {
    /// Per agent function, the slots of its free agents.
    idle: Mutex<Vec<Vec<usize>>>,
    created: AtomicU64,
}

impl PoolState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<usize>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Agents in an iteration.
    fn busy(&self) -> u64 {
        let idle: usize = self.lock().iter().map(Vec::len).sum();
        self.created.load(Ordering::Acquire) - idle as u64
    }
}

struct Scheduler {
    plan: OpenPlan,
    agents: Vec<AgentFn>,
    seed: u64,
    client: HttpClient,
    recorder: Recorder,
    stop: Arc<Stop>,
    start: Instant,
    pool: Arc<PoolState>,
    /// This process's part of the schedule: the arrivals it owns.
    segment: Segment,
    /// Per slot, the channel that hands its agent an iteration's intended start and its place
    /// in the schedule.
    senders: Vec<mpsc::Sender<(Instant, u64)>>,
    tasks: JoinSet<()>,
}

impl Scheduler {
    async fn run(mut self) {
        let mut picker = Picker::new(&self.agents);
        for _ in 0..self.plan.pool.preallocated {
            let which = picker.next();
            let slot = self.spawn_agent(which);
            self.pool.lock()[which].push(slot);
        }
        let mut picker = Picker::new(&self.agents);
        let segment = self.segment;
        // Every iteration's place in the whole schedule, dropped ones included, with its
        // intended start; a segment skips the arrivals of other segments.
        let mut arrivals = Arrivals::new(self.plan.curve.clone())
            .enumerate()
            .map(|(k, t)| (k as u64, t))
            .filter(move |&(k, _)| segment.owns(k));
        let mut ticks = match self.plan.timer {
            StartTimer::Thread => Some(ticker(
                self.plan.curve.clone(),
                segment,
                self.start,
                Arc::clone(&self.stop),
            )),
            StartTimer::Tick => None,
        };
        // The place in the schedule of the next arrival the picker would pick an agent for:
        // the picker moves on through every arrival, other segments' too, so that each
        // arrival runs the agent it runs in the whole load.
        let mut picked = 0u64;
        // An arrival taken from the schedule when the stop came, not started.
        let mut held = None;
        loop {
            let (k, due) = match &mut ticks {
                Some(ticks) => tokio::select! {
                    biased;
                    () = self.stop.wait() => break,
                    due = ticks.recv() => match due {
                        Some(kd) => kd,
                        None => break,
                    },
                },
                None => {
                    let Some((k, t)) = arrivals.next() else { break };
                    let due = self.start + t;
                    let wake = due.checked_sub(HALF_TICK).unwrap_or(due);
                    if Instant::now() < wake {
                        tokio::select! {
                            biased;
                            () = self.stop.wait() => {
                                held = Some(due);
                                break;
                            }
                            () = tokio::time::sleep_until(wake) => {}
                        }
                    } else if self.stop.is_set() {
                        held = Some(due);
                        break;
                    }
                    (k, due)
                }
            };
            while picked < k {
                picker.next();
                picked += 1;
            }
            let which = picker.next();
            picked += 1;
            let free = self.pool.lock()[which].pop();
            let slot = match free {
                Some(slot) => slot,
                None if self.senders.len() < self.plan.pool.max as usize => self.spawn_agent(which),
                None => {
                    self.recorder.iteration_dropped(due);
                    continue;
                }
            };
            // The slot was free, so its one-place channel is empty and its agent is waiting.
            let _ = self.senders[slot].try_send((due, k));
        }
        // The stop (the end of the schedule, Ctrl-C, an objective lost) can come while
        // iterations are due and not yet started: in the timer's last tick, or while the
        // scheduler was behind. Each of them is counted as dropped, so that every iteration
        // due before the stop is started or dropped.
        let stopped = Instant::now();
        let mut unstarted: Vec<Instant> = held.into_iter().collect();
        match &mut ticks {
            Some(ticks) => {
                while let Some((_, due)) = ticks.recv().await {
                    unstarted.push(due);
                }
            }
            None => unstarted.extend(
                arrivals
                    .by_ref()
                    .map(|(_, t)| self.start + t)
                    .take_while(|&due| due <= stopped),
            ),
        }
        for due in unstarted.into_iter().filter(|&due| due <= stopped) {
            self.recorder.iteration_dropped(due);
        }
        // No more iterations: the run still lasts its whole schedule; then agents finish the
        // iteration they are in (or are cancelled by the supervisor after the graceful stop)
        // and end when their channel closes.
        tokio::select! {
            () = self.stop.wait() => {}
            () = tokio::time::sleep_until(self.start + self.plan.curve.duration()) => {}
        }
        self.senders.clear();
        while let Some(result) = self.tasks.join_next().await {
            check_join(result);
        }
    }

    /// Makes a new agent running `self.agents[which]` and returns its slot.
    fn spawn_agent(&mut self, which: usize) -> usize {
        let slot = self.senders.len();
        let def = self.agents[which].clone();
        let (tx, rx) = mpsc::channel(1);
        self.senders.push(tx);
        self.pool.created.fetch_add(1, Ordering::AcqRel);
        let agent = Agent::new(
            self.segment.global(slot as u64),
            def.name(),
            self.seed,
            Session::new(self.client.clone(), self.recorder.clone()),
            self.recorder.clone(),
            Arc::clone(&self.stop),
        );
        let worker = Worker {
            def,
            which,
            slot,
            agent,
            jobs: rx,
            pool: Arc::clone(&self.pool),
            recorder: self.recorder.clone(),
        };
        let span = tracing::debug_span!("agent", id = slot, name = worker.def.name());
        self.tasks
            .spawn(with_recorder(self.recorder.clone(), worker.run()).instrument(span));
        slot
    }
}

/// Starts a thread that sleeps until each intended start of `curve` that `segment` owns and
/// sends it with its place in the schedule; it ends with the schedule, at the stop signal, or
/// when the receiver is gone.
fn ticker(
    curve: Curve,
    segment: Segment,
    start: Instant,
    stop: Arc<Stop>,
) -> mpsc::UnboundedReceiver<(u64, Instant)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let origin = start.into_std();
    let spawned = std::thread::Builder::new()
        .name("windtunnel-ticker".into())
        .spawn(move || {
            let owned = Arrivals::new(curve)
                .enumerate()
                .map(|(k, t)| (k as u64, t))
                .filter(|&(k, _)| segment.owns(k));
            for (k, t) in owned {
                let due = origin + t;
                loop {
                    let now = std::time::Instant::now();
                    if now >= due {
                        break;
                    }
                    if stop.is_set() {
                        // Not due yet: neither started nor dropped. Those due already were
                        // sent, so that the scheduler counts each one.
                        return;
                    }
                    std::thread::sleep((due - now).min(TICKER_NAP));
                }
                if tx.send((k, Instant::from_std(due))).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        // Without a thread, no iteration starts: say so loudly rather than run an empty load.
        tracing::error!(error = %e, "could not start the ticker thread");
    }
    rx
}

struct Worker {
    def: AgentFn,
    which: usize,
    slot: usize,
    agent: Agent,
    jobs: mpsc::Receiver<(Instant, u64)>,
    pool: Arc<PoolState>,
    recorder: Recorder,
}

impl Worker {
    async fn run(mut self) {
        let mut n = 0;
        while let Some((due, arrival)) = self.jobs.recv().await {
            let lateness = Instant::now().saturating_duration_since(due);
            self.recorder.iteration_started(lateness);
            iterate(
                &self.def,
                &mut self.agent,
                &self.recorder,
                n,
                lateness,
                Some(arrival),
            )
            .await;
            n += 1;
            self.pool.lock()[self.which].push(self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::AgentFuture;
    use crate::load::{Load, Plan, Rate, per_sec, stage};
    use crate::metrics::{MetricsSnapshot, RecorderSettings};
    use crate::{ms, secs};

    fn quick<'a>(a: &'a mut Agent) -> AgentFuture<'a> {
        Box::pin(async move {
            a.measure("op", async { Ok::<_, std::io::Error>(()) })
                .await?;
            Ok(())
        })
    }

    fn slow<'a>(a: &'a mut Agent) -> AgentFuture<'a> {
        Box::pin(async move {
            let op = async {
                tokio::time::sleep(ms(250)).await;
                Ok::<_, std::io::Error>(())
            };
            a.measure("op", op).await?;
            Ok(())
        })
    }

    async fn run_plan(load: impl Into<Load>, agent: AgentFn) -> (Executed, MetricsSnapshot) {
        run_segment(load, &[agent], Segment::WHOLE).await
    }

    async fn run_segment(
        load: impl Into<Load>,
        agents: &[AgentFn],
        segment: Segment,
    ) -> (Executed, MetricsSnapshot) {
        let Plan::Open(plan) = load.into().resolve().unwrap().plan else {
            panic!("not an open model")
        };
        let start = Instant::now();
        let mut settings = RecorderSettings::new(start);
        settings.intended = true;
        let recorder = Recorder::with(settings);
        let mut run = super::super::test_run(agents, &recorder, start);
        run.segment = segment;
        let executed = super::run(&plan, run).await;
        (executed, recorder.snapshot())
    }

    /// Iterations per agent name, as the snapshot counts them.
    fn per_agent(snap: &MetricsSnapshot) -> Vec<(String, u64)> {
        snap.iterations
            .iter()
            .map(|(name, it)| (name.clone(), it.completed))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn segments_split_the_arrivals_and_add_up_to_the_whole() {
        // 0 → 30/s over 1 s, then 30/s for 1 s: 15 + 30 = 45 arrivals, two kinds of agent.
        let load = || {
            Load::ramping_rate([stage(secs(1), per_sec(30)), stage(secs(1), per_sec(30))])
                .pool(4, 8)
        };
        let agents = [AgentFn::new("a", 2, quick), AgentFn::new("b", 1, quick)];
        let (_, whole) = run_segment(load(), &agents, Segment::WHOLE).await;
        assert_eq!(whole.started_and_dropped(), (45, 0));
        let mut started = Vec::new();
        let mut mix: std::collections::BTreeMap<String, u64> = Default::default();
        for i in 1..=4 {
            let (_, snap) = run_segment(load(), &agents, Segment::new(i, 4).unwrap()).await;
            started.push(snap.started_and_dropped().0);
            for (name, n) in per_agent(&snap) {
                *mix.entry(name).or_default() += n;
            }
        }
        // 45 = 12 + 11 + 11 + 11, and each arrival ran the agent it runs in the whole load.
        assert_eq!(started, [12, 11, 11, 11]);
        assert_eq!(mix.into_iter().collect::<Vec<_>>(), per_agent(&whole));
    }

    #[tokio::test]
    async fn the_ticker_thread_sends_only_the_segments_arrivals() {
        // 50/s for 200 ms: 10 arrivals, of which segment 2/3 owns 1, 4 and 7.
        let load = || Load::rate(per_sec(50)).duration(ms(200)).precise_starts();
        let agents = [AgentFn::new("quick", 1, quick)];
        let (_, snap) = run_segment(load(), &agents, Segment::new(2, 3).unwrap()).await;
        assert_eq!(snap.started_and_dropped(), (3, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_constant_rate_starts_every_iteration_on_time() {
        let rate: Rate = per_sec(10);
        let (executed, snap) = run_plan(
            Load::rate(rate).duration(secs(2)).pool(1, 5),
            AgentFn::new("quick", 1, quick),
        )
        .await;
        assert_eq!(executed.stop.reason, StopReason::Duration);
        assert_eq!(executed.elapsed, secs(2));
        assert_eq!(snap.started_and_dropped(), (20, 0));
        assert_eq!(snap.requests["op"].count, 20);
        // Instant iterations: one agent was enough, and nothing started late.
        assert_eq!(snap.lateness.max(), 0);
        let per_second: Vec<u64> = snap.series.points().values().map(|p| p.started).collect();
        assert_eq!(per_second, [10, 10]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_exhausted_pool_drops_iterations_and_counts_them() {
        // Every 100 ms an iteration of 250 ms, on at most 2 agents: those due at 200, 500 and
        // 800 ms find both agents busy.
        let (_, snap) = run_plan(
            Load::rate(per_sec(10)).duration(secs(1)).pool(1, 2),
            AgentFn::new("slow", 1, slow),
        )
        .await;
        assert_eq!(snap.started_and_dropped(), (7, 3));
        assert_eq!(snap.series.points()[&0].dropped, 3);
        assert_eq!(snap.series.points()[&0].active, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_ramping_rate_follows_its_stages() {
        // 0 → 20/s over 1 s (10 iterations), 20/s for 1 s (20).
        let (_, snap) = run_plan(
            Load::ramping_rate([stage(secs(1), per_sec(20)), stage(secs(1), per_sec(20))]),
            AgentFn::new("quick", 1, quick),
        )
        .await;
        let per_second: Vec<u64> = snap.series.points().values().map(|p| p.started).collect();
        assert_eq!(per_second, [10, 20]);
    }
}
