//! The closed model: one task per user, looping over its agent while the user is active.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use super::{Executed, Run, assign, install_panic_hook, iterate, supervise};
use crate::agent::{Agent, AgentFn, Stop};
use crate::http::Session;
use crate::load::ClosedPlan;
use crate::metrics::{Recorder, with_recorder};
use crate::report::StopReason;

pub(super) async fn run(plan: &ClosedPlan, run: Run<'_>) -> Executed {
    install_panic_hook();
    let stop = Arc::new(Stop::default());
    // A segment runs the users it owns, under their numbers in the whole load, and its share
    // of the shared iterations.
    let shared = plan
        .shared_iterations
        .map(|n| Arc::new(AtomicU64::new(run.segment.share(n))));
    let assignment = assign(run.agents, plan.users.len());
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut busy: Vec<Arc<AtomicBool>> = Vec::new();
    let users = plan.users.iter().zip(&assignment).enumerate();
    for (i, (intervals, &agent_index)) in users.filter(|(i, _)| run.segment.owns(*i as u64)) {
        let def = run.agents[agent_index].clone();
        let in_iteration = Arc::new(AtomicBool::new(false));
        busy.push(Arc::clone(&in_iteration));
        let user = User {
            id: i as u64,
            def,
            intervals: intervals
                .iter()
                .map(|&(from, to)| (run.start + from, to.map(|t| run.start + t)))
                .collect(),
            iterations: plan.iterations,
            shared: shared.clone(),
            seed: run.seed,
            client: run.client.clone(),
            recorder: run.recorder.clone(),
            stop: Arc::clone(&stop),
            in_iteration,
        };
        let span = tracing::debug_span!("agent", id = i, name = user.def.name());
        tasks.spawn(with_recorder(run.recorder.clone(), user.run()).instrument(span));
    }
    let deadline = plan.duration.map(|d| run.start + d);
    let active = || busy.iter().filter(|b| b.load(Ordering::Acquire)).count() as u64;
    // Every user done: they ran their iterations, or the stages brought them all to 0.
    let done = if plan.iterations.is_some() || plan.shared_iterations.is_some() {
        StopReason::Iterations
    } else {
        StopReason::Duration
    };
    supervise(&run, &stop, &mut tasks, deadline, done, &active).await
}

struct User {
    id: u64,
    def: AgentFn,
    intervals: Vec<(Instant, Option<Instant>)>,
    iterations: Option<u64>,
    shared: Option<Arc<AtomicU64>>,
    seed: u64,
    client: crate::http::HttpClient,
    recorder: Recorder,
    stop: Arc<Stop>,
    in_iteration: Arc<AtomicBool>,
}

