//! [`TimeSet`]: a set of instants of a run, measured from the start of the load: a plain range, the
//! occurrences of a turbulence phase (once, or flapping), or the recoveries after them. Objectives
//! are judged on, and the recorder keeps requests apart for, such sets. Pure arithmetic.

use std::time::Duration;

/// When something recurs: from `from` to `to` (`Duration::MAX`: no end), either throughout or,
/// with `every = (period, length)`, for `length` at the start of every `period`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Timing {
    pub(crate) from: Duration,
    pub(crate) to: Duration,
    pub(crate) every: Option<(Duration, Duration)>,
}

/// The most occurrences any loop here walks through: a guard against a nanosecond period.
const MAX_OCCURRENCES: u64 = 1_000_000;

impl Timing {
    /// The last occurrence that starts at or before `t` (at least `from`), as `(start, end)`;
    /// with `every`, also its period. Its start may lie at or past `to`.
    fn latest(&self, t: Duration) -> (Duration, Duration, Option<Duration>) {
        match self.every {
            None => (self.from, self.to, None),
            Some((period, length)) => {
                let k = t.saturating_sub(self.from).as_nanos() / period.as_nanos();
                let start = self.from + nanos(period.as_nanos() * k);
                (
                    start,
                    start.saturating_add(length).min(self.to),
                    Some(period),
                )
            }
        }
    }

    /// The occurrence `t` falls in, as `(start, end)`.
    pub(crate) fn occurrence(&self, t: Duration) -> Option<(Duration, Duration)> {
        if t < self.from || t >= self.to {
            return None;
        }
        let (start, end, _) = self.latest(t);
        (t < end).then_some((start, end))
    }

    /// The number of the last occurrence that starts at or before `t` (0 for a timing without
    /// `every`): what tells the occurrences of a flapping phase apart.
    pub(crate) fn occurrence_index(&self, t: Duration) -> u64 {
        match self.every {
            None => 0,
            Some((period, _)) => {
                let k = t.saturating_sub(self.from).as_nanos() / period.as_nanos();
                u64::try_from(k).unwrap_or(u64::MAX)
            }
        }
    }

    /// The next instant after `t` at which the timing starts or ends an occurrence.
    pub(crate) fn next_change(&self, t: Duration) -> Option<Duration> {
        if t < self.from {
            return Some(self.from);
        }
        if t >= self.to {
            return None;
        }
        match self.latest(t) {
            (_, end, _) if t < end => (end != Duration::MAX).then_some(end),
            (start, _, Some(period)) => {
                let next = start.saturating_add(period);
                (next < self.to).then_some(next)
            }
            (_, _, None) => None,
        }
    }

    /// The occurrences that start before `until`, in order (at most [`MAX_OCCURRENCES`]).
    pub(crate) fn occurrences(
        &self,
        until: Duration,
    ) -> impl Iterator<Item = (Duration, Duration)> {
        let timing = *self;
        let mut next = Some(self.from);
        let mut count = 0;
        std::iter::from_fn(move || {
            let start = next?;
            if start >= until || start >= timing.to || count >= MAX_OCCURRENCES {
                return None;
            }
            count += 1;
            let (end, following) = match timing.every {
                None => (timing.to, None),
                Some((period, length)) => (
                    start.saturating_add(length).min(timing.to),
                    Some(start.saturating_add(period)),
                ),
            };
            next = following;
            Some((start, end))
        })
    }
}

/// A set of instants of a run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TimeSet {
    /// From `.0` (inclusive) to `.1` (exclusive).
    Range(Duration, Duration),
    /// While a phase is active.
    During(Timing),
    /// From `.1` after each occurrence of a phase ends until the next one starts (or the end
    /// of the run).
    After(Timing, Duration),
}

impl TimeSet {
    /// Whether `t` is in the set.
    pub(crate) fn contains(&self, t: Duration) -> bool {
        match self {
            TimeSet::Range(from, to) => *from <= t && t < *to,
            TimeSet::During(timing) => timing.occurrence(t).is_some(),
            TimeSet::After(timing, delay) => {
                if t < timing.from || timing.occurrence(t).is_some() {
                    return false;
                }
                // After the timing's end, the occurrence to recover from is the one that
                // started last before it.
                let before_end = t.min(timing.to.saturating_sub(Duration::from_nanos(1)));
                let (_, last_end, _) = timing.latest(before_end);
                t >= last_end.saturating_add(*delay)
            }
        }
    }

