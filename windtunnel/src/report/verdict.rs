//! The verdict a report's numbers earn: why a scenario failed ([`ScenarioReport::problems_of`])
//! and why its measurement cannot be trusted ([`ScenarioReport::doubts_of`]). The run and
//! `windtunnel merge` judge with the same rules, from the report alone.

use std::collections::BTreeMap;

use super::model::{ErrorReport, LoadReport, ScenarioReport, StopReason};

/// The share of an open model's due iterations that may go unstarted before the scenario fails,
/// unless it has an objective on dropped iterations of its own.
pub(crate) const MAX_DROPPED: f64 = 0.05;

/// The first sample of an error class, or a word saying it has none.
fn first_sample(e: &ErrorReport) -> &str {
    e.samples.first().map_or("no sample", String::as_str)
}

/// Why a measurement cannot be trusted: what it is about (stable across runs, for findings)
/// and one line with the numbers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Doubt {
    pub(crate) subject: &'static str,
    pub(crate) text: String,
}

impl Doubt {
    fn new(subject: &'static str, text: String) -> Self {
        Doubt { subject, text }
    }
}

/// An open model's start lateness may reach this share of its tightest latency objective's
/// threshold before the measurement is in doubt...
pub(crate) const LATENESS_SHARE: f64 = 0.10;
/// ...but never less than this (tokio's timer ticks every millisecond), in milliseconds...
pub(crate) const LATENESS_FLOOR_MS: f64 = 2.0;
/// ...and this much when no objective judges latency, in milliseconds.
pub(crate) const LATENESS_DEFAULT_MS: f64 = 100.0;
/// The generator's CPU is in doubt when it was saturated this share of the load...
pub(crate) const SATURATED_SHARE: f64 = 0.25;
/// ...and at least this many seconds.
pub(crate) const SATURATED_MIN_S: f64 = 1.0;

impl ScenarioReport {
    /// Why the measurement of this load cannot be trusted, one line each with the numbers
    /// (empty: it can). The load generator is in doubt when its own CPU was saturated (at
    /// least 90% of its cores busy) for [`SATURATED_SHARE`] of the load and
    /// [`SATURATED_MIN_S`], or, in an open model, when the p99 of the start lateness (the
    /// generator's own delay in starting iterations on free agents) exceeds
    /// [`LATENESS_SHARE`] of the tightest latency objective (at least [`LATENESS_FLOOR_MS`];
    /// [`LATENESS_DEFAULT_MS`] with no latency objective).
    pub(crate) fn doubts_of(load: Option<&LoadReport>) -> Vec<Doubt> {
        let mut doubts = Vec::new();
        let Some(load) = load else {
            return doubts;
        };
        if let Some(g) = &load.generator
            && g.saturated_s >= SATURATED_MIN_S
            && g.saturated_s >= SATURATED_SHARE * g.sampled_s
        {
            doubts.push(Doubt::new(
                "generator cpu",
                format!(
                    "the load generator was saturated: at least {:.0}% of its {} core(s) busy for \
                 {:.1} of {:.1} s (peak {:.0}%), so its own delays are in every latency; use a \
                 release build, fewer agents, or more machines (`--segment`)",
                    crate::metrics::SATURATED * 100.0,
                    g.cores,
                    g.saturated_s,
                    g.sampled_s,
                    g.cpu_peak * 100.0
                ),
            ));
        }
        if let Some(c) = &load.capacity
            && let Some(from) = c.generator_bound_from
        {
            let found = c.rate.map_or("no rate held before it".to_owned(), |r| {
                format!("the capacity is at least {}/s", crate::text::trim_float(r))
            });
            doubts.push(Doubt::new(
                "generator bound",
                format!(
                    "the capacity search stopped at {}/s, where the load generator itself became \
                     the bottleneck: {found}, and how much more is not known; use a release build \
                     or more machines (`--segment` does not split a search)",
                    crate::text::trim_float(from)
                ),
            ));
        }
        if let Some(schedule) = &load.schedule
            && schedule.started > 0
        {
            let tightest = load
                .objectives
                .iter()
                .filter(|o| o.unit == "ms")
                .min_by(|a, b| a.expected.total_cmp(&b.expected));
            let (bound, why) = match tightest {
                Some(o) => (
                    (LATENESS_SHARE * o.expected).max(LATENESS_FLOOR_MS),
                    format!(
                        "{:.0}% of the tightest latency objective, `{}`",
                        LATENESS_SHARE * 100.0,
                        o.objective
                    ),
                ),
                None => (
                    LATENESS_DEFAULT_MS,
                    "the bound with no latency objective".to_owned(),
                ),
            };
            let p99 = schedule.start_lateness_ms.p99;
            if p99 > bound {
                doubts.push(Doubt::new(
                    "generator lateness",
                    format!(
                        "iterations started late: start lateness p99 {p99:.1} ms is beyond \
                     {bound:.1} ms ({why}); the generator, not the SUT, delayed them (agent \
                     code that blocks its thread, or a busy machine); for tight thresholds, \
                     `precise_starts()`"
                    ),
                ));
            }
        }
        doubts
    }

