//! What one run measured, with how uncertain each number is: the estimates [`super::compare`]
//! judges changes by.
//!
//! Within a run, the uncertainty of a percentile comes from its exact histogram (the
//! distribution-free interval of an order statistic: what resampling the histogram gives, without
//! the resampling), that of an error rate from the binomial. The run's per-second series, cut
//! into batches (the method of batch means), shows how much more the run wandered over time than
//! independent samples would: for percentiles that excess is added to every request name's
//! variance (a slow second slows every request a little), for error rates it multiplies it
//! (failures that come in bursts). Throughput's noise comes from the batches directly.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::metrics::{MetricsSnapshot, RequestMetrics, histogram_of};
use crate::report::LoadReport;

/// The percentiles compared, as quantiles and as they are named.
pub(crate) const QUANTILES: [(f64, &str); 3] = [(0.50, "p50"), (0.95, "p95"), (0.99, "p99")];

/// The z of the 95% order-statistic interval a percentile's standard error is read from.
const Z95: f64 = 1.959_964;

/// A number and its standard error: on the log scale for latencies and throughput (so that it
/// reads as a relative error), in absolute terms for error rates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Estimate {
    pub(crate) value: f64,
    pub(crate) se: f64,
}

/// One request name (or `*`) of one run.
pub(crate) struct Subject {
    pub(crate) count: u64,
    pub(crate) failed: u64,
    service: Histogram<u64>,
    intended: Option<Histogram<u64>>,
}

/// One load of one run, ready to be compared.
pub(crate) struct Measured {
    pub(crate) subjects: BTreeMap<String, Subject>,
    elapsed_s: f64,
    /// Per compared quantile, how much more the log of the total's estimate varies over the
    /// run's batches than an order statistic of independent samples would: a variance (≥ 0)
    /// added to each request name's.
    quantile_excess: [f64; 3],
    /// The same for the failure share.
    error_inflation: f64,
    /// The relative standard error of the total throughput over the run's batches.
    throughput_rel_se: f64,
    /// How many batches of the series those were measured on (0: the series was too short).
    pub(crate) batches: usize,
}

impl Measured {
    /// The exact metrics of `load`, or why there are none.
    pub(crate) fn of(load: &LoadReport) -> Result<Self, String> {
        let exact = load.exact.as_ref().ok_or_else(|| {
            if load.capacity.is_some() {
                "a capacity search keeps no exact histograms".to_owned()
            } else {
                "the report has no exact histograms (written by an older windtunnel)".to_owned()
            }
        })?;
        let mut snap = exact.snapshot(load, 0).map_err(|e| e.to_string())?;
        let ramp = load.config.ramp_up_s.unwrap_or(0.0);
        let batches = Batches::of(&snap, ramp, load.elapsed_s);
        let total = Subject::from(snap.total());
        let mut subjects: BTreeMap<String, Subject> = std::mem::take(&mut snap.requests)
            .into_iter()
            .map(|(name, m)| (name, Subject::from(m)))
            .collect();
        subjects.insert("*".to_owned(), total);
        Ok(Measured {
            subjects,
            elapsed_s: load.elapsed_s.max(f64::MIN_POSITIVE),
            quantile_excess: QUANTILES.map(|(q, _)| batches.quantile_excess(q)),
            error_inflation: batches.error_inflation(),
            throughput_rel_se: batches.throughput_rel_se(),
            batches: batches.len(),
        })
    }

    /// The `i`th of [`QUANTILES`] of `subject`, in milliseconds: service time, or latency from
    /// the intended start. `None` without samples.
    pub(crate) fn quantile(&self, subject: &str, i: usize, intended: bool) -> Option<Estimate> {
        let s = self.subjects.get(subject)?;
        let h = if intended {
            s.intended.as_ref()?
        } else {
            &s.service
        };
        let mut e = order_statistic(h, QUANTILES[i].0)?;
        e.se = (e.se.powi(2) + self.quantile_excess[i]).sqrt();
        Some(e)
    }

