//! The time series of a run: one point per second (per 2, 4, ... seconds once a run outgrows
//! [`MAX_POINTS`]), each with counters and a latency histogram at 2 significant digits. A shard
//! records into a live point; once its second is over the point is compacted to its non-zero
//! buckets and merged into the series, so a long run costs a few KiB per second, not a sample
//! per request.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::vocabulary::HIST_MAX_US;

/// The most points a series keeps; past it, neighbouring points merge and the interval doubles.
pub(crate) const MAX_POINTS: usize = 3600;

fn point_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 2).expect("static histogram bounds are valid")
}

/// The non-zero buckets of a histogram: (highest value of the bucket, count), by value.
pub(crate) type Buckets = Vec<(u64, u64)>;

pub(crate) fn compact(h: &Histogram<u64>) -> Buckets {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

fn merge_buckets(into: &mut Buckets, from: &Buckets) {
    if from.is_empty() {
        return;
    }
    let mut merged = Vec::with_capacity(into.len().max(from.len()));
    let (mut a, mut b) = (into.iter().peekable(), from.iter().peekable());
    loop {
        match (a.peek(), b.peek()) {
            (Some(&&(va, ca)), Some(&&(vb, cb))) => {
                if va == vb {
                    merged.push((va, ca + cb));
                    a.next();
                    b.next();
                } else if va < vb {
                    merged.push((va, ca));
                    a.next();
                } else {
                    merged.push((vb, cb));
                    b.next();
                }
            }
            (Some(&&x), None) => {
                merged.push(x);
                a.next();
            }
            (None, Some(&&y)) => {
                merged.push(y);
                b.next();
            }
            (None, None) => break,
        }
    }
    *into = merged;
}

/// A histogram (2 significant digits) rebuilt from buckets, for percentiles.
pub(crate) fn histogram_of(buckets: &Buckets) -> Histogram<u64> {
    let mut h = point_histogram();
    for &(v, n) in buckets {
        h.saturating_record_n(v, n);
    }
    h
}

/// The point of the current second, as one shard records it.
pub(crate) struct LivePoint {
    requests: u64,
    failed: u64,
    pub(crate) iterations: u64,
    pub(crate) started: u64,
    pub(crate) dropped: u64,
    service: Histogram<u64>,
    intended: Option<Histogram<u64>>,
}

impl LivePoint {
    pub(crate) fn new(intended: bool) -> Self {
        LivePoint {
            requests: 0,
            failed: 0,
            iterations: 0,
            started: 0,
            dropped: 0,
            service: point_histogram(),
            intended: intended.then(point_histogram),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.requests == 0 && self.iterations == 0 && self.started == 0 && self.dropped == 0
    }

    pub(crate) fn record(&mut self, micros: Option<u64>, intended: Option<u64>, failed: bool) {
        self.requests += 1;
        self.failed += u64::from(failed);
        let Some(micros) = micros else {
            return;
        };
        self.service.saturating_record(micros);
        if let (Some(h), Some(v)) = (&mut self.intended, intended) {
            h.saturating_record(v);
        }
    }

    /// The point, compacted.
    pub(crate) fn compact(&self) -> Point {
        Point {
            requests: self.requests,
            failed: self.failed,
            iterations: self.iterations,
            started: self.started,
            dropped: self.dropped,
            active: 0,
            service: compact(&self.service),
            intended: self.intended.as_ref().map(compact).unwrap_or_default(),
        }
    }

    /// The point, compacted, leaving this one empty for the next second.
    pub(crate) fn take(&mut self) -> Point {
        let point = self.compact();
        self.requests = 0;
        self.failed = 0;
        self.iterations = 0;
        self.started = 0;
        self.dropped = 0;
        self.service.reset();
        if let Some(h) = &mut self.intended {
            h.reset();
        }
        point
    }
}

/// One point of the series.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Point {
    /// Requests that ended in it.
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    /// Iterations that ended in it.
    pub(crate) iterations: u64,
    /// Iterations started (open model).
    pub(crate) started: u64,
    /// Iterations dropped for want of a free agent (open model).
    pub(crate) dropped: u64,
    /// The most agents busy at once, as sampled.
    pub(crate) active: u64,
    /// Service time, in microseconds.
    pub(crate) service: Buckets,
    /// Latency from the intended start, in microseconds (open model).
    pub(crate) intended: Buckets,
}

impl Point {
    fn merge(&mut self, other: &Point) {
        self.requests += other.requests;
        self.failed += other.failed;
        self.iterations += other.iterations;
        self.started += other.started;
        self.dropped += other.dropped;
        self.active = self.active.max(other.active);
        merge_buckets(&mut self.service, &other.service);
        merge_buckets(&mut self.intended, &other.intended);
    }
}

/// The series: points by index (seconds since the start divided by the interval).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    seconds_per_point: u64,
    points: BTreeMap<u64, Point>,
    /// Whether the points carry intended-start latency.
    pub(crate) intended: bool,
}