    /// Why a scenario with this body result and load failed, one line each (empty: it passed).
    pub(crate) fn problems_of(
        body_failure: Option<&str>,
        load: Option<&LoadReport>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(f) = body_failure {
            problems.push(f.to_owned());
        }
        if let Some(load) = load {
            if let StopReason::Aborted | StopReason::ObjectiveLost = load.stop.reason {
                let detail = load.stop.detail.as_deref().unwrap_or("no detail");
                problems.push(format!("the load was aborted: {detail}"));
            }
            if let Some(c) = &load.capacity
                && c.rate.is_none()
            {
                let why = c.broke_first.as_deref().unwrap_or("no step ran");
                problems.push(format!(
                    "capacity search: no rate met the objectives (first broken: {why})"
                ));
            }
            // Judged on the whole load, after it ended: the same in every run, unlike the
            // early abort, which races the end of a short load.
            let mut requests = 0u64;
            let mut invalid: Option<(u64, &str)> = None;
            let mut unanswered = BTreeMap::<&str, u64>::new();
            for r in &load.requests {
                requests += r.count;
                for e in &r.errors {
                    match e.kind.as_str() {
                        "invalid" => {
                            let (n, _) = invalid.get_or_insert((0, first_sample(e)));
                            *n += e.count;
                        }
                        "connect" | "timeout" | "request" | "unfinished" => {
                            *unanswered.entry(e.kind.as_str()).or_default() += e.count;
                        }
                        _ => {}
                    }
                }
            }
            let (never_sent, sample) = invalid.unwrap_or((0, ""));
            let sent = requests - never_sent;
            if requests > 0 && sent == 0 {
                problems.push(format!(
                    "no request was sent: all {requests} request(s) were invalid (first: \
                     {sample})"
                ));
            }
            if sent > 0 && unanswered.values().sum::<u64>() == sent {
                let kinds: Vec<String> = unanswered
                    .iter()
                    .map(|(k, n)| format!("{k}: {n}"))
                    .collect();
                problems.push(format!(
                    "the target never answered: all {sent} request(s) sent failed without a \
                     response ({})",
                    kinds.join(", ")
                ));
            }
            // A capacity search drops iterations on purpose once a step is beyond capacity.
            if let Some(schedule) = load.schedule.as_ref().filter(|_| load.capacity.is_none()) {
                let due = schedule.started + schedule.dropped;
                let bounded = load
                    .objectives
                    .iter()
                    .any(|o| o.metric.starts_with("dropped_iteration"));
                if !bounded && due > 0 && schedule.dropped as f64 > MAX_DROPPED * due as f64 {
                    problems.push(format!(
                        "the load did not run as planned: {} of {due} due iterations ({:.1}%) \
                         were not started (no free agent: raise the pool's most agents or lower \
                         the rate; a `dropped_iterations()` objective sets another bound)",
                        schedule.dropped,
                        100.0 * schedule.dropped as f64 / due as f64
                    ));
                }
            }
            let completed: u64 = load.iterations.iter().map(|i| i.completed).sum();
            let failed: u64 = load.iterations.iter().map(|i| i.failed).sum();
            if completed == 0 && failed > 0 {
                let first = load
                    .iterations
                    .iter()
                    .flat_map(|i| i.failures.iter().map(move |f| (i, f)))
                    .next()
                    .map(|(i, f)| {
                        format!(
                            " (first: agent `{}`, {}: {})",
                            i.agent,
                            f.kind,
                            first_sample(f)
                        )
                    })
                    .unwrap_or_default();
                problems.push(format!(
                    "no iteration succeeded: {failed} of {} failed{first}",
                    failed + load.panics()
                ));
            }
            let panics = load.panics();
            if panics > 0 {
                let first = load
                    .iterations
                    .iter()
                    .flat_map(|i| i.panics.iter().map(move |p| (i, p)))
                    .next()
                    .map(|(i, p)| {
                        format!(
                            " (first: agent `{}` #{:?}: {})",
                            i.agent,
                            p.agent_ids.first().unwrap_or(&0),
                            p.message
                        )
                    })
                    .unwrap_or_default();
                problems.push(format!("{panics} agent iteration(s) panicked{first}"));
            }
            // A segment sees part of the load: only the merge of all segments judges it.
            if load.config.segment.is_none() {
                for o in load.objectives.iter().filter(|o| !o.passed) {
                    problems.push(format!("objective not met: {}", o.objective));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::scenario;
    use crate::report::model::{CapacityReport, GeneratorReport, ScheduleReport};

    fn texts(load: &LoadReport) -> Vec<String> {
        ScenarioReport::doubts_of(Some(load))
            .into_iter()
            .map(|d| d.text)
            .collect()
    }

    #[test]
    fn a_saturated_generator_is_in_doubt_for_a_quarter_of_the_load_and_a_second() {
        let mut load = scenario().load.unwrap();
        let mut generator = GeneratorReport {
            cores: 2,
            cpu_mean: 0.7,
            cpu_peak: 0.99,
            sampled_s: 10.0,
            saturated_s: 2.4,
        };
        load.generator = Some(generator.clone());
        assert!(texts(&load).is_empty(), "under a quarter");
        generator.saturated_s = 2.5;
        load.generator = Some(generator.clone());
        assert_eq!(
            texts(&load),
            [
                "the load generator was saturated: at least 90% of its 2 core(s) busy for 2.5 of \
              10.0 s (peak 99%), so its own delays are in every latency; use a release build, \
              fewer agents, or more machines (`--segment`)"
            ]
        );
        generator.sampled_s = 1.5;
        generator.saturated_s = 0.9;
        load.generator = Some(generator);
        assert!(texts(&load).is_empty(), "under a second");
    }

    #[test]
    fn dropping_over_5_percent_fails_unless_bounded_or_a_capacity_search() {
        let mut load = scenario().load.unwrap();
        load.objectives.clear();
        let lateness = load.total.latency_ms.clone();
        load.schedule = Some(ScheduleReport {
            started: 94,
            dropped: 6,
            start_lateness_ms: lateness,
        });
        let problems = |l: &LoadReport| ScenarioReport::problems_of(None, Some(l));
        assert!(
            problems(&load)[0].starts_with(
                "the load did not run as planned: 6 of 100 due iterations (6.0%) were not started"
            ),
            "{:?}",
            problems(&load)
        );
        let schedule = load.schedule.as_mut().unwrap();
        (schedule.started, schedule.dropped) = (95, 5);
        assert!(
            problems(&load)
                .iter()
                .all(|p| !p.contains("did not run as planned")),
            "5% is within the bound"
        );
        load.schedule.as_mut().unwrap().dropped = 50;
        load.capacity = Some(CapacityReport {
            rate: Some(100.0),
            interval: Some([100.0, 110.0]),
            at_least: false,
            generator_bound_from: None,
            repeats: 1,
            broke_first: None,
            curve: vec![],
        });
        assert!(
            problems(&load)
                .iter()
                .all(|p| !p.contains("did not run as planned")),
            "a capacity search drops on purpose"
        );
    }

    #[test]
    fn start_lateness_is_judged_against_the_tightest_latency_objective() {
        let mut load = scenario().load.unwrap();
        let mut lateness = load.total.latency_ms.clone();
        lateness.p99 = 2.5;
        load.schedule = Some(ScheduleReport {
            started: 100,
            dropped: 0,
            start_lateness_ms: lateness.clone(),
        });
        // The fixture's tightest latency objective is 20 ms: 10% is 2 ms.
        let got = texts(&load);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0]
                .starts_with("iterations started late: start lateness p99 2.5 ms is beyond 2.0 ms"),
            "{got:?}"
        );
        // With no latency objective, the bound is 100 ms.
        load.objectives.retain(|o| o.unit != "ms");
        assert!(texts(&load).is_empty());
        lateness.p99 = 150.0;
        load.schedule.as_mut().unwrap().start_lateness_ms = lateness;
        assert!(texts(&load)[0].contains("beyond 100.0 ms (the bound with no latency objective)"));
    }
}
