//! [`MetricsSnapshot`]: the merged metrics of all shards, and the per-name statistics they hold.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;

use super::series::Series;
use super::vocabulary::{
    CheckCounters, ErrorCounter, ErrorKind, IterationCounters, Outcome, StepCounters,
    VariationCounters, add_panic, add_variation, new_histogram,
};

/// What one thread's shard of a recorder holds, lent to a snapshot to absorb.
pub(crate) struct ShardParts<'a> {
    pub(crate) requests: &'a BTreeMap<Box<str>, RequestMetrics>,
    pub(crate) windows: &'a [BTreeMap<Box<str>, RequestMetrics>],
    pub(crate) lateness: Option<&'a Histogram<u64>>,
    pub(crate) checks: &'a BTreeMap<Box<str>, CheckCounters>,
    pub(crate) iterations: &'a BTreeMap<Box<str>, IterationCounters>,
    pub(crate) steps: &'a BTreeMap<Box<str>, StepCounters>,
    pub(crate) waits: &'a BTreeMap<Box<str>, RequestMetrics>,
    pub(crate) services: &'a [RequestMetrics],
    pub(crate) variations: &'a BTreeMap<Box<str>, VariationCounters>,
}

/// Errors of one kind: a count and a few distinct sample messages.
pub(crate) type ErrorClass = ErrorCounter;

/// Everything recorded under one request name.
#[derive(Clone, Debug)]
pub(crate) struct RequestMetrics {
    /// Service time in microseconds of every request, failed ones included (but not those that
    /// were never sent: `count` can be larger than the histogram's).
    pub(crate) histogram: Histogram<u64>,
    /// Latency from the intended start of the request's iteration (open model only).
    pub(crate) intended: Option<Histogram<u64>>,
    pub(crate) count: u64,
    /// Requests that failed: transport errors and statuses the request did not accept.
    pub(crate) failed: u64,
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) errors: BTreeMap<ErrorKind, ErrorClass>,
}

impl RequestMetrics {
    pub(crate) fn new(intended: bool) -> Self {
        RequestMetrics {
            histogram: new_histogram(),
            intended: intended.then(new_histogram),
            count: 0,
            failed: 0,
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn record(&mut self, micros: u64, intended: Option<u64>, outcome: Outcome<'_>) {
        self.record_marked(micros, intended, outcome, false);
    }

    /// As [`record`](Self::record); a failure turbulence caused (`injected`) is counted so.
    pub(crate) fn record_marked(
        &mut self,
        micros: u64,
        intended: Option<u64>,
        outcome: Outcome<'_>,
        injected: bool,
    ) {
        if outcome.has_latency() {
            self.histogram.saturating_record(micros);
            if let (Some(h), Some(v)) = (&mut self.intended, intended) {
                h.saturating_record(v);
            }
        }
        self.count += 1;
        match outcome {
            Outcome::Ok => {}
            Outcome::Response {
                status,
                accepted,
                detail,
            } => {
                *self.statuses.entry(status).or_insert(0) += 1;
                if !accepted {
                    self.failed += 1;
                    self.errors
                        .entry(ErrorKind::Status)
                        .or_default()
                        .add_marked(injected, detail);
                }
            }
            Outcome::Unmet { status, message } => {
                *self.statuses.entry(status).or_insert(0) += 1;
                self.failed += 1;
                self.errors
                    .entry(ErrorKind::Assertion)
                    .or_default()
                    .add_marked(injected, message);
            }
            Outcome::Failed { kind, message } => {
                self.failed += 1;
                self.errors
                    .entry(kind)
                    .or_default()
                    .add_marked(injected, message);
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &RequestMetrics) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms share their bounds");
        match (&mut self.intended, &other.intended) {
            (Some(mine), Some(theirs)) => {
                mine.add(theirs).expect("histograms share their bounds");
            }
            (None, Some(theirs)) => self.intended = Some(theirs.clone()),
            _ => {}
        }
        self.count += other.count;
        self.failed += other.failed;
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_insert(0) += n;
        }
        for (kind, class) in &other.errors {
            self.errors.entry(*kind).or_default().merge(class);
        }
    }

    /// Failed requests as a share of all requests (0 when there were none).
    pub(crate) fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.failed as f64 / self.count as f64
        }
    }
}

