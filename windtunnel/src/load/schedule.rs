//! The arithmetic of load models, free of time and I/O: when each user of a closed model is
//! active, and when each iteration of an open model is due. The executor follows these plans;
//! the tests here check them exactly.

use std::time::Duration;

/// A piecewise-linear curve (users or iterations per second) over time: `start` at 0, then
/// each segment moves linearly to its target over its duration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Curve {
    pub(crate) start: f64,
    /// (duration, target at the end of the segment).
    pub(crate) segments: Vec<(Duration, f64)>,
}

impl Curve {
    /// The total duration.
    pub(crate) fn duration(&self) -> Duration {
        self.segments.iter().map(|(d, _)| *d).sum()
    }

    /// The highest value the curve reaches.
    pub(crate) fn peak(&self) -> f64 {
        self.segments
            .iter()
            .map(|(_, t)| *t)
            .fold(self.start, f64::max)
    }

    /// The value at `t` (the last target after the end).
    #[cfg(test)]
    pub(crate) fn at(&self, t: Duration) -> f64 {
        let mut from = self.start;
        let mut t0 = Duration::ZERO;
        for &(d, to) in &self.segments {
            if t < t0 + d {
                let x = (t - t0).as_secs_f64() / d.as_secs_f64();
                return from + (to - from) * x;
            }
            t0 += d;
            from = to;
        }
        from
    }
}

/// When users of a closed model are active: user `i` (0-based) is active while the curve is
/// above `i`, so a ramp from 0 to `n` over `d` starts user `i` at `d * i / n` and the first user
/// at once. A user whose curve falls back is stopped (after its current iteration) and started
/// again, with its state, when the curve rises above it again.
///
/// Returns, per user, its active intervals `[start, end)`; `end` is `None` for "until the run
/// ends". Users levels are whole numbers, so the crossings are computed in integer nanoseconds.
pub(crate) fn user_intervals(
    start: u32,
    segments: &[(Duration, u32)],
) -> Vec<Vec<(Duration, Option<Duration>)>> {
    let peak = segments.iter().map(|s| s.1).fold(start, u32::max);
    (0..peak)
        .map(|i| {
            let mut intervals = Vec::new();
            let mut active_since = (start > i).then_some(Duration::ZERO);
            let mut t0 = Duration::ZERO;
            let mut from = start;
            for &(d, to) in segments {
                let crossing = |num: u32, den: u32| {
                    let nanos = d.as_nanos() * u128::from(num) / u128::from(den);
                    t0 + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
                };
                if from <= i && i < to {
                    // Rising through level i: active once the curve is above it (resuming the
                    // last interval if it ended at this very moment).
                    let at = crossing(i - from, to - from);
                    active_since = match intervals.last() {
                        Some(&(s, Some(end))) if end == at => {
                            intervals.pop();
                            Some(s)
                        }
                        _ => Some(at),
                    };
                } else if to <= i && i < from {
                    // Falling to level i: inactive from the moment it gets there.
                    let end = crossing(from - i, from - to);
                    if let Some(s) = active_since.take() {
                        intervals.push((s, Some(end)));
                    }
                }
                t0 += d;
                from = to;
            }
            if let Some(s) = active_since {
                intervals.push((s, None));
            }
            intervals
        })
        .collect()
}

/// The intended start times of an open model's iterations: iteration `k` (0-based) is due when
/// the integral of the rate reaches `k`, so a constant 4/s starts at 0, 250, 500 and 750 ms, and
/// a ramp's arrivals thin out or crowd in exactly as its rate does.
#[derive(Clone, Debug)]
pub(crate) struct Arrivals {
    curve: Curve,
    segment: usize,
    /// When the current segment starts, and how many arrivals came before it (fractional).
    t0: Duration,
    before: f64,
    from: f64,
    next: u64,
}

impl Arrivals {
    pub(crate) fn new(curve: Curve) -> Self {
        let from = curve.start;
        Arrivals {
            curve,
            segment: 0,
            t0: Duration::ZERO,
            before: 0.0,
            from,
            next: 0,
        }
    }

    /// How many iterations the whole schedule starts.
    #[cfg(test)]
    pub(crate) fn total(curve: &Curve) -> f64 {
        let mut from = curve.start;
        let mut n = 0.0;
        for &(d, to) in &curve.segments {
            n += (from + to) / 2.0 * d.as_secs_f64();
            from = to;
        }
        n
    }
}

impl Iterator for Arrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        loop {
            let &(d, to) = self.curve.segments.get(self.segment)?;
            let secs = d.as_secs_f64();
            let in_segment = (self.from + to) / 2.0 * secs;
            let n = self.next as f64 - self.before;
            if n < in_segment {
                // Solve from*τ + (to-from)/(2d)*τ² = n for τ, in the form that is stable for
                // rising, falling and constant rates alike.
                let a = (to - self.from) / (2.0 * secs);
                let b = self.from;
                let root = (b * b + 4.0 * a * n).max(0.0).sqrt();
                let tau = if n == 0.0 { 0.0 } else { 2.0 * n / (b + root) };
                self.next += 1;
                return Some(self.t0 + Duration::from_secs_f64(tau.clamp(0.0, secs)));
            }
            self.before += in_segment;
            self.t0 += d;
            self.from = to;
            self.segment += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_ramp_starts_users_evenly_and_the_first_at_once() {
        let users = user_intervals(0, &[(ms(2000), 4), (ms(1000), 4)]);
        let starts: Vec<_> = users.iter().map(|u| u[0].0).collect();
        assert_eq!(starts, [ms(0), ms(500), ms(1000), ms(1500)]);
        assert!(users.iter().all(|u| u.len() == 1 && u[0].1.is_none()));
    }

