//! [`AgentRng`]: the per-agent random number generator, derived from the scenario seed; and
//! [`random_seed`], the seed of a run that names none.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// A seeded random number generator, one per agent.
///
/// It is ChaCha8 (from `rand_chacha`, whose output is stable across versions), keyed by the
/// scenario seed and the agent's id as the stream, so agent 7 of a run with seed 42 draws the same
/// numbers every time, whichever thread it runs on and whenever it starts.
///
/// ```
/// # use windtunnel::AgentRng;
/// let mut a = AgentRng::new(42, 7);
/// let mut b = AgentRng::new(42, 7);
/// assert_eq!(a.below(1000), b.below(1000));
/// assert_eq!(a.choose(&["x", "y", "z"]), b.choose(&["x", "y", "z"]));
/// ```
#[derive(Clone, Debug)]
pub struct AgentRng {
    inner: ChaCha8Rng,
}

impl AgentRng {
    /// The generator of agent `agent_id` in a run with seed `seed`.
    pub fn new(seed: u64, agent_id: u64) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(agent_id);
        AgentRng { inner }
    }

    /// A uniformly random `u64`.
    pub fn u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniformly random number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        // Lemire's multiply-shift with rejection: exact, no modulo bias.
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.inner.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// A uniformly random number in `range` (its start when the range is empty).
    pub fn range(&mut self, range: Range<u64>) -> u64 {
        range.start + self.below(range.end.saturating_sub(range.start))
    }

    /// A uniformly random float in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (clamped to `0..=1`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p.clamp(0.0, 1.0)
    }

    /// A uniformly random duration in `range` (its start when the range is empty).
    pub fn duration(&mut self, range: Range<Duration>) -> Duration {
        let lo = u64::try_from(range.start.as_nanos()).unwrap_or(u64::MAX);
        let hi = u64::try_from(range.end.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.range(lo..hi.max(lo)))
    }

    /// An index drawn by `weights` (index `i` with probability `weights[i] / sum`), or `None`
    /// when they add up to 0.
    pub(crate) fn weighted<I>(&mut self, weights: I) -> Option<usize>
    where
        I: Iterator<Item = u32> + Clone,
    {
        let total: u64 = weights.clone().map(u64::from).sum();
        if total == 0 {
            return None;
        }
        let mut draw = self.below(total);
        weights.enumerate().find_map(|(i, w)| {
            if draw < u64::from(w) {
                Some(i)
            } else {
                draw -= u64::from(w);
                None
            }
        })
    }

    /// A uniformly chosen element of `items`, or `None` when it is empty.
    pub fn choose<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let i = self.below(items.len() as u64);
        items.get(i as usize)
    }
}

/// A fresh seed, different for every call in a process and across processes.
pub(crate) fn random_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // SplitMix64 finalizer: spreads nearby inputs over the whole range.
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_draws_skip_zero_weights_and_need_some_weight() {
        let mut rng = AgentRng::new(3, 1);
        for _ in 0..100 {
            assert_eq!(rng.weighted([0, 2, 0].into_iter()), Some(1));
        }
        assert_eq!(rng.weighted([0u32, 0].into_iter()), None);
        assert_eq!(rng.weighted(std::iter::empty()), None);
        let ones = (0..4000)
            .filter(|_| rng.weighted([3, 1].into_iter()) == Some(1))
            .count();
        // 1000 expected, a binomial sd of 27.4; 5 sd either way.
        assert!((863..=1137).contains(&ones), "{ones}");
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(random_seed(), random_seed());
    }

    /// The first eight numbers of agent `agent` in a run seeded with `seed`.
    fn draws(seed: u64, agent: u64) -> Vec<u64> {
        let mut r = AgentRng::new(seed, agent);
        (0..8).map(|_| r.u64()).collect()
    }

    #[test]
    fn same_seed_and_agent_same_stream_different_agents_differ() {
        assert_eq!(draws(1, 1), draws(1, 1));
        assert_ne!(draws(1, 1), draws(1, 2));
        assert_ne!(draws(1, 1), draws(2, 1));
    }

    #[test]
    fn output_is_stable_across_versions() {
        // Pinned: a change here changes every replayed run. Update only on purpose.
        let mut r = AgentRng::new(42, 0);
        let first = r.u64();
        let mut again = AgentRng::new(42, 0);
        assert_eq!(first, again.u64());
        assert_eq!(first, PINNED_FIRST);
    }
    const PINNED_FIRST: u64 = 12_578_764_544_318_200_737;

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = AgentRng::new(7, 3);
        let mut buckets = [0u32; 10];
        for _ in 0..100_000 {
            let v = r.below(10);
            assert!(v < 10);
            buckets[v as usize] += 1;
        }
        for b in buckets {
            assert!((9_500..10_500).contains(&b), "bucket {b}");
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.range(5..5), 5);
    }

    #[test]
    fn f64_and_chance_and_duration_stay_in_bounds() {
        let mut r = AgentRng::new(9, 9);
        let hits = (0..10_000).filter(|_| r.chance(0.3)).count();
        assert!((2_800..3_200).contains(&hits), "{hits}");
        for _ in 0..1000 {
            let x = r.f64();
            assert!((0.0..1.0).contains(&x));
            let d = r.duration(Duration::from_millis(10)..Duration::from_millis(20));
            assert!(d >= Duration::from_millis(10) && d < Duration::from_millis(20));
        }
        assert!(r.choose::<u8>(&[]).is_none());
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
    }
}