/// The merged metrics of one load run.
#[derive(Clone, Debug)]
pub(crate) struct MetricsSnapshot {
    pub(crate) requests: BTreeMap<String, RequestMetrics>,
    pub(crate) checks: BTreeMap<String, CheckCounters>,
    pub(crate) iterations: BTreeMap<String, IterationCounters>,
    /// Workflow steps (waits, retried requests) by name.
    pub(crate) steps: BTreeMap<String, StepCounters>,
    /// Waits as operations, by name: their durations and outcomes, apart from the requests.
    pub(crate) waits: BTreeMap<String, RequestMetrics>,
    /// Per service of the scenario (the target first): its name, base URL and requests.
    pub(crate) services: Vec<(String, String, RequestMetrics)>,
    /// Per variation, per value: iterations and failed iterations.
    pub(crate) variations: BTreeMap<String, VariationCounters>,
    /// Per window of the recorder, the requests that ended in it.
    pub(crate) windows: Vec<BTreeMap<String, RequestMetrics>>,
    pub(crate) series: Series,
    /// Whether requests carry intended-start latency (open model).
    pub(crate) intended: bool,
    /// How late iterations started, in microseconds (open model).
    pub(crate) lateness: Histogram<u64>,
}

impl Default for MetricsSnapshot {
    fn default() -> Self {
        MetricsSnapshot::new(0)
    }
}

fn merge_named(
    into: &mut BTreeMap<String, RequestMetrics>,
    from: impl IntoIterator<Item = (impl AsRef<str>, impl std::borrow::Borrow<RequestMetrics>)>,
) {
    for (name, m) in from {
        let m = m.borrow();
        match into.get_mut(name.as_ref()) {
            Some(existing) => existing.merge(m),
            None => {
                into.insert(name.as_ref().to_owned(), m.clone());
            }
        }
    }
}

impl MetricsSnapshot {
    pub(crate) fn new(windows: usize) -> Self {
        MetricsSnapshot {
            requests: BTreeMap::new(),
            checks: BTreeMap::new(),
            iterations: BTreeMap::new(),
            steps: BTreeMap::new(),
            waits: BTreeMap::new(),
            services: Vec::new(),
            variations: BTreeMap::new(),
            windows: vec![BTreeMap::new(); windows],
            series: Series::new(false),
            intended: false,
            lateness: new_histogram(),
        }
    }

    pub(crate) fn absorb(&mut self, shard: ShardParts<'_>) {
        merge_named(&mut self.requests, shard.requests);
        merge_named(&mut self.waits, shard.waits);
        for ((_, _, mine), theirs) in self.services.iter_mut().zip(shard.services) {
            mine.merge(theirs);
        }
        self.absorb_variations(shard.variations);
        for (mine, theirs) in self.windows.iter_mut().zip(shard.windows) {
            merge_named(mine, theirs);
        }
        if let Some(lateness) = shard.lateness {
            self.lateness
                .add(lateness)
                .expect("histograms share their bounds");
        }
        self.absorb_counters(shard.checks, shard.iterations, shard.steps);
    }

    /// Merges the snapshot of another part of the same run (a capacity step): everything but
    /// the windows, which belong to each part.
    pub(crate) fn merge(&mut self, other: &MetricsSnapshot) {
        merge_named(&mut self.requests, &other.requests);
        merge_named(&mut self.waits, &other.waits);
        self.absorb_variations(&other.variations);
        for (name, url, theirs) in &other.services {
            match self.services.iter_mut().find(|(n, _, _)| n == name) {
                Some((_, _, mine)) => mine.merge(theirs),
                None => self
                    .services
                    .push((name.clone(), url.clone(), theirs.clone())),
            }
        }
        self.lateness
            .add(&other.lateness)
            .expect("histograms share their bounds");
        self.series.merge(&other.series);
        self.series.intended |= other.series.intended;
        self.intended |= other.intended;
        self.absorb_counters(&other.checks, &other.iterations, &other.steps);
    }

    /// Merges the snapshot of another segment of the same load: everything, the windows too
    /// (a segment's windows are the same parts of the run as this one's).
    pub(crate) fn merge_segment(&mut self, other: &MetricsSnapshot) {
        self.merge(other);
        if self.windows.len() < other.windows.len() {
            self.windows.resize(other.windows.len(), BTreeMap::new());
        }
        for (mine, theirs) in self.windows.iter_mut().zip(&other.windows) {
            merge_named(mine, theirs);
        }
    }