impl Series {
    pub(crate) fn new(intended: bool) -> Self {
        Series {
            seconds_per_point: 1,
            points: BTreeMap::new(),
            intended,
        }
    }

    /// The time one point covers.
    pub(crate) fn interval(&self) -> Duration {
        Duration::from_secs(self.seconds_per_point)
    }

    /// The points, by index; point `i` covers `[i * interval, (i + 1) * interval)`.
    pub(crate) fn points(&self) -> &BTreeMap<u64, Point> {
        &self.points
    }

    fn point(&mut self, second: u64) -> &mut Point {
        let i = second / self.seconds_per_point;
        self.points.entry(i).or_default()
    }

    /// Adds what was recorded in `second`.
    pub(crate) fn add(&mut self, second: u64, point: Point) {
        self.point(second).merge(&point);
        self.bound();
    }

    /// Notes `active` busy agents in `second`.
    pub(crate) fn active(&mut self, second: u64, active: u64) {
        if active == 0 {
            return;
        }
        let p = self.point(second);
        p.active = p.active.max(active);
        self.bound();
    }

    /// Merges another series (of the same run, e.g. another capacity step) into this one.
    pub(crate) fn merge(&mut self, other: &Series) {
        for (i, p) in &other.points {
            let second = i * other.seconds_per_point;
            self.point(second).merge(p);
        }
        self.bound();
    }

    /// Keeps at most [`MAX_POINTS`] points by doubling the interval.
    fn bound(&mut self) {
        while self.points.len() > MAX_POINTS {
            self.seconds_per_point *= 2;
            let old = std::mem::take(&mut self.points);
            for (i, p) in old {
                self.points.entry(i / 2).or_default().merge(&p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_compact_and_merge_exactly() {
        let mut a = LivePoint::new(true);
        let mut b = LivePoint::new(true);
        for v in [100, 200, 300] {
            a.record(Some(v), Some(v + 1000), false);
        }
        b.record(Some(200), Some(5000), true);
        let mut series = Series::new(true);
        series.add(3, a.take());
        assert!(a.is_empty());
        series.add(3, b.take());
        let p = &series.points()[&3];
        assert_eq!((p.requests, p.failed), (4, 1));
        let h = histogram_of(&p.service);
        assert_eq!(h.len(), 4);
        assert_eq!(h.count_at(200), 2);
        assert!(h.equivalent(h.max(), 300));
        assert!(histogram_of(&p.intended).equivalent(histogram_of(&p.intended).max(), 5000));
    }

    #[test]
    fn a_long_run_doubles_the_interval_instead_of_growing() {
        let mut series = Series::new(false);
        for s in 0..(MAX_POINTS as u64 * 2 + 10) {
            let mut p = LivePoint::new(false);
            p.record(Some(10), None, false);
            series.add(s, p.take());
            series.active(s, s);
        }
        assert!(series.points().len() <= MAX_POINTS);
        assert_eq!(series.interval(), Duration::from_secs(4));
        let total: u64 = series.points().values().map(|p| p.requests).sum();
        assert_eq!(total, MAX_POINTS as u64 * 2 + 10);
        assert_eq!(series.points()[&1].active, 7);
    }
}
