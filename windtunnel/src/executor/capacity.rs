//! The capacity search's driver: one constant-rate step after another on the open executor,
//! each judged on its own (and repeated when asked), with [`Search`] deciding the next rate from
//! how the last one fared. A step in which the generator itself was the bottleneck is not a
//! verdict on the SUT: the search stops there.

use std::time::Duration;

use tokio::time::Instant;

use super::{Run, run_open};
use crate::capacity::Search;
use crate::load::{CapacityPlan, OpenPlan, StartTimer, schedule::Curve};
use crate::metrics::{CpuUse, MetricsSnapshot, Recorder, RecorderSettings};
use crate::objectives::{Objective, ObjectiveResult, Span};
use crate::report::{CapacityReport, CapacityStep, StopInfo, StopReason};

/// One step's measurements.
pub(crate) struct Step {
    pub(crate) metrics: MetricsSnapshot,
    pub(crate) elapsed: Duration,
    pub(crate) cpu: CpuUse,
}

/// What a capacity search measured.
pub(crate) struct Searched {
    /// The metrics of every step, merged (for the series over the whole search).
    pub(crate) total: MetricsSnapshot,
    /// The step the report's tables show: the knee's last held repeat, or the first step when
    /// no rate held.
    pub(crate) shown: Step,
    /// Why the search ended: its last step's stop when that was cut short, else the duration.
    pub(crate) stop: StopInfo,
    pub(crate) cancelled: u64,
    /// The objectives as they fared in the shown step.
    pub(crate) objectives: Vec<ObjectiveResult>,
    pub(crate) capacity: CapacityReport,
}

/// How each rate fared: how many of its repeats held.
struct Tally {
    rate: f64,
    held: u32,
}

/// Runs a capacity search. Each step gets a fresh recorder from `settings` and runs what
/// `step` makes of it; `load_start` is when the search began, for the steps' offsets.
/// `generator_bound` says why a step's measurement cannot be trusted (the generator's CPU or its
/// start lateness), if it cannot.
pub(crate) async fn run_capacity<'r>(
    plan: &CapacityPlan,
    settings: &RecorderSettings,
    objectives: &[(Objective, Option<Span>)],
    load_start: Instant,
    generator_bound: impl Fn(&Step, &[ObjectiveResult]) -> Option<String>,
    mut step: impl FnMut(&Recorder) -> Run<'r>,
) -> Searched {
    let mut search = Search::new(plan.start, plan.step, plan.max, plan.bisections);
    let mut total = MetricsSnapshot::new(0);
    let mut curve = Vec::new();
    let mut steps: Vec<(Step, Vec<ObjectiveResult>)> = Vec::new();
    let mut tallies: Vec<Tally> = Vec::new();
    let mut broke_first: Option<(f64, String)> = None;
    let mut bound_from = None;
    let mut cancelled = 0;
    let mut stop = StopInfo::new(StopReason::Duration, None);
    'search: while let Some(rate) = search.next_rate() {
        let mut held = 0;
        for repeat in 1..=plan.repeats {
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
            let measured = Step {
                metrics: snap,
                elapsed: executed.elapsed,
                cpu: executed.cpu.clone(),
            };
            let bound = generator_bound(&measured, &results);
            tracing::info!(
                rate,
                repeat,
                passed,
                p99,
                bound = bound.is_some(),
                "capacity step"
            );
            curve.push(CapacityStep {
                rate,
                repeat,
                passed,
                generator_bound: bound.clone(),
                from_s: from.as_secs_f64(),
                started,
                dropped,
                throughput_rps: requests.count as f64 / secs,
                error_rate: requests.error_rate(),
                p99_ms: p99,
                failed_objectives: failed.clone(),
            });
            total.merge(&measured.metrics);
            cancelled += executed.cancelled;
            let cut_short = !matches!(executed.stop.reason, StopReason::Duration);
            if cut_short {
                stop = executed.stop;
            }
            if bound.is_some() {
                // The generator, not the SUT, limited this step: neither it nor any higher rate
                // says anything about the SUT.
                bound_from = Some(rate);
                steps.push((measured, results));
                break 'search;
            }
            if passed {
                held += 1;
            } else if broke_first.as_ref().is_none_or(|(r, _)| rate < *r) {
                broke_first = Some((rate, failed[0].clone()));
            }
            steps.push((measured, results));
            if cut_short {
                tallies.push(Tally { rate, held });
                break 'search;
            }
        }
        // A rate holds when most of its repeats held.
        let holds = held * 2 > plan.repeats;
        tallies.push(Tally { rate, held });
        search.record(rate, holds);
    }
    let knee = search.capacity();
    // The highest rate at which every repeat held, else the knee itself.
    let lower = knee.map(|k| {
        tallies
            .iter()
            .filter(|t| t.rate <= k && t.held == plan.repeats)
            .map(|t| t.rate)
            .max_by(f64::total_cmp)
            .unwrap_or(k)
    });
    let above = |all_failed: bool| {
        let k = knee?;
        tallies
            .iter()
            .filter(|t| t.rate > k && (t.held * 2 <= plan.repeats) && (!all_failed || t.held == 0))
            .map(|t| t.rate)
            .min_by(f64::total_cmp)
    };
    let upper = above(true).or_else(|| above(false));
    let interval = lower.zip(upper).map(|(l, u)| [l, u]);
    // The step the tables show: the knee's last repeat that held, else the first step.
    let shown_at = knee
        .and_then(|k| {
            curve
                .iter()
                .rposition(|s| s.rate == k && s.passed && s.generator_bound.is_none())
        })
        .unwrap_or(0);
    let (shown, objectives) = if shown_at < steps.len() {
        steps.swap_remove(shown_at)
    } else {
        (
            Step {
                metrics: MetricsSnapshot::new(0),
                elapsed: Duration::ZERO,
                cpu: CpuUse::default(),
            },
            Vec::new(),
        )
    };
    Searched {
        total,
        shown,
        stop,
        cancelled,
        objectives,
        capacity: CapacityReport {
            rate: knee,
            interval,
            at_least: knee.is_some() && upper.is_none(),
            generator_bound_from: bound_from,
            repeats: plan.repeats,
            broke_first: broke_first.map(|(_, o)| o),
            curve,
        },
    }
}
