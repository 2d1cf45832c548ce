//! The capacity search's driver: one constant-rate step after another on the open executor,
//! each judged on its own, with [`Search`] deciding the next rate from how the last one fared.

use tokio::time::Instant;

use super::{Run, run_open};
use crate::capacity::Search;
use crate::load::{CapacityPlan, OpenPlan, StartTimer, schedule::Curve};
use crate::metrics::{CpuUse, MetricsSnapshot, Recorder, RecorderSettings};
use crate::objectives::{Objective, ObjectiveResult, Span};
use crate::report::{CapacityReport, CapacityStep, StopInfo, StopReason};

/// What a capacity search measured, all steps together.
pub(crate) struct Searched {
    /// The metrics of every step, merged.
    pub(crate) total: MetricsSnapshot,
    /// Why the search ended: its last step's stop when that was cut short, else the duration.
    pub(crate) stop: StopInfo,
    pub(crate) cancelled: u64,
    pub(crate) cpu: CpuUse,
    /// The objectives as they fared at the capacity found, or at the first step if none held.
    pub(crate) objectives: Vec<ObjectiveResult>,
    pub(crate) capacity: CapacityReport,
}

/// Runs a capacity search. Each step gets a fresh recorder from `settings` and runs what
/// `step` makes of it; `load_start` is when the search began, for the steps' offsets.
pub(crate) async fn run_capacity<'r>(
    plan: &CapacityPlan,
    settings: &RecorderSettings,
    objectives: &[(Objective, Option<Span>)],
    load_start: Instant,
    mut step: impl FnMut(&Recorder) -> Run<'r>,
) -> Searched {
    let mut search = Search::new(plan.start, plan.step, plan.max, plan.bisections);
    let mut total = MetricsSnapshot::new(0);
    let mut curve = Vec::new();
    let mut judged = Vec::new();
    let mut broke_first: Option<(f64, String)> = None;
    let mut cancelled = 0;
    let mut cpu = CpuUse::default();
    let mut stop = StopInfo::new(StopReason::Duration, None);
    while let Some(rate) = search.next_rate() {
        let recorder = Recorder::with(RecorderSettings {
            windows: Vec::new(),
            ..settings.clone()
        });
        let hold = OpenPlan {
            curve: Curve {
                start: rate,
                segments: vec![(plan.hold, rate)],
            },
            pool: plan.pool,
            timer: StartTimer::Tick,
        };
        let run = step(&recorder);
        let from = run.start.duration_since(load_start);
        let executed = run_open(&hold, run).await;
        let snap = recorder.snapshot();
        let results: Vec<_> = objectives
            .iter()
            .map(|(o, _)| o.evaluate(&snap, executed.elapsed, None))
            .collect();
        let failed: Vec<String> = results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.objective.clone())
            .collect();
        let passed = failed.is_empty();
        let requests = snap.total();
        let (started, dropped) = snap.started_and_dropped();
        let secs = executed.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let p99 = requests
            .intended
            .as_ref()
            .filter(|h| !h.is_empty())
            .map_or(0.0, |h| h.value_at_quantile(0.99) as f64 / 1000.0);
        tracing::info!(rate, passed, p99, "capacity step");
        curve.push(CapacityStep {
            rate,
            passed,
            from_s: from.as_secs_f64(),
            started,
            dropped,
            throughput_rps: requests.count as f64 / secs,
            error_rate: requests.error_rate(),
            p99_ms: p99,
            failed_objectives: failed.clone(),
        });
        if !passed && broke_first.as_ref().is_none_or(|(r, _)| rate < *r) {
            broke_first = Some((rate, failed[0].clone()));
        }
        judged.push(results);
        total.merge(&snap);
        cancelled += executed.cancelled;
        cpu.merge(&executed.cpu);
        search.record(rate, passed);
        if !matches!(executed.stop.reason, StopReason::Duration) {
            stop = executed.stop;
            break;
        }
    }
    let at = search
        .capacity()
        .and_then(|c| curve.iter().position(|s| s.rate == c))
        .unwrap_or(0);
    let objectives = if at < judged.len() {
        judged.swap_remove(at)
    } else {
        Vec::new()
    };
    Searched {
        total,
        stop,
        cancelled,
        cpu,
        objectives,
        capacity: CapacityReport {
            rate: search.capacity(),
            broke_first: broke_first.map(|(_, o)| o),
            curve,
        },
    }
}
