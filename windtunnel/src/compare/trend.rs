//! Change points in a run history: where a metric's level shifted, so that a slow creep over
//! many runs is found as well as a step.
//!
//! The method is binary segmentation with a permutation test: within a stretch of runs, the
//! split that best separates the mean before from the mean after (the largest
//! `√(n₁·n₂/n)·|mean₁ − mean₂|`) is a shift when fewer than [`ALPHA`] of
//! [`PERMUTATIONS`] shuffles of the same stretch separate as well; then both sides are searched
//! again. No distribution is assumed. Each side of a shift holds at least [`MIN_SEGMENT`] runs,
//! so one odd run is not a shift. The shuffles come from a fixed seed: the same history always
//! gives the same answer.
//!
//! ```
//! use windtunnel::compare::trend::change_points;
//! let p99 = [10.0, 10.2, 9.9, 10.1, 10.0, 10.1, 13.1, 12.9, 13.0, 13.2, 12.8, 13.0];
//! let shifts = change_points(&p99, true);
//! assert_eq!(shifts.len(), 1);
//! assert_eq!(shifts[0].at, 6);
//! assert!((shifts[0].change - 0.30).abs() < 0.02);
//! ```

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::Serialize;

/// The significance level of each test.
pub const ALPHA: f64 = 0.01;
/// How many shuffles each test draws.
pub const PERMUTATIONS: usize = 1999;
/// The fewest runs on each side of a shift.
pub const MIN_SEGMENT: usize = 3;

/// A shift in a metric's level.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Shift {
    /// The index of the first value after the shift.
    pub at: usize,
    /// The mean before it, back to the values' scale (the geometric mean on the log scale),
    /// over the stretch the test split.
    pub before: f64,
    /// The mean after it, likewise.
    pub after: f64,
    /// `after / before − 1` (on the log scale), or `after − before`.
    pub change: f64,
    /// The permutation test's p-value.
    pub p_value: f64,
}

/// The shifts in `values` (in order, oldest first), judged on the log scale when `log` (for
/// latencies and throughput: a shift is then a ratio). Values that are not finite, or not
/// positive on the log scale, are an empty answer. With few runs a shift cannot be significant
/// however large: 10 runs split 5 and 5 can be arranged only 252 ways, so the clearest split
/// has a p-value near 2/252, just under [`ALPHA`]; 12 runs are enough for a clear step.
pub fn change_points(values: &[f64], log: bool) -> Vec<Shift> {
    if values.iter().any(|v| !v.is_finite() || (log && *v <= 0.0)) {
        return Vec::new();
    }
    let xs: Vec<f64> = values
        .iter()
        .map(|&v| if log { v.ln() } else { v })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(0x7ee4d);
    let mut out = Vec::new();
    split(&xs, 0, &mut rng, &mut out);
    out.sort_by_key(|s| s.at);
    for s in &mut out {
        if log {
            s.before = s.before.exp();
            s.after = s.after.exp();
            s.change = s.after / s.before - 1.0;
        } else {
            s.change = s.after - s.before;
        }
    }
    out
}

/// The best split of `xs` and how well it separates: (index, statistic).
fn best_split(xs: &[f64]) -> (usize, f64) {
    let n = xs.len();
    let total: f64 = xs.iter().sum();
    let mut left = 0.0;
    let mut best = (0, f64::NEG_INFINITY);
    for k in 1..n {
        left += xs[k - 1];
        if k < MIN_SEGMENT || n - k < MIN_SEGMENT {
            continue;
        }
        let (nl, nr) = (k as f64, (n - k) as f64);
        let diff = left / nl - (total - left) / nr;
        let stat = (nl * nr / n as f64).sqrt() * diff.abs();
        if stat > best.1 {
            best = (k, stat);
        }
    }
    best
}

fn split(xs: &[f64], offset: usize, rng: &mut ChaCha8Rng, out: &mut Vec<Shift>) {
    if xs.len() < 2 * MIN_SEGMENT {
        return;
    }
    let (k, stat) = best_split(xs);
    if stat <= 0.0 {
        return;
    }
    let mut shuffled = xs.to_vec();
    let mut as_good = 0usize;
    for _ in 0..PERMUTATIONS {
        // Fisher–Yates.
        for i in (1..shuffled.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        if best_split(&shuffled).1 >= stat - 1e-12 {
            as_good += 1;
        }
    }
    let p_value = (as_good + 1) as f64 / (PERMUTATIONS + 1) as f64;
    if p_value >= ALPHA {
        return;
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    out.push(Shift {
        at: offset + k,
        before: mean(&xs[..k]),
        after: mean(&xs[k..]),
        change: 0.0,
        p_value,
    });
    split(&xs[..k], offset, rng, out);
    split(&xs[k..], offset + k, rng, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Noise from a fixed generator: uniform in ±`amp`.
    fn noise(n: usize, amp: f64, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| (rng.next_u64() as f64 / u64::MAX as f64 * 2.0 - 1.0) * amp)
            .collect()
    }

    #[test]
    fn a_flat_noisy_history_has_no_shift() {
        let mut false_alarms = 0;
        for seed in 0..50 {
            let xs: Vec<f64> = noise(30, 0.05, seed)
                .iter()
                .map(|e| 10.0 * (1.0 + e))
                .collect();
            false_alarms += usize::from(!change_points(&xs, true).is_empty());
        }
        // At 1% per test and a few tests per history, a handful at most.
        assert!(
            false_alarms <= 3,
            "{false_alarms} of 50 flat histories had a shift"
        );
    }

    #[test]
    fn a_step_and_a_slow_creep_are_found() {
        let step: Vec<f64> = noise(20, 0.03, 1)
            .iter()
            .enumerate()
            .map(|(i, e)| (if i < 12 { 10.0 } else { 12.0 }) * (1.0 + e))
            .collect();
        let found = change_points(&step, true);
        assert_eq!(found.len(), 1, "{step:?} {found:?}");
        assert_eq!(found[0].at, 12);
        assert!((found[0].change - 0.2).abs() < 0.03, "{found:?}");
        // +1% a run for 30 runs, in ±3% noise: no single step, but a shift all the same.
        let creep: Vec<f64> = noise(30, 0.03, 2)
            .iter()
            .enumerate()
            .map(|(i, e)| 10.0 * (1.0 + 0.01 * i as f64) * (1.0 + e))
            .collect();
        assert!(!change_points(&creep, true).is_empty());
        // Error rates are judged in absolute terms.
        let errors = [
            0.0, 0.01, 0.0, 0.01, 0.0, 0.0, 0.1, 0.11, 0.09, 0.1, 0.1, 0.09,
        ];
        let found = change_points(&errors, false);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].at, 6);
        assert!((found[0].change - 0.095).abs() < 0.01, "{found:?}");
    }

    #[test]
    fn short_or_broken_histories_have_none() {
        assert!(change_points(&[1.0, 2.0, 3.0, 9.0, 9.0], true).is_empty());
        assert!(change_points(&[1.0, 1.0, 1.0, 0.0, 5.0, 5.0, 5.0], true).is_empty());
        assert!(change_points(&[1.0; 10], true).is_empty());
    }
}