    /// The share of `subject`'s requests that failed. `None` without requests.
    pub(crate) fn error_rate(&self, subject: &str) -> Option<Estimate> {
        let s = self.subjects.get(subject).filter(|s| s.count > 0)?;
        let n = s.count as f64;
        let p = s.failed as f64 / n;
        // Agresti–Caffo: no failures is not certainty of none.
        let adj = (s.failed as f64 + 1.0) / (n + 2.0);
        let se = (adj * (1.0 - adj) / (n + 2.0) * self.error_inflation).sqrt();
        Some(Estimate { value: p, se })
    }

    /// `subject`'s requests per second of the load. `None` without requests.
    pub(crate) fn throughput(&self, subject: &str) -> Option<Estimate> {
        let s = self.subjects.get(subject).filter(|s| s.count > 0)?;
        let total = self.subjects["*"].count.max(1) as f64;
        let n = s.count as f64;
        // Counting noise is the floor; the series' batches show more when the rate wandered.
        let total_rel = self.throughput_rel_se.max(1.0 / total.sqrt());
        let share = (n / total).min(1.0);
        let se = (total_rel.powi(2) + (1.0 - share) / n).sqrt();
        Some(Estimate {
            value: n / self.elapsed_s,
            se,
        })
    }

    /// Whether `subject` recorded a latency from the intended start (open models).
    pub(crate) fn has_intended(&self, subject: &str) -> bool {
        self.subjects
            .get(subject)
            .and_then(|s| s.intended.as_ref())
            .is_some_and(|h| !h.is_empty())
    }
}

impl From<RequestMetrics> for Subject {
    fn from(m: RequestMetrics) -> Self {
        Subject {
            count: m.count,
            failed: m.failed,
            service: m.histogram,
            intended: m.intended,
        }
    }
}

/// The `q` quantile of `h` in milliseconds, with its standard error on the log scale from the
/// ranks of the 95% distribution-free interval of that order statistic (n·q ± z·√(n·q·(1−q))).
pub(crate) fn order_statistic(h: &Histogram<u64>, q: f64) -> Option<Estimate> {
    let n = h.len();
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let spread = Z95 * (nf * q * (1.0 - q)).sqrt();
    let at = |rank: f64| (h.value_at_quantile((rank / nf).clamp(0.0, 1.0)) as f64).max(1.0);
    let lo = at(nf * q - spread);
    let hi = at(nf * q + spread);
    Some(Estimate {
        value: at(nf * q) / 1000.0,
        se: (hi.ln() - lo.ln()) / (2.0 * Z95),
    })
}

/// The steady part of a run's series cut into batches of neighbouring points: the points after
/// the ramp-up whose interval ended before the load did.
struct Batches {
    batches: Vec<Batch>,
}

struct Batch {
    seconds: f64,
    requests: u64,
    failed: u64,
    service: Histogram<u64>,
}

/// Fewer steady points than this, and the series says nothing about noise.
const MIN_BATCHES: usize = 4;

impl Batches {
    fn of(snap: &MetricsSnapshot, ramp_s: f64, elapsed_s: f64) -> Self {
        let interval = snap.series.interval().as_secs_f64();
        let steady: Vec<_> = snap
            .series
            .points()
            .iter()
            .filter(|&(&i, _)| {
                let from = i as f64 * interval;
                from >= ramp_s.ceil() && from + interval <= elapsed_s
            })
            .map(|(_, p)| p)
            .collect();
        if steady.len() < MIN_BATCHES {
            return Batches {
                batches: Vec::new(),
            };
        }
        // Up to 10 batches of a point each; beyond, about √points batches (at least 10), so
        // that each batch spans enough seconds to be nearly independent of the next.
        let n = steady.len();
        let count = if n <= 10 {
            n
        } else {
            ((n as f64).sqrt().round() as usize).max(10)
        };
        let batches = (0..count)
            .map(|b| {
                let part = &steady[b * n / count..(b + 1) * n / count];
                let mut service = histogram_of(&Vec::new());
                for p in part {
                    service.add(histogram_of(&p.service)).ok();
                }
                Batch {
                    seconds: part.len() as f64 * interval,
                    requests: part.iter().map(|p| p.requests).sum(),
                    failed: part.iter().map(|p| p.failed).sum(),
                    service,
                }
            })
            .collect();
        Batches { batches }
    }

