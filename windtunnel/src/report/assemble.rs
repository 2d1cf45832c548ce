//! How a run's metrics become a [`LoadReport`]: percentiles, series points, error classes and
//! iteration counts read from a [`MetricsSnapshot`]. It reads metrics and takes objectives'
//! results as they were judged; it knows nothing of agents, executors or load models, which
//! the conductor describes in a [`LoadConfig`].

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::metrics::{CpuUse, ErrorClass, MetricsSnapshot, RequestMetrics, Series, histogram_of};
use crate::objectives::ObjectiveResult;

use super::model::{
    CheckReport, ErrorReport, GeneratorReport, IterationReport, LatencyReport, LoadConfig,
    LoadReport, PanicReport, Percentiles, RequestReport, ScheduleReport, SeriesPoint, SeriesReport,
    ServiceReport, StepReport, StopInfo, VariationReport, VariationValue,
};

impl GeneratorReport {
    pub(crate) fn of(cpu: &CpuUse) -> Self {
        GeneratorReport {
            cores: cpu.cores,
            cpu_mean: cpu.mean(),
            cpu_peak: cpu.peak,
            sampled_s: cpu.sampled.as_secs_f64(),
            saturated_s: cpu.saturated.as_secs_f64(),
        }
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Error classes as the report lists them: most frequent first.
pub(super) fn errors(classes: impl IntoIterator<Item = (String, ErrorClass)>) -> Vec<ErrorReport> {
    let mut out: Vec<ErrorReport> = classes
        .into_iter()
        .map(|(kind, c)| ErrorReport {
            kind,
            count: c.count,
            injected: c.injected,
            samples: c.samples,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
    out
}

impl LatencyReport {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        let empty = h.is_empty();
        let q = |q: f64| {
            if empty {
                0.0
            } else {
                ms(h.value_at_quantile(q))
            }
        };
        LatencyReport {
            min: if empty { 0.0 } else { ms(h.min()) },
            mean: if empty { 0.0 } else { h.mean() / 1000.0 },
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: if empty { 0.0 } else { ms(h.max()) },
        }
    }
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Percentiles {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        })
    }
}

impl SeriesReport {
    pub(crate) fn of(series: &Series, open: bool) -> Self {
        let interval = series.interval().as_secs_f64();
        SeriesReport {
            interval_s: interval,
            points: series
                .points()
                .iter()
                .map(|(&i, p)| SeriesPoint {
                    t_s: i as f64 * interval,
                    requests: p.requests,
                    failed: p.failed,
                    throughput_rps: p.requests as f64 / interval,
                    iterations: p.iterations,
                    started: open.then_some(p.started),
                    dropped: open.then_some(p.dropped),
                    active_agents: p.active,
                    latency_ms: Percentiles::of(&histogram_of(&p.service)),
                    intended_latency_ms: if series.intended {
                        Percentiles::of(&histogram_of(&p.intended))
                    } else {
                        None
                    },
                })
                .collect(),
        }
    }
}

impl RequestReport {
    fn from_metrics(name: &str, m: &RequestMetrics, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64();
        RequestReport {
            name: name.to_owned(),
            count: m.count,
            failed: m.failed,
            error_rate: m.error_rate(),
            throughput_rps: if secs > 0.0 {
                m.count as f64 / secs
            } else {
                0.0
            },
            latency_ms: LatencyReport::of(&m.histogram),
            intended_latency_ms: m.intended.as_ref().map(LatencyReport::of),
            statuses: m
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            errors: errors(
                m.errors
                    .iter()
                    .map(|(k, c)| (k.as_str().to_owned(), c.clone())),
            ),
        }
    }
}

impl LoadReport {
    /// The report of a load from its metrics, with its objectives as judged.
    pub(crate) fn build(
        config: LoadConfig,
        stop: StopInfo,
        elapsed: Duration,
        cancelled_iterations: u64,
        metrics: &MetricsSnapshot,
        objectives: Vec<ObjectiveResult>,
    ) -> Self {
        let open = config.open;
        let schedule = open.then(|| {
            let (started, dropped) = metrics.started_and_dropped();
            ScheduleReport {
                started,
                dropped,
                start_lateness_ms: LatencyReport::of(&metrics.lateness),
            }
        });
        LoadReport {
            config,
            stop,
            elapsed_s: elapsed.as_secs_f64(),
            cancelled_iterations,
            schedule,
            generator: None,
            capacity: None,
            turbulence: None,
            objectives,
            series: SeriesReport::of(&metrics.series, open),
            exact: None,
            total: RequestReport::from_metrics("*", &metrics.total(), elapsed),
            requests: metrics
                .requests
                .iter()
                .map(|(n, m)| RequestReport::from_metrics(n, m, elapsed))
                .collect(),
            checks: metrics
                .checks
                .iter()
                .map(|(n, c)| CheckReport {
                    name: n.clone(),
                    passed: c.passed,
                    failed: c.failed.count,
                    injected: c.failed.injected,
                    samples: c.failed.samples.clone(),
                })
                .collect(),
            services: metrics
                .services
                .iter()
                .map(|(name, url, m)| ServiceReport {
                    name: name.clone(),
                    url: url.clone(),
                    total: RequestReport::from_metrics("*", m, elapsed),
                })
                .collect(),
            variations: metrics
                .variations
                .iter()
                .map(|(name, values)| VariationReport {
                    name: name.clone(),
                    values: values
                        .iter()
                        .map(|(v, (iterations, failed))| VariationValue {
                            value: v.to_string(),
                            iterations: *iterations,
                            failed: *failed,
                        })
                        .collect(),
                })
                .collect(),
            steps: metrics
                .steps
                .iter()
                .map(|(n, c)| StepReport {
                    name: n.clone(),
                    kind: c.kind.as_str().to_owned(),
                    runs: c.runs,
                    first_attempt: c.first_attempt,
                    later_attempt: c.later_attempt,
                    gave_up: c.gave_up.count,
                    attempts: c.attempts,
                    max_attempts: c.max_attempts,
                    samples: c.gave_up.samples.clone(),
                    operation: metrics
                        .waits
                        .get(n)
                        .map(|m| RequestReport::from_metrics(n, m, elapsed)),
                })
                .collect(),
            iterations: metrics
                .iterations
                .iter()
                .map(|(agent, it)| {
                    let mut panics: Vec<PanicReport> = it
                        .panics
                        .iter()
                        .map(|(m, (count, ids))| PanicReport {
                            message: m.clone(),
                            count: *count,
                            agent_ids: ids.clone(),
                        })
                        .collect();
                    panics.sort_by(|a, b| b.count.cmp(&a.count).then(a.message.cmp(&b.message)));
                    IterationReport {
                        agent: agent.clone(),
                        completed: it.completed,
                        failed: it.failed,
                        panicked: it.panicked,
                        failures: errors(
                            it.failures
                                .iter()
                                .map(|(k, c)| ((*k).to_owned(), c.clone())),
                        ),
                        panics,
                        duration_ms: it.duration.as_ref().and_then(Percentiles::of),
                    }
                })
                .collect(),
        }
    }
}
