//! [`Recorder`]: the sink agents record into, sharded per OS thread.
//!
//! Each thread that records for a given recorder gets its own [`Shard`] (registered once, on the
//! thread's first sample). Recording locks only that shard's mutex, which no other thread takes
//! except a merge, so the hot path never contends. Memory is bounded: one histogram per request
//! name per worker thread (~190 KiB each), never per agent; the time series keeps one small
//! histogram per second (compacted to its non-zero buckets once the second is over) and at most
//! [`MAX_POINTS`] points, merging neighbours when a run outgrows them.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::series::{LivePoint, Series};
use super::snapshot::{MetricsSnapshot, RequestMetrics, ShardParts};
use super::vocabulary::{
    CheckCounters, ErrorKind, IterationCounters, IterationOutcome, Outcome, StepCounters,
    StepOutcome, VariationCounters, add_panic, add_variation, new_histogram,
};
use crate::timeset::TimeSet;

/// Request names per shard; past this, new names are recorded under [`OVERFLOW_NAME`], so a
/// default name with ids in its path cannot grow memory without bound.
pub(crate) const MAX_NAMES: usize = 1000;
/// The service of what is no request to a service (a timed operation, a wait).
pub(crate) const NO_SERVICE: usize = usize::MAX;
/// Where requests with names past [`MAX_NAMES`] are recorded.
pub(crate) const OVERFLOW_NAME: &str = "(other names)";
/// One thread's share of the metrics.
///
/// Maps are `BTreeMap`s: with the handful of names a run has, a lookup is a few string
/// comparisons, cheaper on the hot path than hashing the name.
pub(crate) struct Shard {
    pub(crate) requests: BTreeMap<Box<str>, RequestMetrics>,
    pub(crate) checks: BTreeMap<Box<str>, CheckCounters>,
    pub(crate) iterations: BTreeMap<Box<str>, IterationCounters>,
    /// Workflow steps (waits, retried requests) by name.
    pub(crate) steps: BTreeMap<Box<str>, StepCounters>,
    /// Waits as operations (their durations and outcomes) by name: apart from the requests,
    /// so that a wait of seconds is neither a request in the totals nor in the series.
    pub(crate) waits: BTreeMap<Box<str>, RequestMetrics>,
    /// Per service of the scenario (the target first), its requests together; empty when the
    /// scenario names no services.
    pub(crate) services: Vec<RequestMetrics>,
    /// Per variation, per value: iterations and failed iterations.
    pub(crate) variations: BTreeMap<Box<str>, VariationCounters>,
    /// Per window (see [`RecorderSettings::windows`]), the requests that ended in it.
    pub(crate) windows: Vec<BTreeMap<Box<str>, RequestMetrics>>,
    /// The current second of the time series, and which second it is.
    pub(crate) live: LivePoint,
    pub(crate) live_second: u64,
    /// How late iterations started after their intended time, in microseconds (open model
    /// only: a closed model has no intended start).
    pub(crate) lateness: Option<Histogram<u64>>,
}

impl Shard {
    fn new(settings: &RecorderSettings) -> Self {
        Shard {
            requests: BTreeMap::new(),
            checks: BTreeMap::new(),
            iterations: BTreeMap::new(),
            steps: BTreeMap::new(),
            waits: BTreeMap::new(),
            services: vec![RequestMetrics::new(settings.intended); settings.services.len()],
            variations: BTreeMap::new(),
            windows: vec![BTreeMap::new(); settings.windows.len()],
            live: LivePoint::new(settings.intended),
            live_second: 0,
            lateness: settings.intended.then(new_histogram),
        }
    }

    /// Moves the live point to `second`, handing the finished one to the series.
    fn roll(&mut self, second: u64, series: &Mutex<Series>) {
        if second != self.live_second {
            if !self.live.is_empty() {
                let done = self.live.take();
                lock(series).add(self.live_second, done);
            }
            self.live_second = second;
        }
    }
}

/// What a recorder records besides totals.
#[derive(Clone, Debug)]
pub(crate) struct RecorderSettings {
    /// The start of the run: the time series counts seconds from here.
    pub(crate) origin: Instant,
    /// Whether requests also carry a latency from their iteration's intended start (open model).
    pub(crate) intended: bool,
    /// Time windows (from the origin) whose requests are also kept apart, for objectives scoped
    /// to a stage or a window. A request belongs to the window in which it ended.
    pub(crate) windows: Vec<TimeSet>,
    /// The scenario's services (the target first), each with its base URL (redacted); empty
    /// when it names none.
    pub(crate) services: Vec<(String, String)>,
}

