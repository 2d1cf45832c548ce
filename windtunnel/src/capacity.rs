//! The capacity search: which rate to try next, given how the last one fared. Stepwise up from
//! the start rate until a step breaks an objective (or the maximum is reached), then a
//! bisection between the last good and the first bad rate. It decides; the scenario runs each
//! step and judges it.

/// The state of a search.
#[derive(Clone, Debug)]
pub(crate) struct Search {
    step: f64,
    max: f64,
    bisections_left: u32,
    /// The highest rate that passed, and the lowest that failed.
    good: Option<f64>,
    bad: Option<f64>,
    next: Option<f64>,
}

impl Search {
    pub(crate) fn new(start: f64, step: f64, max: f64, bisections: u32) -> Self {
        Search {
            step,
            max,
            bisections_left: bisections,
            good: None,
            bad: None,
            next: Some(start.min(max)),
        }
    }

    /// The rate to run next, or `None` when the search is over.
    pub(crate) fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// Takes the verdict on the rate `next_rate` returned.
    pub(crate) fn record(&mut self, rate: f64, passed: bool) {
        if passed {
            self.good = Some(self.good.map_or(rate, |g| g.max(rate)));
        } else {
            self.bad = Some(self.bad.map_or(rate, |b| b.min(rate)));
        }
        self.next = match (self.good, self.bad) {
            // Still climbing.
            (Some(good), None) if good < self.max => Some((good + self.step).min(self.max)),
            (Some(_), None) => None,
            // Even the first rate failed: there is nothing to bisect.
            (None, _) => None,
            (Some(good), Some(bad)) => {
                if self.bisections_left == 0 {
                    None
                } else {
                    self.bisections_left -= 1;
                    Some((good + bad) / 2.0)
                }
            }
        };
    }

    /// The highest rate that passed.
    pub(crate) fn capacity(&self) -> Option<f64> {
        self.good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a SUT that holds its objectives up to `knee`.
    fn search(
        start: f64,
        step: f64,
        max: f64,
        bisections: u32,
        knee: f64,
    ) -> (Vec<f64>, Option<f64>) {
        let mut s = Search::new(start, step, max, bisections);
        let mut tried = Vec::new();
        while let Some(rate) = s.next_rate() {
            tried.push(rate);
            s.record(rate, rate <= knee);
        }
        (tried, s.capacity())
    }

    #[test]
    fn climbs_then_bisects_between_the_last_good_and_first_bad_rate() {
        let (tried, cap) = search(100.0, 100.0, 10_000.0, 3, 430.0);
        assert_eq!(
            tried,
            [100.0, 200.0, 300.0, 400.0, 500.0, 450.0, 425.0, 437.5]
        );
        assert_eq!(cap, Some(425.0));
    }

    #[test]
    fn stops_at_the_maximum_and_when_the_start_already_fails() {
        let (tried, cap) = search(100.0, 100.0, 250.0, 3, 1e9);
        assert_eq!(tried, [100.0, 200.0, 250.0]);
        assert_eq!(cap, Some(250.0));
        let (tried, cap) = search(100.0, 100.0, 1000.0, 3, 50.0);
        assert_eq!(tried, [100.0]);
        assert_eq!(cap, None);
        let (tried, _) = search(100.0, 50.0, 1000.0, 0, 160.0);
        assert_eq!(tried, [100.0, 150.0, 200.0]);
    }
}