    #[test]
    fn ramping_down_stops_the_highest_users_first_and_up_again_restarts_them() {
        // 2 users, up to 4 over 1 s, down to 0 over 2 s, up to 2 over 1 s.
        let users = user_intervals(2, &[(ms(1000), 4), (ms(2000), 0), (ms(1000), 2)]);
        assert_eq!(users.len(), 4);
        // User 0: the curve touches 0 at 3 s and rises at once: one unbroken interval.
        assert_eq!(users[0], vec![(ms(0), None)]);
        // User 1: stops at 2.5 s (curve at 1), back at 3.5 s.
        assert_eq!(users[1], vec![(ms(0), Some(ms(2500))), (ms(3500), None)]);
        // User 2 starts at once (the curve leaves 2 upwards), stops at 2 s (curve at 2).
        assert_eq!(users[2], vec![(ms(0), Some(ms(2000)))]);
        // User 3 starts at 0.5 s (curve above 3), stops at 1.5 s (curve back at 3).
        assert_eq!(users[3], vec![(ms(500), Some(ms(1500)))]);
    }

    #[test]
    fn active_user_count_is_the_ceiling_of_the_curve() {
        let segments = [(ms(3000), 7), (ms(1000), 7), (ms(2000), 2)];
        let users = user_intervals(1, &segments);
        let curve = Curve {
            start: 1.0,
            segments: segments.iter().map(|&(d, u)| (d, f64::from(u))).collect(),
        };
        // At the very instant of a crossing the user has started (or stopped) already; the
        // count is checked between crossings.
        for t in (1..6000)
            .step_by(37)
            .map(ms)
            .filter(|&t| curve.at(t).fract() != 0.0)
        {
            let active = users
                .iter()
                .filter(|u| u.iter().any(|&(s, e)| s <= t && e.is_none_or(|e| t < e)))
                .count();
            assert_eq!(active as f64, curve.at(t).ceil(), "at {t:?}");
        }
    }

    #[test]
    fn constant_rate_arrivals_are_evenly_spaced() {
        let curve = Curve {
            start: 4.0,
            segments: vec![(ms(1000), 4.0)],
        };
        let got: Vec<_> = Arrivals::new(curve.clone()).collect();
        assert_eq!(got, [ms(0), ms(250), ms(500), ms(750)]);
        assert_eq!(Arrivals::total(&curve), 4.0);
    }

    #[test]
    fn ramping_rate_arrivals_follow_the_integral_of_the_rate() {
        // 0 → 10/s over 2 s: N(t) = 2.5 t², so arrival k is at sqrt(k / 2.5) s.
        let curve = Curve {
            start: 0.0,
            segments: vec![(ms(2000), 10.0), (ms(1000), 10.0), (ms(1000), 0.0)],
        };
        let got: Vec<_> = Arrivals::new(curve.clone()).collect();
        assert_eq!(Arrivals::total(&curve), 25.0);
        assert_eq!(got.len(), 25);
        for (k, t) in got.iter().take(10).enumerate() {
            let want = (k as f64 / 2.5).sqrt();
            assert!(
                (t.as_secs_f64() - want).abs() < 1e-9,
                "{k}: {t:?} vs {want}"
            );
        }
        // The constant stage: 10 arrivals at 2.0, 2.1, ..., 2.9 s.
        for (k, t) in got[10..20].iter().enumerate() {
            let want = 2.0 + k as f64 / 10.0;
            assert!((t.as_secs_f64() - want).abs() < 1e-9, "{t:?} vs {want}");
        }
        // Ramping down 10 → 0 over 1 s: N(τ) = 10τ - 5τ², arrivals crowd at the start.
        for (k, t) in got[20..].iter().enumerate() {
            let tau = 1.0 - (1.0 - k as f64 / 5.0).sqrt();
            assert!((t.as_secs_f64() - 3.0 - tau).abs() < 1e-9, "{t:?}");
        }
        assert!(got.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn a_fractional_rate_keeps_its_remainder_across_stages() {
        // 0.5/s for 3 s (1.5 arrivals: at 0 and 2 s), then 0.5/s for 1 s: the second stage's
        // first arrival is at 4 s, i.e. not in it.
        let curve = Curve {
            start: 0.5,
            segments: vec![(ms(3000), 0.5), (ms(1000), 0.5), (ms(1000), 0.5)],
        };
        let got: Vec<_> = Arrivals::new(curve).collect();
        assert_eq!(got, [ms(0), ms(2000), ms(4000)]);
    }
}