    /// When the set first begins.
    pub(crate) fn start(&self) -> Duration {
        match self {
            TimeSet::Range(from, _) => *from,
            TimeSet::During(timing) => timing.from,
            TimeSet::After(timing, delay) => {
                let first_end = timing
                    .occurrences(Duration::MAX)
                    .next()
                    .map_or(timing.to, |(_, end)| end);
                first_end.saturating_add(*delay)
            }
        }
    }

    /// When the set ends for good (`Duration::MAX`: it never does).
    pub(crate) fn end(&self) -> Duration {
        match self {
            TimeSet::Range(_, to) => *to,
            TimeSet::During(timing) => timing.to,
            TimeSet::After(..) => Duration::MAX,
        }
    }

    /// How much of `0..until` the set covers.
    pub(crate) fn covered(&self, until: Duration) -> Duration {
        let clip = |from: Duration, to: Duration| to.min(until).saturating_sub(from);
        match self {
            TimeSet::Range(from, to) => clip(*from, *to),
            TimeSet::During(timing) => timing
                .occurrences(until)
                .map(|(from, to)| clip(from, to))
                .sum(),
            TimeSet::After(timing, delay) => {
                let occurrences: Vec<_> = timing.occurrences(until).collect();
                occurrences
                    .iter()
                    .enumerate()
                    .map(|(i, (_, end))| {
                        let next = occurrences.get(i + 1).map_or(Duration::MAX, |o| o.0);
                        let from = end.saturating_add(*delay);
                        if from >= next {
                            Duration::ZERO
                        } else {
                            clip(from, next)
                        }
                    })
                    .sum()
            }
        }
    }
}

fn nanos(n: u128) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn flapping() -> Timing {
        // Every 30 s for 5 s, from 10 s to 100 s: 10–15, 40–45, 70–75.
        Timing {
            from: s(10),
            to: s(100),
            every: Some((s(30), s(5))),
        }
    }

    #[test]
    fn a_flapping_timing_has_its_occurrences_and_changes() {
        let t = flapping();
        assert_eq!(t.occurrence(s(9)), None);
        assert_eq!(t.occurrence(s(10)), Some((s(10), s(15))));
        assert_eq!(t.occurrence(s(15)), None);
        assert_eq!(t.occurrence(s(44)), Some((s(40), s(45))));
        assert_eq!(t.occurrence(s(100)), None);
        let all: Vec<_> = t.occurrences(Duration::MAX).collect();
        assert_eq!(all, vec![(s(10), s(15)), (s(40), s(45)), (s(70), s(75))]);
        assert_eq!(t.next_change(s(0)), Some(s(10)));
        assert_eq!(t.next_change(s(12)), Some(s(15)));
        assert_eq!(t.next_change(s(15)), Some(s(40)));
        assert_eq!(t.next_change(s(80)), None);
        // A last occurrence is cut at the timing's end.
        let cut = Timing {
            to: s(42),
            ..flapping()
        };
        assert_eq!(cut.occurrence(s(41)), Some((s(40), s(42))));
        assert_eq!(cut.next_change(s(41)), Some(s(42)));
    }

    #[test]
    fn recovery_follows_each_occurrence_after_the_delay() {
        let after = TimeSet::After(flapping(), s(5));
        assert!(!after.contains(s(5)), "nothing to recover from yet");
        assert!(!after.contains(s(12)), "in the phase");
        assert!(!after.contains(s(17)), "within the delay");
        assert!(after.contains(s(20)));
        assert!(after.contains(s(39)));
        assert!(!after.contains(s(41)));
        assert!(after.contains(s(99)));
        assert!(
            after.contains(s(500)),
            "after the last occurrence, to the end"
        );
        assert_eq!(after.start(), s(20));
        // 20–40, 50–70, 80–90: 50 s up to 90 s.
        assert_eq!(after.covered(s(90)), s(50));
        let once = TimeSet::After(
            Timing {
                from: s(10),
                to: s(20),
                every: None,
            },
            s(5),
        );
        assert!(!once.contains(s(24)));
        assert!(once.contains(s(25)));
        assert_eq!(once.covered(s(30)), s(5));
    }

    #[test]
    fn during_covers_the_occurrences() {
        let during = TimeSet::During(flapping());
        assert!(during.contains(s(42)));
        assert!(!during.contains(s(46)));
        assert_eq!(during.covered(s(42)), s(7));
        assert_eq!(during.covered(s(1000)), s(15));
        assert_eq!(TimeSet::Range(s(2), s(4)).covered(s(3)), s(1));
    }
}