    fn len(&self) -> usize {
        self.batches.len()
    }

    /// How much more the log of the `q` quantile varies between batches than the order
    /// statistic of all their samples says it should: the variance of the batch estimates over
    /// the number of batches, less the order statistic's variance.
    fn quantile_excess(&self, q: f64) -> f64 {
        if self.batches.is_empty() {
            return 0.0;
        }
        let logs: Vec<f64> = self
            .batches
            .iter()
            .filter_map(|b| order_statistic(&b.service, q))
            .map(|e| e.value.max(1e-3).ln())
            .collect();
        let mut all = histogram_of(&Vec::new());
        for b in &self.batches {
            all.add(&b.service).ok();
        }
        let Some(iid) = order_statistic(&all, q) else {
            return 0.0;
        };
        if logs.len() < MIN_BATCHES {
            return 0.0;
        }
        let between = variance(&logs) / logs.len() as f64;
        (between - iid.se.powi(2)).max(0.0)
    }

    /// The same for the share of failed requests.
    fn error_inflation(&self) -> f64 {
        let (n, f) = self
            .batches
            .iter()
            .fold((0, 0), |(n, f), b| (n + b.requests, f + b.failed));
        if n == 0 || f == 0 || self.batches.len() < MIN_BATCHES {
            return 1.0;
        }
        let p = f as f64 / n as f64;
        let shares: Vec<f64> = self
            .batches
            .iter()
            .filter(|b| b.requests > 0)
            .map(|b| b.failed as f64 / b.requests as f64)
            .collect();
        let between = variance(&shares) / shares.len() as f64;
        (between / (p * (1.0 - p) / n as f64)).clamp(1.0, 1e4)
    }

    /// The relative standard error of the mean rate over the batches.
    fn throughput_rel_se(&self) -> f64 {
        if self.batches.len() < MIN_BATCHES {
            return 0.0;
        }
        let rates: Vec<f64> = self
            .batches
            .iter()
            .map(|b| b.requests as f64 / b.seconds)
            .collect();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        if mean <= 0.0 {
            return 0.0;
        }
        (variance(&rates) / rates.len() as f64).sqrt() / mean
    }
}

/// The sample variance (n − 1); 0 for fewer than two values.
pub(crate) fn variance(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = crate::metrics::new_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn an_order_statistic_narrows_with_the_square_root_of_the_samples() {
        // Uniform latencies 1..=1000 ms: the median is 500 ms; its interval holds the ranks
        // n/2 ± 1.96·√n/2.
        let small = histogram((1..=1000).map(|ms| ms * 1000));
        let large = histogram((1..=1000).flat_map(|ms| std::iter::repeat_n(ms * 1000, 100)));
        let s = order_statistic(&small, 0.5).unwrap();
        let l = order_statistic(&large, 0.5).unwrap();
        assert!((s.value - 500.0).abs() < 1.0, "{s:?}");
        // ±31 ranks of 1000 around 500 ms: ln(531/469) / 3.92.
        let expected = (531.0f64 / 469.0).ln() / (2.0 * Z95);
        assert!((s.se - expected).abs() < 0.002, "{s:?} vs {expected}");
        // √100 = 10, less what the histogram's 3 significant digits round away.
        assert!((8.0..12.0).contains(&(s.se / l.se)), "{s:?} {l:?}");
        assert_eq!(order_statistic(&histogram([]), 0.5), None);
    }

    #[test]
    fn variance_is_the_sample_variance() {
        assert_eq!(variance(&[1.0, 2.0, 3.0, 4.0]), 5.0 / 3.0);
        assert_eq!(variance(&[7.0]), 0.0);
    }
}
