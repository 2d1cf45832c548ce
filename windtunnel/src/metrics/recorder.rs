//! [`Recorder`]: the sink agents record into, sharded per OS thread.
//!
//! Each thread that records for a given recorder gets its own [`Shard`] (registered once, on the
//! thread's first sample). Recording locks only that shard's mutex, which no other thread takes
//! except the final merge, so the hot path never contends. Memory is bounded: one histogram per
//! request name per worker thread (~190 KiB each), never per agent.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::snapshot::{MetricsSnapshot, RequestMetrics};

/// Latencies are recorded in microseconds, from 1 µs to one hour, at 3 significant digits.
pub(crate) const HIST_MAX_US: u64 = 3_600_000_000;
/// How many distinct sample messages are kept per error class.
pub(crate) const MAX_SAMPLES: usize = 5;
/// Request names per shard; past this, new names are recorded under [`OVERFLOW_NAME`], so a
/// default name with ids in its path cannot grow memory without bound.
pub(crate) const MAX_NAMES: usize = 1000;
/// Where requests with names past [`MAX_NAMES`] are recorded.
pub(crate) const OVERFLOW_NAME: &str = "(other names)";
/// Sample messages are cut to this many characters.
const MAX_SAMPLE_CHARS: usize = 300;

pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static histogram bounds are valid")
}

/// What went wrong with a request or a timed operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection could not be established (refused, unreachable, DNS, TLS handshake).
    Connect,
    /// No complete response within the request timeout.
    Timeout,
    /// The request failed after connecting (reset, protocol error, body read error).
    Request,
    /// A response arrived with a status the request did not accept (by default: not 2xx or 3xx).
    Status,
    /// A timed operation (`Agent::measure`) returned an error.
    Operation,
}

impl ErrorKind {
    /// The kind's name as it appears in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Request => "request",
            ErrorKind::Status => "status",
            ErrorKind::Operation => "operation",
        }
    }
}

/// The outcome of one request or timed operation.
pub(crate) enum Outcome<'a> {
    /// An HTTP response; `accepted` says whether its status counts as a success.
    Response {
        status: u16,
        accepted: bool,
        detail: &'a dyn Fn() -> String,
    },
    /// A timed operation that succeeded.
    Ok,
    /// A failure with no response.
    Failed {
        kind: ErrorKind,
        message: &'a dyn Fn() -> String,
    },
}

/// How one iteration of an agent ended.
pub(crate) enum IterationOutcome<'a> {
    Completed,
    Failed {
        class: &'static str,
        message: &'a str,
    },
    Panicked {
        agent_id: u64,
        message: &'a str,
    },
}

/// Counters and samples for one kind of error.
#[derive(Clone, Debug, Default)]
pub(crate) struct ErrorCounter {
    pub(crate) count: u64,
    pub(crate) samples: Vec<String>,
}

impl ErrorCounter {
    pub(crate) fn add(&mut self, sample: impl FnOnce() -> String) {
        self.count += 1;
        if self.samples.len() < MAX_SAMPLES {
            let mut s = sample();
            if s.chars().count() > MAX_SAMPLE_CHARS {
                s = s.chars().take(MAX_SAMPLE_CHARS).collect::<String>() + "…";
            }
            if !self.samples.contains(&s) {
                self.samples.push(s);
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &ErrorCounter) {
        self.count += other.count;
        for s in &other.samples {
            if self.samples.len() < MAX_SAMPLES && !self.samples.contains(s) {
                self.samples.push(s.clone());
            }
        }
    }
}

/// Per-agent-name iteration counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct IterationCounters {
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) panicked: u64,
    /// Failure classes (`check`, `http`, `error`) with samples.
    pub(crate) failures: HashMap<&'static str, ErrorCounter>,
    /// Panic messages, with the ids of the first agents that hit them.
    pub(crate) panics: HashMap<String, (u64, Vec<u64>)>,
}

/// Per-check pass/fail counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct CheckCounters {
    pub(crate) passed: u64,
    pub(crate) failed: ErrorCounter,
}

/// One thread's share of the metrics.
#[derive(Default)]
///
/// Maps are `BTreeMap`s: with the handful of names a run has, a lookup is a few string
/// comparisons, cheaper on the hot path than hashing the name.
pub(crate) struct Shard {
    pub(crate) requests: BTreeMap<Box<str>, RequestMetrics>,
    pub(crate) checks: BTreeMap<Box<str>, CheckCounters>,
    pub(crate) iterations: BTreeMap<Box<str>, IterationCounters>,
}