impl RecorderSettings {
    #[cfg(test)]
    pub(crate) fn new(origin: Instant) -> Self {
        RecorderSettings {
            origin,
            intended: false,
            windows: Vec::new(),
            services: Vec::new(),
        }
    }
}

struct Shared {
    id: u64,
    settings: RecorderSettings,
    shards: Mutex<Vec<Arc<Mutex<Shard>>>>,
    series: Mutex<Series>,
    any_response: AtomicBool,
    connect_errors: AtomicU64,
    /// The busy agents at the last sample.
    active_now: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
    /// A recorder whose series starts now, with no intended latency and no windows.
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Recorder::with(RecorderSettings::new(Instant::now()))
    }

    pub(crate) fn with(settings: RecorderSettings) -> Self {
        Recorder {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                series: Mutex::new(Series::new(settings.intended)),
                settings,
                shards: Mutex::new(Vec::new()),
                any_response: AtomicBool::new(false),
                connect_errors: AtomicU64::new(0),
                active_now: AtomicU64::new(0),
            }),
        }
    }

    /// The second of the run `now` falls in.
    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.shared.settings.origin)
            .as_secs()
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
            let shard = Arc::new(Mutex::new(Shard::new(&self.shared.settings)));
            lock(&self.shared.shards).push(Arc::clone(&shard));
            local.push((id, Arc::downgrade(&shard)));
            shard
        });
        let mut guard = shard.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Records one request (or timed operation) under `name`, with no intended start.
    #[cfg(test)]
    pub(crate) fn record(&self, name: &str, latency: Duration, outcome: Outcome<'_>) {
        self.record_marked(
            name,
            latency,
            Duration::ZERO,
            Instant::now(),
            outcome,
            false,
        );
    }

    /// Records one request (or timed operation) under `name` that ended at `end` (the time
    /// series puts it in that second). `lateness` is how late its iteration started after its
    /// intended start (open model): the latency from the intended start is `latency + lateness`.
    /// A failure that turbulence caused (`injected`) is counted as such.
    pub(crate) fn record_marked(
        &self,
        name: &str,
        latency: Duration,
        lateness: Duration,
        end: Instant,
        outcome: Outcome<'_>,
        injected: bool,
    ) {
        self.record_request(NO_SERVICE, name, latency, lateness, end, outcome, injected);
    }

    /// As [`record_marked`](Self::record_marked), for an HTTP request to the scenario's
    /// service number `service` (0: the target), which also counts in that service's totals
    /// ([`NO_SERVICE`]: in none).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_request(
        &self,
        service: usize,
        name: &str,
        latency: Duration,
        lateness: Duration,
        end: Instant,
        outcome: Outcome<'_>,
        injected: bool,
    ) {
        match outcome {
            Outcome::Response { .. } | Outcome::Unmet { .. } | Outcome::Ok => {
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
        let micros = micros(latency);
        let intended = self
            .shared
            .settings
            .intended
            .then(|| micros.saturating_add(micros_of(lateness)));
        let second = self.second(end);
        let failed = outcome.failed();
        let settings = &self.shared.settings;
        self.with_shard(|shard| {
            shard.roll(second, &self.shared.series);
            shard
                .live
                .record(outcome.has_latency().then_some(micros), intended, failed);
            record_named(
                &mut shard.requests,
                name,
                settings.intended,
                (micros, intended),
                outcome,
                injected,
            );
            if let Some(m) = shard.services.get_mut(service) {
                m.record_marked(micros, intended, outcome, injected);
            }
            if !settings.windows.is_empty() {
                let t = end.saturating_duration_since(settings.origin);
                for (i, window) in settings.windows.iter().enumerate() {
                    if window.contains(t) {
                        record_named(
                            &mut shard.windows[i],
                            name,
                            settings.intended,
                            (micros, intended),
                            outcome,
                            injected,
                        );
                    }
                }
            }
        });
    }

    /// Counts an iteration that started `lateness` after its intended start (open model).
    pub(crate) fn iteration_started(&self, lateness: Duration) {
        let second = self.second(Instant::now());
        self.with_shard(|shard| {
            shard.roll(second, &self.shared.series);
            shard.live.started += 1;
            if let Some(h) = &mut shard.lateness {
                h.saturating_record(micros_of(lateness));
            }
        });
    }

    /// Counts an iteration that was due at `due` but was not started: it found no free agent,
    /// or the load stopped first (open model). The time series counts it in the second it was
    /// due.
    pub(crate) fn iteration_dropped(&self, due: Instant) {
        let second = self.second(due);
        self.with_shard(|shard| {
            shard.roll(second, &self.shared.series);
            shard.live.dropped += 1;
        });
    }

    /// Notes how many agents were busy at `now`; a point keeps the highest count of its second.
    pub(crate) fn active_agents(&self, now: Instant, active: u64) {
        let second = self.second(now);
        self.shared.active_now.store(active, Ordering::Relaxed);
        lock(&self.shared.series).active(second, active);
    }

    /// The busy agents at the last sample (0 once the load is over).
    pub(crate) fn active_now(&self) -> u64 {
        self.shared.active_now.load(Ordering::Relaxed)
    }

    /// Notes that the load is over: no agent is busy any more.
    pub(crate) fn finished(&self) {
        self.shared.active_now.store(0, Ordering::Relaxed);
    }

    /// Records the result of a check named `name`.
    #[cfg(test)]
    pub(crate) fn check(&self, name: &str, passed: bool, detail: impl FnOnce() -> String) {
        self.check_marked(name, passed, false, detail);
    }

    /// Records a check on a response turbulence made (`injected`) or not.
    pub(crate) fn check_marked(
        &self,
        name: &str,
        passed: bool,
        injected: bool,
        detail: impl FnOnce() -> String,
    ) {
        self.with_shard(|shard| {
            let c = match shard.checks.get_mut(name) {
                Some(c) => c,
                None => shard.checks.entry(name.into()).or_default(),
            };
            if passed {
                c.passed += 1;
            } else {
                c.failed.add_marked(injected, detail);
            }
        });
    }

    /// Records how one run of the workflow step named `name` (a wait, a retried request) ended.
    /// Its requests are recorded apart, each under its own name. The name is kept with the
    /// same bound as request names.
    pub(crate) fn step(&self, name: &str, outcome: &StepOutcome<'_>) {
        self.with_shard(|shard| {
            if let Some(c) = shard.steps.get_mut(name) {
                c.add(outcome);
                return;
            }
            let name = if shard.steps.len() >= MAX_NAMES {
                OVERFLOW_NAME
            } else {
                name
            };
            shard
                .steps
                .entry(name.into())
                .or_insert_with(|| StepCounters::new(outcome.kind))
                .add(outcome);
        });
    }

    /// Records one wait under `name`: how long it took (from its first attempt to the response
    /// that met its conditions, or to giving up) and whether it succeeded. Apart from requests:
    /// not in the totals, the series or the windows.
    pub(crate) fn wait(
        &self,
        name: &str,
        took: Duration,
        lateness: Duration,
        outcome: Outcome<'_>,
    ) {
        let micros = micros(took);
        let intended = self
            .shared
            .settings
            .intended
            .then(|| micros.saturating_add(micros_of(lateness)));
        let settings = &self.shared.settings;
        self.with_shard(|shard| {
            record_named(
                &mut shard.waits,
                name,
                settings.intended,
                (micros, intended),
                outcome,
                false,
            );
        });
    }

    /// Counts one iteration that drew `choices` (variation, value), failed or not.
    pub(crate) fn variations(&self, choices: &[(Box<str>, Box<str>)], failed: bool) {
        if choices.is_empty() {
            return;
        }
        self.with_shard(|shard| {
            for (name, value) in choices {
                add_variation(&mut shard.variations, name, value, 1, u64::from(failed));
            }
        });
    }

    /// Records how one iteration of the agent named `agent` ended, with no duration.
    #[cfg(test)]
    pub(crate) fn iteration(&self, agent: &str, outcome: IterationOutcome<'_>) {
        self.iteration_ended(agent, outcome, Duration::ZERO);
    }

    /// Records how one iteration of the agent named `agent` ended and how long it `took`
    /// (from its intended start in an open model).
    pub(crate) fn iteration_ended(
        &self,
        agent: &str,
        outcome: IterationOutcome<'_>,
        took: Duration,
    ) {
        let second = self.second(Instant::now());
        self.with_shard(|shard| {
            shard.roll(second, &self.shared.series);
            shard.live.iterations += 1;
            let it = match shard.iterations.get_mut(agent) {
                Some(i) => i,
                None => shard.iterations.entry(agent.into()).or_default(),
            };
            it.duration
                .get_or_insert_with(new_histogram)
                .saturating_record(micros(took));
            match outcome {
                IterationOutcome::Completed => it.completed += 1,
                IterationOutcome::Failed {
                    class,
                    message,
                    injected,
                } => {
                    it.failed += 1;
                    it.failures
                        .entry(class)
                        .or_default()
                        .add_marked(injected, || message.to_owned());
                }
                IterationOutcome::Panicked { agent_id, message } => {
                    it.panicked += 1;
                    add_panic(&mut it.panics, message, 1, &[agent_id]);
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
        let shards: Vec<_> = lock(&self.shared.shards).clone();
        let settings = &self.shared.settings;
        let mut snap = MetricsSnapshot::new(settings.windows.len());
        snap.services = settings
            .services
            .iter()
            .map(|(name, url)| {
                (
                    name.clone(),
                    url.clone(),
                    RequestMetrics::new(settings.intended),
                )
            })
            .collect();
        snap.series = lock(&self.shared.series).clone();
        snap.intended = settings.intended;
        for shard in shards {
            let shard = lock(&shard);
            snap.absorb(ShardParts {
                requests: &shard.requests,
                windows: &shard.windows,
                lateness: shard.lateness.as_ref(),
                checks: &shard.checks,
                iterations: &shard.iterations,
                steps: &shard.steps,
                waits: &shard.waits,
                services: &shard.services,
                variations: &shard.variations,
            });
            if !shard.live.is_empty() {
                snap.series.add(shard.live_second, shard.live.compact());
            }
        }
        snap
    }
}

fn micros_of(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A latency in microseconds; at least 1, the histograms' lowest value.
fn micros(d: Duration) -> u64 {
    micros_of(d).max(1)
}

/// Records into the metrics of `name`, or of [`OVERFLOW_NAME`] once a map holds
/// [`MAX_NAMES`] names.
fn record_named(
    map: &mut BTreeMap<Box<str>, RequestMetrics>,
    name: &str,
    with_intended: bool,
    (micros, intended): (u64, Option<u64>),
    outcome: Outcome<'_>,
    injected: bool,
) {
    let name = if map.len() >= MAX_NAMES && !map.contains_key(name) {
        OVERFLOW_NAME
    } else {
        name
    };
    let stats = match map.get_mut(name) {
        Some(s) => s,
        None => map
            .entry(name.into())
            .or_insert_with(|| RequestMetrics::new(with_intended)),
    };
    stats.record_marked(micros, intended, outcome, injected);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::vocabulary::{
        MAX_PANIC_MESSAGES, MAX_SAMPLE_CHARS, MAX_SAMPLES, OTHER_PANICS, clipped,
    };
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

    #[test]
    fn distinct_panic_messages_are_bounded_and_still_counted() {
        let rec = Recorder::new();
        for i in 0..10_000u64 {
            let message = format!("agent gave up at {i}");
            rec.iteration(
                "shopper",
                IterationOutcome::Panicked {
                    agent_id: i,
                    message: &message,
                },
            );
        }
        let long = "x".repeat(10_000);
        let mut panics = HashMap::new();
        add_panic(&mut panics, &long, 1, &[1]);
        assert!(
            panics
                .keys()
                .all(|k| k.chars().count() <= MAX_SAMPLE_CHARS + 1)
        );
        // Once the bound is reached, a long message seen before still finds its own entry.
        for i in 0..MAX_PANIC_MESSAGES {
            add_panic(&mut panics, &format!("other {i}"), 1, &[2]);
        }
        add_panic(&mut panics, &long, 1, &[3]);
        assert_eq!(panics[&*clipped(&long)], (2, vec![1, 3]));
        let it = &rec.snapshot().iterations["shopper"];
        assert_eq!(it.panicked, 10_000);
        assert_eq!(it.panics.len(), MAX_PANIC_MESSAGES + 1);
        assert_eq!(it.panics.values().map(|p| p.0).sum::<u64>(), 10_000);
        assert_eq!(
            it.panics[OTHER_PANICS].0,
            10_000 - MAX_PANIC_MESSAGES as u64
        );
    }
}
