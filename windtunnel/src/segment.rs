//! Execution segments: segment `i` of `n` of a scenario's load, so that `n` processes (a
//! Kubernetes Indexed Job, a CI matrix, plain processes) together run exactly the load one
//! process would have run.
//!
//! The whole load is cut into numbered units: users (by their place in the ramp-up), shared
//! iterations, an open model's arrivals (by their place in the schedule), a fault's injection
//! budget. Segment `i` owns the units `k` with `k mod n = i - 1`, striped like k6's
//! execution-segment sequences, so that
//!
//! - the shares of all segments add up to the whole, with no unit lost or doubled to rounding;
//! - shares differ by at most one, and every segment gets its part of a ramp-up throughout the
//!   ramp, not one end of it;
//! - every unit keeps its number in the whole, so agent ids, and the seeded turbulence
//!   decisions keyed by them, are the ones a single run would have made.
//!
//! Pure arithmetic; tested exhaustively for small loads and on pseudo-random large ones.

use std::fmt;
use std::str::FromStr;

/// Segment `index` of `count` (1-based): `--segment 2/4`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Segment {
    index: u32,
    count: u32,
}

/// The most segments a load may be cut into.
pub(crate) const MAX_SEGMENTS: u32 = 10_000;

impl Default for Segment {
    fn default() -> Self {
        Segment::WHOLE
    }
}

impl Segment {
    /// The whole load: segment 1 of 1.
    pub(crate) const WHOLE: Segment = Segment { index: 1, count: 1 };

    /// Segment `index` (1-based) of `count`, or why not.
    pub(crate) fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 {
            return Err("the number of segments must be at least 1".into());
        }
        if count > MAX_SEGMENTS {
            return Err(format!("at most {MAX_SEGMENTS} segments"));
        }
        if index == 0 || index > count {
            return Err(format!(
                "segment {index} of {count} does not exist: segments are numbered from 1 to \
                 {count}"
            ));
        }
        Ok(Segment { index, count })
    }

    /// The segment of a Kubernetes Indexed Job's pod: `JOB_COMPLETION_INDEX` counts from 0.
    pub(crate) fn from_completion_index(index: u32, count: u32) -> Result<Self, String> {
        if index >= count {
            return Err(format!(
                "completion index {index} is not below the {count} segments: an Indexed Job \
                 with `completions: {count}` numbers its pods from 0 to {}",
                count.saturating_sub(1)
            ));
        }
        Segment::new(index + 1, count)
    }

    /// 1-based.
    pub(crate) fn index(self) -> u32 {
        self.index
    }

    pub(crate) fn count(self) -> u32 {
        self.count
    }

    pub(crate) fn is_whole(self) -> bool {
        self.count == 1
    }

    /// Whether unit `k` (0-based, numbered in the whole load) is this segment's.
    pub(crate) fn owns(self, k: u64) -> bool {
        k % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// How many of `total` units are this segment's.
    pub(crate) fn share(self, total: u64) -> u64 {
        let (n, first) = (u64::from(self.count), u64::from(self.index - 1));
        if total <= first {
            0
        } else {
            (total - first).div_ceil(n)
        }
    }

    /// A number that is unique across segments for this segment's `local`-th thing of a kind
    /// that has no place in the whole (an open model's pool slot, a proxy connection):
    /// `local * n + i - 1`. The whole load's numbers are unchanged.
    pub(crate) fn global(self, local: u64) -> u64 {
        local
            .saturating_mul(u64::from(self.count))
            .saturating_add(u64::from(self.index - 1))
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Segment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let form = "expected `i/n`, segment i of n counted from 1, like `2/4`";
        let (i, n) = s.trim().split_once('/').ok_or(form)?;
        let parse = |t: &str| t.trim().parse::<u32>().map_err(|_| form.to_owned());
        Segment::new(parse(i)?, parse(n)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turbulence::draw::{Domain, Draws};

    /// Every property, for one cut of `total` units into `n` segments.
    fn check(total: u64, n: u32) {
        let segments: Vec<_> = (1..=n).map(|i| Segment::new(i, n).unwrap()).collect();
        let shares: Vec<u64> = segments.iter().map(|s| s.share(total)).collect();
        assert_eq!(shares.iter().sum::<u64>(), total, "{total} units in {n}");
        let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
        assert!(hi - lo <= 1, "{total} in {n}: shares {lo}..{hi}");
        if total <= 5_000 {
            // Disjoint and complete: every unit is owned by exactly one segment, and a
            // segment owns as many as its share.
            let mut owner = vec![0u32; total as usize];
            for s in &segments {
                let units: Vec<u64> = (0..total).filter(|&k| s.owns(k)).collect();
                assert_eq!(units.len() as u64, s.share(total));
                for k in units {
                    owner[k as usize] += 1;
                }
            }
            assert!(owner.iter().all(|&c| c == 1), "{total} in {n}");
        }
        // Local numbers made global never collide across segments.
        let mut ids: Vec<u64> = segments
            .iter()
            .flat_map(|s| (0..20).map(move |l| s.global(l)))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 20 * n as usize);
    }

    #[test]
    fn shares_add_up_and_units_are_disjoint_for_every_small_load() {
        for n in 1..=40 {
            for total in 0..=300 {
                check(total, n);
            }
        }
    }

    #[test]
    fn shares_add_up_for_pseudo_random_large_loads() {
        let mut draws = Draws::new(11, Domain::Request, &[]);
        let mut d = || draws.next_u64();
        for _ in 0..2_000 {
            let n = 1 + (d() % 200) as u32;
            let total = match d() % 3 {
                0 => d() % 10_000,
                1 => d() % 1_000_000_000,
                _ => u64::MAX - d() % 1000,
            };
            check(total, n);
        }
    }

    #[test]
    fn the_whole_is_one_segment_that_owns_everything() {
        let w = Segment::WHOLE;
        assert!(w.is_whole() && (0..100).all(|k| w.owns(k)));
        assert_eq!(w.share(17), 17);
        assert_eq!(w.global(5), 5);
    }

    #[test]
    fn bad_segments_say_what_is_wrong() {
        assert_eq!("2/4".parse::<Segment>().unwrap().to_string(), "2/4");
        assert!(
            "0/4"
                .parse::<Segment>()
                .unwrap_err()
                .contains("numbered from 1 to 4")
        );
        assert!(
            "5/4"
                .parse::<Segment>()
                .unwrap_err()
                .contains("segment 5 of 4")
        );
        assert!(
            "a/b"
                .parse::<Segment>()
                .unwrap_err()
                .contains("expected `i/n`")
        );
        assert!(
            "3".parse::<Segment>()
                .unwrap_err()
                .contains("expected `i/n`")
        );
        assert!("1/0".parse::<Segment>().unwrap_err().contains("at least 1"));
        assert_eq!(
            Segment::from_completion_index(0, 3).unwrap().to_string(),
            "1/3"
        );
        assert!(
            Segment::from_completion_index(3, 3)
                .unwrap_err()
                .contains("from 0 to 2")
        );
    }
}
