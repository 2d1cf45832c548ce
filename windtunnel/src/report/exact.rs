//! [`ExactMetrics`]: what a load's report carries besides its percentiles, so that the reports
//! of the segments of a load merge into exactly the report one process would have written:
//! every HDR histogram (in HdrHistogram's compressed V2 encoding, base64, which any
//! HdrHistogram library reads), the per-second series with its histograms, the
//! requests of each objective window, the objectives themselves, and the wall-clock time the
//! load started, which aligns the segments' series.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::assemble::errors;
use super::model::{ErrorReport, LoadReport};
use crate::metrics::{
    Buckets, ErrorClass, ErrorKind, IterationCounters, MetricsSnapshot, Point, RequestMetrics,
    Series, StepCounters, StepKind, compact, histogram_of, new_histogram,
};
use crate::objectives::{Objective, Span};

/// The exact metrics of a load, for `windtunnel merge`. Its contents are an implementation
/// detail of the report (stable within a schema version); read percentiles and counts from
/// the rest of [`LoadReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExactMetrics {
    /// When the load started, in seconds since the Unix epoch.
    origin_unix_s: f64,
    requests: BTreeMap<String, ExactRequest>,
    /// Waits as operations, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    waits: BTreeMap<String, ExactRequest>,
    /// Per service (the target first): its name, base URL and requests together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    services: Vec<(String, String, ExactRequest)>,
    /// Per recorder window (see `objectives`), the requests that ended in it.
    windows: Vec<BTreeMap<String, ExactRequest>>,
    /// How late iterations started, in microseconds (open model).
    lateness: String,
    /// Per agent, how long its iterations took, in microseconds.
    #[serde(default)]
    iteration_durations: BTreeMap<String, String>,
    series: ExactSeries,
    /// The objectives the load was judged by, with the window each was scoped to.
    objectives: Vec<(Objective, Option<Span>)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ExactRequest {
    count: u64,
    failed: u64,
    statuses: BTreeMap<u16, u64>,
    errors: Vec<ErrorReport>,
    /// Service time in microseconds.
    histogram: String,
    /// Latency from the intended start, in microseconds (open model).
    intended: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ExactSeries {
    seconds_per_point: u64,
    intended: bool,
    points: Vec<ExactPoint>,
}

/// One point of the series, its latencies as encoded histograms at 2 significant digits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ExactPoint {
    index: u64,
    requests: u64,
    failed: u64,
    iterations: u64,
    started: u64,
    dropped: u64,
    active: u64,
    service: String,
    /// `None` when no latency from an intended start was recorded (closed model).
    intended: Option<String>,
}

/// Why exact metrics cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ExactError(String);

/// A histogram in HdrHistogram's compressed V2 encoding, base64.
pub(crate) fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("a histogram of ours serializes into memory");
    STANDARD.encode(bytes)
}

/// The histogram [`encode`] wrote, as it was.
fn decode_raw(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("a histogram is not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("a histogram cannot be read: {e:?}"))
}

/// The buckets of a series point: the point's histogram, written by [`encode`].
fn decode_buckets(text: &str) -> Result<Buckets, String> {
    decode_raw(text).map(|h| compact(&h))
}

/// The histogram [`encode`] wrote, in the bounds of the run's histograms.
pub(crate) fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let h = decode_raw(text)?;
    // Into our bounds, so that histograms of different parts add up.
    let mut ours = new_histogram();
    ours.add(&h)
        .map_err(|e| format!("a histogram is out of bounds: {e:?}"))?;
    Ok(ours)
}

impl ExactRequest {
    fn of(m: &RequestMetrics) -> Self {
        ExactRequest {
            count: m.count,
            failed: m.failed,
            statuses: m.statuses.clone(),
            errors: errors(
                m.errors
                    .iter()
                    .map(|(k, c)| (k.as_str().to_owned(), c.clone())),
            ),
            histogram: encode(&m.histogram),
            intended: m.intended.as_ref().map(encode),
        }
    }

    fn metrics(&self) -> Result<RequestMetrics, String> {
        let mut errors = BTreeMap::new();
        for e in &self.errors {
            let kind: ErrorKind = serde_json::from_value(serde_json::Value::from(e.kind.as_str()))
                .map_err(|_| format!("unknown error kind `{}`", e.kind))?;
            errors.insert(
                kind,
                ErrorClass {
                    count: e.count,
                    injected: e.injected,
                    samples: e.samples.clone(),
                },
            );
        }
        Ok(RequestMetrics {
            histogram: decode(&self.histogram)?,
            intended: self.intended.as_deref().map(decode).transpose()?,
            count: self.count,
            failed: self.failed,
            statuses: self.statuses.clone(),
            errors,
        })
    }
}

fn requests_of(
    map: &BTreeMap<String, ExactRequest>,
) -> Result<BTreeMap<String, RequestMetrics>, String> {
    map.iter()
        .map(|(name, r)| {
            r.metrics()
                .map(|m| (name.clone(), m))
                .map_err(|e| format!("request `{name}`: {e}"))
        })
        .collect()
}