struct Shared {
    id: u64,
    shards: Mutex<Vec<Arc<Mutex<Shard>>>>,
    any_response: AtomicBool,
    connect_errors: AtomicU64,
}

/// The handle agents record through. Cloning is cheap; all clones feed the same metrics.
#[derive(Clone)]
pub(crate) struct Recorder {
    shared: Arc<Shared>,
}

thread_local! {
    /// This thread's shards, one per live recorder it has recorded for.
    static LOCAL: RefCell<Vec<(u64, Weak<Mutex<Shard>>)>> = const { RefCell::new(Vec::new()) };
}

tokio::task_local! {
    static CURRENT: Recorder;
}

/// Runs `fut` with `recorder` as the task's current recorder (see [`current_recorder`]).
pub(crate) async fn with_recorder<F: std::future::Future>(recorder: Recorder, fut: F) -> F::Output {
    CURRENT.scope(recorder, fut).await
}

/// The recorder of the agent task this code runs in, if any.
pub(crate) fn current_recorder() -> Option<Recorder> {
    CURRENT.try_with(Clone::clone).ok()
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                shards: Mutex::new(Vec::new()),
                any_response: AtomicBool::new(false),
                connect_errors: AtomicU64::new(0),
            }),
        }
    }

    /// Runs `f` on this thread's shard, creating and registering it on first use.
    fn with_shard<R>(&self, f: impl FnOnce(&mut Shard) -> R) -> R {
        let id = self.shared.id;
        let shard = LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if let Some(shard) = local
                .iter()
                .find(|(i, _)| *i == id)
                .and_then(|(_, w)| w.upgrade())
            {
                return shard;
            }
            local.retain(|(_, w)| w.strong_count() > 0);
            let shard = Arc::new(Mutex::new(Shard::default()));
            self.shared
                .shards
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::clone(&shard));
            local.push((id, Arc::downgrade(&shard)));
            shard
        });
        let mut guard = shard.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Records one request (or timed operation) under `name`.
    pub(crate) fn record(&self, name: &str, latency: Duration, outcome: Outcome<'_>) {
        match outcome {
            Outcome::Response { .. } | Outcome::Ok => {
                if !self.shared.any_response.load(Ordering::Relaxed) {
                    self.shared.any_response.store(true, Ordering::Relaxed);
                }
            }
            Outcome::Failed {
                kind: ErrorKind::Connect,
                ..
            } => {
                self.shared.connect_errors.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Failed { .. } => {}
        }
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.with_shard(|shard| {
            let name = if shard.requests.len() >= MAX_NAMES && !shard.requests.contains_key(name) {
                OVERFLOW_NAME
            } else {
                name
            };
            let stats = match shard.requests.get_mut(name) {
                Some(s) => s,
                None => shard
                    .requests
                    .entry(name.into())
                    .or_insert_with(RequestMetrics::new),
            };
            stats.record(micros, outcome);
        });
    }

    /// Records the result of a check named `name`.
    pub(crate) fn check(&self, name: &str, passed: bool, detail: impl FnOnce() -> String) {
        self.with_shard(|shard| {
            let c = match shard.checks.get_mut(name) {
                Some(c) => c,
                None => shard.checks.entry(name.into()).or_default(),
            };
            if passed {
                c.passed += 1;
            } else {
                c.failed.add(detail);
            }
        });
    }

    /// Records how one iteration of the agent named `agent` ended.
    pub(crate) fn iteration(&self, agent: &str, outcome: IterationOutcome<'_>) {
        self.with_shard(|shard| {
            let it = match shard.iterations.get_mut(agent) {
                Some(i) => i,
                None => shard.iterations.entry(agent.into()).or_default(),
            };
            match outcome {
                IterationOutcome::Completed => it.completed += 1,
                IterationOutcome::Failed { class, message } => {
                    it.failed += 1;
                    it.failures
                        .entry(class)
                        .or_default()
                        .add(|| message.to_owned());
                }
                IterationOutcome::Panicked { agent_id, message } => {
                    it.panicked += 1;
                    let entry = it.panics.entry(message.to_owned()).or_default();
                    entry.0 += 1;
                    if entry.1.len() < MAX_SAMPLES && !entry.1.contains(&agent_id) {
                        entry.1.push(agent_id);
                    }
                }
            }
        });
    }

    /// Whether any response (or successful operation) has been recorded yet.
    pub(crate) fn has_response(&self) -> bool {
        self.shared.any_response.load(Ordering::Relaxed)
    }

    /// How many connection errors have been recorded.
    pub(crate) fn connect_errors(&self) -> u64 {
        self.shared.connect_errors.load(Ordering::Relaxed)
    }

    /// Merges every shard into one snapshot. Recording may go on meanwhile.
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let shards: Vec<_> = self
            .shared
            .shards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut snap = MetricsSnapshot::default();
        for shard in shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            snap.absorb(&shard);
        }
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16) -> Outcome<'static> {
        Outcome::Response {
            status,
            accepted: status < 400,
            detail: &|| String::from("x"),
        }
    }

    #[test]
    fn merges_shards_from_many_threads_exactly() {
        let rec = Recorder::new();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let rec = rec.clone();
                s.spawn(move || {
                    for i in 0..1000u64 {
                        rec.record("a", Duration::from_micros(100 + t * 1000 + i), ok(200));
                    }
                    rec.record("b", Duration::from_millis(5), ok(503));
                });
            }
        });
        let snap = rec.snapshot();
        let a = &snap.requests["a"];
        assert_eq!(a.count, 4000);
        assert_eq!(a.failed, 0);
        assert_eq!(a.histogram.len(), 4000);
        assert_eq!(a.histogram.min(), 100);
        assert!(a.histogram.equivalent(a.histogram.max(), 3000 + 999 + 100));
        let b = &snap.requests["b"];
        assert_eq!((b.count, b.failed), (4, 4));
        assert_eq!(b.statuses.get(&503), Some(&4));
        assert_eq!(b.errors[&ErrorKind::Status].count, 4);
        assert!(rec.has_response());
    }

    #[test]
    fn request_names_are_bounded() {
        let rec = Recorder::new();
        for i in 0..MAX_NAMES + 50 {
            rec.record(
                &format!("GET /products/{i}"),
                Duration::from_micros(10),
                ok(200),
            );
        }
        let snap = rec.snapshot();
        assert_eq!(snap.requests.len(), MAX_NAMES + 1);
        assert_eq!(snap.requests[OVERFLOW_NAME].count, 50);
        assert_eq!(snap.total().count, (MAX_NAMES + 50) as u64);
    }

    #[test]
    fn two_recorders_on_one_thread_stay_apart() {
        let r1 = Recorder::new();
        let r2 = Recorder::new();
        r1.record("x", Duration::from_millis(1), ok(200));
        r2.record("x", Duration::from_millis(1), ok(200));
        r2.record("x", Duration::from_millis(1), ok(200));
        assert_eq!(r1.snapshot().requests["x"].count, 1);
        assert_eq!(r2.snapshot().requests["x"].count, 2);
    }

    #[test]
    fn connect_errors_are_counted_and_samples_bounded() {
        let rec = Recorder::new();
        for i in 0..20 {
            let msg = format!("refused #{i}");
            rec.record(
                "x",
                Duration::from_micros(50),
                Outcome::Failed {
                    kind: ErrorKind::Connect,
                    message: &|| msg.clone(),
                },
            );
        }
        assert_eq!(rec.connect_errors(), 20);
        assert!(!rec.has_response());
        let snap = rec.snapshot();
        let class = &snap.requests["x"].errors[&ErrorKind::Connect];
        assert_eq!(class.count, 20);
        assert_eq!(class.samples.len(), MAX_SAMPLES);
    }

    #[test]
    fn checks_and_iterations_are_counted() {
        let rec = Recorder::new();
        rec.check("status", true, String::new);
        rec.check("status", false, || "got 500".into());
        rec.iteration("shopper", IterationOutcome::Completed);
        rec.iteration(
            "shopper",
            IterationOutcome::Panicked {
                agent_id: 3,
                message: "boom",
            },
        );
        rec.iteration(
            "shopper",
            IterationOutcome::Panicked {
                agent_id: 4,
                message: "boom",
            },
        );
        let snap = rec.snapshot();
        assert_eq!(snap.checks["status"].passed, 1);
        assert_eq!(
            snap.checks["status"].failed.samples,
            vec!["got 500".to_string()]
        );
        let it = &snap.iterations["shopper"];
        assert_eq!((it.completed, it.panicked), (1, 2));
        assert_eq!(it.panics["boom"], (2, vec![3, 4]));
    }
}