    /// Adds another part's variation counts, within the bounds.
    pub(crate) fn absorb_variations<K: AsRef<str>>(
        &mut self,
        from: &BTreeMap<K, VariationCounters>,
    ) {
        for (name, values) in from {
            for (value, (iterations, failed)) in values {
                add_variation(
                    &mut self.variations,
                    name.as_ref(),
                    value,
                    *iterations,
                    *failed,
                );
            }
        }
    }

    /// Iterations started and dropped (open model), from the series.
    pub(crate) fn started_and_dropped(&self) -> (u64, u64) {
        self.series
            .points()
            .values()
            .fold((0, 0), |(s, d), p| (s + p.started, d + p.dropped))
    }

    fn absorb_counters<K: AsRef<str>>(
        &mut self,
        checks: &BTreeMap<K, CheckCounters>,
        iterations: &BTreeMap<K, IterationCounters>,
        steps: &BTreeMap<K, StepCounters>,
    ) {
        for (name, c) in steps {
            match self.steps.get_mut(name.as_ref()) {
                Some(mine) => mine.merge(c),
                None => {
                    self.steps.insert(name.as_ref().to_owned(), c.clone());
                }
            }
        }
        for (name, c) in checks {
            let mine = self.checks.entry(name.as_ref().to_owned()).or_default();
            mine.passed += c.passed;
            mine.failed.merge(&c.failed);
        }
        for (name, it) in iterations {
            let mine = self.iterations.entry(name.as_ref().to_owned()).or_default();
            mine.completed += it.completed;
            mine.failed += it.failed;
            mine.panicked += it.panicked;
            for (class, counter) in &it.failures {
                mine.failures.entry(class).or_default().merge(counter);
            }
            merge_panics(&mut mine.panics, &it.panics);
            if let Some(theirs) = &it.duration {
                match &mut mine.duration {
                    Some(h) => h.add(theirs).expect("histograms share their bounds"),
                    None => mine.duration = Some(theirs.clone()),
                }
            }
        }
    }

    /// All requests merged into one, for overall objectives and totals.
    pub(crate) fn total(&self) -> RequestMetrics {
        total_of(&self.requests, self.intended)
    }
}

/// The requests of a map merged into one.
pub(crate) fn total_of(
    requests: &BTreeMap<String, RequestMetrics>,
    intended: bool,
) -> RequestMetrics {
    let mut total = RequestMetrics::new(intended);
    for m in requests.values() {
        total.merge(m);
    }
    total
}

fn merge_panics(
    into: &mut HashMap<String, (u64, Vec<u64>)>,
    from: &HashMap<String, (u64, Vec<u64>)>,
) {
    for (msg, (count, ids)) in from {
        add_panic(into, msg, *count, ids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_merges_histograms_not_percentiles() {
        let mut snap = MetricsSnapshot::default();
        let mut fast = RequestMetrics::new(false);
        let mut slow = RequestMetrics::new(false);
        for _ in 0..99 {
            fast.record(1_000, None, Outcome::Ok);
        }
        slow.record(1_000_000, None, Outcome::Ok);
        snap.requests.insert("fast".into(), fast);
        snap.requests.insert("slow".into(), slow);
        let total = snap.total();
        assert_eq!(total.count, 100);
        // The true p99 of the union is 1 ms; the max is 1 s. Averaging per-name p99s would say ~0.5 s.
        assert!(
            total
                .histogram
                .equivalent(total.histogram.value_at_quantile(0.99), 1_000)
        );
        assert!(total.histogram.equivalent(total.histogram.max(), 1_000_000));
    }

    #[test]
    fn error_rate_counts_failed_over_all() {
        let mut m = RequestMetrics::new(false);
        assert_eq!(m.error_rate(), 0.0);
        m.record(
            10,
            None,
            Outcome::Response {
                status: 200,
                accepted: true,
                detail: &String::new,
            },
        );
        m.record(
            10,
            None,
            Outcome::Response {
                status: 500,
                accepted: false,
                detail: &|| "500".into(),
            },
        );
        m.record(
            10,
            None,
            Outcome::Failed {
                kind: ErrorKind::Timeout,
                message: &|| "t".into(),
            },
        );
        m.record(
            10,
            None,
            Outcome::Response {
                status: 404,
                accepted: true,
                detail: &String::new,
            },
        );
        assert_eq!(m.failed, 2);
        assert!((m.error_rate() - 0.5).abs() < 1e-12);
        assert_eq!(m.statuses[&404], 1);
        assert_eq!(m.errors[&ErrorKind::Timeout].count, 1);
    }
}