/// Takes one of the shared iterations, if any are left.
fn claim(shared: &AtomicU64) -> bool {
    shared
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

impl User {
    async fn run(self) {
        let mut agent: Option<Agent> = None;
        let mut n = 0u64;
        for &(from, to) in &self.intervals {
            tokio::select! {
                () = tokio::time::sleep_until(from) => {}
                () = self.stop.wait() => return,
            }
            // The agent (cookies, variables, RNG) lives across the user's active intervals.
            let agent = agent.get_or_insert_with(|| {
                Agent::new(
                    self.id,
                    self.def.name(),
                    self.seed,
                    Session::new(self.client.clone(), self.recorder.clone()),
                    self.recorder.clone(),
                    Arc::clone(&self.stop),
                )
            });
            loop {
                if self.stop.is_set() || to.is_some_and(|to| Instant::now() >= to) {
                    break;
                }
                if self.iterations.is_some_and(|max| n >= max)
                    || self.shared.as_deref().is_some_and(|s| !claim(s))
                {
                    return;
                }
                self.in_iteration.store(true, Ordering::Release);
                iterate(&self.def, agent, &self.recorder, n, Duration::ZERO, None).await;
                self.in_iteration.store(false, Ordering::Release);
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::AgentFuture;
    use crate::load::{Load, Plan, stage};
    use crate::metrics::{MetricsSnapshot, RecorderSettings};
    use crate::segment::Segment;
    use crate::{ms, secs};

    fn ticker<'a>(a: &'a mut Agent) -> AgentFuture<'a> {
        Box::pin(async move {
            a.measure("tick", async { Ok::<_, std::io::Error>(()) })
                .await?;
            a.think(Duration::from_millis(100)).await;
            Ok(())
        })
    }

    pub(crate) async fn run_plan(
        load: impl Into<crate::load::Load>,
        agent: AgentFn,
    ) -> (Executed, MetricsSnapshot) {
        run_segment(load, agent, Segment::WHOLE).await
    }

    async fn run_segment(
        load: impl Into<crate::load::Load>,
        agent: AgentFn,
        segment: Segment,
    ) -> (Executed, MetricsSnapshot) {
        let Plan::Closed(plan) = load.into().resolve().unwrap().plan else {
            panic!("not a closed model")
        };
        let agents = [agent];
        let start = Instant::now();
        let recorder = Recorder::with(RecorderSettings::new(start));
        let mut run = super::super::test_run(&agents, &recorder, start);
        run.segment = segment;
        let executed = super::run(&plan, run).await;
        (executed, recorder.snapshot())
    }

    /// Records each iteration under the agent's id, to see which users a segment ran.
    fn who<'a>(a: &'a mut Agent) -> AgentFuture<'a> {
        Box::pin(async move {
            let name = format!("user {}", a.id());
            a.measure(&name, async { Ok::<_, std::io::Error>(()) })
                .await?;
            a.think(Duration::from_millis(100)).await;
            Ok(())
        })
    }

    #[tokio::test(start_paused = true)]
    async fn segments_run_their_users_and_their_share_of_shared_iterations() {
        let mut users = Vec::new();
        let mut iterations = Vec::new();
        for i in 1..=3 {
            let segment = Segment::new(i, 3).unwrap();
            let load = Load::users(5).ramp_up(ms(500)).shared_iterations(17);
            let (_, snap) = run_segment(load, AgentFn::new("who", 1, who), segment).await;
            users.push(snap.requests.keys().cloned().collect::<Vec<_>>());
            iterations.push(snap.iterations["who"].completed);
        }
        // Users 0..5 striped over 3 segments, under their numbers in the whole load; the 17
        // shared iterations cut 6 + 6 + 5.
        assert_eq!(
            users,
            [
                vec!["user 0", "user 3"],
                vec!["user 1", "user 4"],
                vec!["user 2"]
            ]
        );
        assert_eq!(iterations, [6, 6, 5]);
    }

    fn tick() -> AgentFn {
        AgentFn::new("ticker", 1, ticker)
    }

    #[tokio::test(start_paused = true)]
    async fn ramp_up_think_time_and_duration_schedule_exactly() {
        // User 0 starts at 0 ms, user 1 at 250 ms; each iteration ticks, then thinks 100 ms.
        // Within 975 ms: user 0 ticks at 0, 100, ..., 900 (10), user 1 at 250, ..., 950 (8).
        let (executed, snap) =
            run_plan(Load::users(2).ramp_up(ms(500)).duration(ms(975)), tick()).await;
        assert_eq!(snap.requests["tick"].count, 18);
        assert_eq!(executed.stop.reason, StopReason::Duration);
        assert_eq!(executed.cancelled, 0);
        // Thinking ends at the stop signal, so the run ends on time, not 100 ms late.
        assert_eq!(executed.elapsed, ms(975));
        let it = &snap.iterations["ticker"];
        assert_eq!((it.completed, it.failed, it.panicked), (18, 0, 0));
        // The series: 18 iterations in second 0, two users busy.
        let p = &snap.series.points()[&0];
        assert_eq!((p.requests, p.iterations, p.active), (18, 18, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_iteration_count_ends_the_run_when_every_user_is_done() {
        let (executed, snap) =
            run_plan(Load::users(3).duration(secs(60)).iterations(4), tick()).await;
        assert_eq!(snap.requests["tick"].count, 12);
        assert_eq!(executed.stop.reason, StopReason::Iterations);
        assert_eq!(executed.elapsed, ms(400));
    }

    #[tokio::test(start_paused = true)]
    async fn shared_iterations_are_split_among_the_users() {
        let (executed, snap) = run_plan(Load::users(3).shared_iterations(10), tick()).await;
        assert_eq!(snap.requests["tick"].count, 10);
        assert_eq!(executed.stop.reason, StopReason::Iterations);
        // 3 users take 10 iterations of 100 ms each: 4 rounds.
        assert_eq!(executed.elapsed, ms(400));
    }

    #[tokio::test(start_paused = true)]
    async fn ramping_users_start_and_stop_with_the_stages() {
        // 0 → 2 users over 1 s (user 0 at 0 ms, user 1 at 500 ms), 2 for 1 s, then 2 → 0 over
        // 1 s (user 1 stops at 2.5 s, user 0 at 3 s). User 0 ticks at 0, 100, ..., 2900 (30);
        // user 1 at 500, ..., 2400 (20).
        let (executed, snap) = run_plan(
            Load::ramping_users([stage(secs(1), 2), stage(secs(1), 2), stage(secs(1), 0)]),
            tick(),
        )
        .await;
        assert_eq!(snap.requests["tick"].count, 50);
        assert_eq!(executed.stop.reason, StopReason::Duration);
        let per_second: Vec<u64> = snap.series.points().values().map(|p| p.requests).collect();
        // User 0's last iteration (tick at 2.9 s, then 100 ms of thinking) ends at 3.0 s, in
        // second 3.
        assert_eq!(per_second, [15, 20, 15, 0]);
        assert_eq!(snap.series.points()[&3].iterations, 1);
        let total: u64 = snap.series.points().values().map(|p| p.iterations).sum();
        assert_eq!(total, 50);
    }
}