impl ExactMetrics {
    /// The exact metrics of a load that started at `origin` (wall clock).
    pub(crate) fn of(
        origin: SystemTime,
        metrics: &MetricsSnapshot,
        objectives: &[(Objective, Option<Span>)],
    ) -> Self {
        let named = |m: &BTreeMap<String, RequestMetrics>| {
            m.iter()
                .map(|(n, r)| (n.clone(), ExactRequest::of(r)))
                .collect()
        };
        ExactMetrics {
            origin_unix_s: origin
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
            requests: named(&metrics.requests),
            waits: named(&metrics.waits),
            services: metrics
                .services
                .iter()
                .map(|(n, u, m)| (n.clone(), u.clone(), ExactRequest::of(m)))
                .collect(),
            windows: metrics.windows.iter().map(named).collect(),
            lateness: encode(&metrics.lateness),
            iteration_durations: metrics
                .iterations
                .iter()
                .filter_map(|(agent, it)| Some((agent.clone(), encode(it.duration.as_ref()?))))
                .collect(),
            series: ExactSeries {
                seconds_per_point: metrics.series.interval().as_secs(),
                intended: metrics.series.intended,
                points: metrics
                    .series
                    .points()
                    .iter()
                    .map(|(&index, p)| ExactPoint {
                        index,
                        requests: p.requests,
                        failed: p.failed,
                        iterations: p.iterations,
                        started: p.started,
                        dropped: p.dropped,
                        active: p.active,
                        service: encode(&histogram_of(&p.service)),
                        intended: (!p.intended.is_empty())
                            .then(|| encode(&histogram_of(&p.intended))),
                    })
                    .collect(),
            },
            objectives: objectives.to_vec(),
        }
    }

    /// When the load started.
    pub(crate) fn origin(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(self.origin_unix_s.max(0.0))
    }

    pub(crate) fn objectives(&self) -> &[(Objective, Option<Span>)] {
        &self.objectives
    }

    /// The load's metrics again, with its series moved `shift` seconds later; checks and
    /// iterations come from the rest of the report.
    pub(crate) fn snapshot(
        &self,
        load: &LoadReport,
        shift: u64,
    ) -> Result<MetricsSnapshot, ExactError> {
        let inner = || -> Result<MetricsSnapshot, String> {
            let mut snap = MetricsSnapshot::new(self.windows.len());
            snap.requests = requests_of(&self.requests)?;
            snap.waits = requests_of(&self.waits)?;
            for (name, url, r) in &self.services {
                let m = r.metrics().map_err(|e| format!("service `{name}`: {e}"))?;
                snap.services.push((name.clone(), url.clone(), m));
            }
            for (i, w) in self.windows.iter().enumerate() {
                snap.windows[i] = requests_of(w).map_err(|e| format!("window {i}: {e}"))?;
            }
            snap.lateness = decode(&self.lateness)?;
            snap.intended = load.config.open;
            let s = &self.series;
            if s.seconds_per_point == 0 {
                return Err("the series has no interval".into());
            }
            let mut series = Series::new(s.intended);
            for p in &s.points {
                let point = Point {
                    requests: p.requests,
                    failed: p.failed,
                    iterations: p.iterations,
                    started: p.started,
                    dropped: p.dropped,
                    active: p.active,
                    service: decode_buckets(&p.service)?,
                    intended: p
                        .intended
                        .as_deref()
                        .map(decode_buckets)
                        .transpose()?
                        .unwrap_or_default(),
                };
                series.add(p.index * s.seconds_per_point + shift, point);
            }
            snap.series = series;
            for c in &load.checks {
                let counters = snap.checks.entry(c.name.clone()).or_default();
                counters.passed = c.passed;
                counters.failed = ErrorClass {
                    count: c.failed,
                    injected: c.injected,
                    samples: c.samples.clone(),
                };
            }
            for v in &load.variations {
                let values = snap.variations.entry(v.name.clone()).or_default();
                for x in &v.values {
                    values.insert(x.value.as_str().into(), (x.iterations, x.failed));
                }
            }
            for st in &load.steps {
                let kind = match st.kind.as_str() {
                    "wait" => StepKind::Wait,
                    "retry" => StepKind::Retry,
                    other => return Err(format!("step `{}`: unknown kind `{other}`", st.name)),
                };
                let mut counters = StepCounters::new(kind);
                counters.runs = st.runs;
                counters.first_attempt = st.first_attempt;
                counters.later_attempt = st.later_attempt;
                counters.gave_up = ErrorClass {
                    count: st.gave_up,
                    injected: 0,
                    samples: st.samples.clone(),
                };
                counters.attempts = st.attempts;
                counters.max_attempts = st.max_attempts;
                snap.steps.insert(st.name.clone(), counters);
            }
            for it in &load.iterations {
                let counters = snap.iterations.entry(it.agent.clone()).or_default();
                counters.completed = it.completed;
                counters.failed = it.failed;
                counters.panicked = it.panicked;
                for f in &it.failures {
                    let class = IterationCounters::class(&f.kind)
                        .ok_or_else(|| format!("unknown iteration failure `{}`", f.kind))?;
                    counters.failures.insert(
                        class,
                        ErrorClass {
                            count: f.count,
                            injected: f.injected,
                            samples: f.samples.clone(),
                        },
                    );
                }
                for p in &it.panics {
                    counters
                        .panics
                        .insert(p.message.clone(), (p.count, p.agent_ids.clone()));
                }
                if let Some(d) = self.iteration_durations.get(&it.agent) {
                    counters.duration = Some(
                        decode(d).map_err(|e| format!("agent `{}` durations: {e}", it.agent))?,
                    );
                }
            }
            Ok(snap)
        };
        inner().map_err(ExactError)
    }
}
