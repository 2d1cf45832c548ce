//! [`MetricsSnapshot`]: the merged metrics of all shards, and the per-name statistics they hold.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;

use super::recorder::{
    CheckCounters, ErrorCounter, ErrorKind, IterationCounters, Outcome, Shard, new_histogram,
};

/// Errors of one kind: a count and a few distinct sample messages.
pub(crate) type ErrorClass = ErrorCounter;

/// Everything recorded under one request name.
#[derive(Clone, Debug)]
pub(crate) struct RequestMetrics {
    /// Latency in microseconds of every request, failed ones included.
    pub(crate) histogram: Histogram<u64>,
    pub(crate) count: u64,
    /// Requests that failed: transport errors and statuses the request did not accept.
    pub(crate) failed: u64,
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) errors: BTreeMap<ErrorKind, ErrorClass>,
}

impl RequestMetrics {
    pub(crate) fn new() -> Self {
        RequestMetrics {
            histogram: new_histogram(),
            count: 0,
            failed: 0,
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }

    pub(crate) fn record(&mut self, micros: u64, outcome: Outcome<'_>) {
        self.histogram.saturating_record(micros);
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
                        .add(detail);
                }
            }
            Outcome::Failed { kind, message } => {
                self.failed += 1;
                self.errors.entry(kind).or_default().add(message);
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &RequestMetrics) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms share their bounds");
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
#[derive(Clone, Debug, Default)]
pub(crate) struct MetricsSnapshot {
    pub(crate) requests: BTreeMap<String, RequestMetrics>,
    pub(crate) checks: BTreeMap<String, CheckCounters>,
    pub(crate) iterations: BTreeMap<String, IterationCounters>,
}

impl MetricsSnapshot {
    pub(crate) fn absorb(&mut self, shard: &Shard) {
        for (name, m) in &shard.requests {
            match self.requests.get_mut(&**name) {
                Some(existing) => existing.merge(m),
                None => {
                    self.requests.insert(name.to_string(), m.clone());
                }
            }
        }
        for (name, c) in &shard.checks {
            let mine = self.checks.entry(name.to_string()).or_default();
            mine.passed += c.passed;
            mine.failed.merge(&c.failed);
        }
        for (name, it) in &shard.iterations {
            let mine = self.iterations.entry(name.to_string()).or_default();
            mine.completed += it.completed;
            mine.failed += it.failed;
            mine.panicked += it.panicked;
            for (class, counter) in &it.failures {
                mine.failures.entry(class).or_default().merge(counter);
            }
            merge_panics(&mut mine.panics, &it.panics);
        }
    }

    /// All requests merged into one, for overall objectives and totals.
    pub(crate) fn total(&self) -> RequestMetrics {
        let mut total = RequestMetrics::new();
        for m in self.requests.values() {
            total.merge(m);
        }
        total
    }
}

fn merge_panics(
    into: &mut HashMap<String, (u64, Vec<u64>)>,
    from: &HashMap<String, (u64, Vec<u64>)>,
) {
    for (msg, (count, ids)) in from {
        let entry = into.entry(msg.clone()).or_default();
        entry.0 += count;
        for id in ids {
            if entry.1.len() < super::recorder::MAX_SAMPLES && !entry.1.contains(id) {
                entry.1.push(*id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_merges_histograms_not_percentiles() {
        let mut snap = MetricsSnapshot::default();
        let mut fast = RequestMetrics::new();
        let mut slow = RequestMetrics::new();
        for _ in 0..99 {
            fast.record(1_000, Outcome::Ok);
        }
        slow.record(1_000_000, Outcome::Ok);
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
        let mut m = RequestMetrics::new();
        assert_eq!(m.error_rate(), 0.0);
        m.record(
            10,
            Outcome::Response {
                status: 200,
                accepted: true,
                detail: &String::new,
            },
        );
        m.record(
            10,
            Outcome::Response {
                status: 500,
                accepted: false,
                detail: &|| "500".into(),
            },
        );
        m.record(
            10,
            Outcome::Failed {
                kind: ErrorKind::Timeout,
                message: &|| "t".into(),
            },
        );
        m.record(
            10,
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
