//! [`Retry`]: a request sent again, on purpose, on the failures a policy names, with a
//! [`Backoff`] between attempts drawn from the agent's seeded generator.

use std::time::Duration;

use crate::agent::{Agent, AgentRng};
use crate::http::{HttpError, RequestBuilder, Response};
use crate::metrics::{ErrorKind, StepKind, StepOutcome};

use super::StepError;

/// How long to wait before the next attempt: fixed, or growing exponentially up to a bound,
/// less a random share (`jitter`) drawn from the agent's seeded generator, so that a replay
/// waits the same.
///
/// ```
/// use windtunnel::{Backoff, ms, secs};
/// let fixed = Backoff::fixed(ms(200));
/// let growing = Backoff::exponential(ms(100), secs(2)).jitter(0.5);
/// # let _ = (fixed, growing);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    first: Duration,
    factor: f64,
    max: Duration,
    jitter: f64,
}

impl Backoff {
    /// `delay` before every attempt after the first.
    pub fn fixed(delay: Duration) -> Backoff {
        Backoff {
            first: delay,
            factor: 1.0,
            max: delay,
            jitter: 0.0,
        }
    }

    /// `first` before the second attempt, doubling each time after, at most `max`.
    pub fn exponential(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            factor: 2.0,
            max: max.max(first),
            jitter: 0.0,
        }
    }

    /// Takes a random share of up to `share` (0 to 1) off each delay: `1` is "full jitter".
    /// Values outside 0–1 are clamped.
    pub fn jitter(mut self, share: f64) -> Backoff {
        self.jitter = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// The delay before the second attempt, before any jitter.
    pub(crate) fn first(&self) -> Duration {
        self.first
    }

    /// The delay after attempt `attempt` (1 for the first) failed.
    pub(crate) fn delay(&self, attempt: u32, rng: &mut AgentRng) -> Duration {
        let grown = self.factor.powi(attempt.saturating_sub(1).min(63) as i32);
        let d = self.first.as_secs_f64() * grown;
        let d = d.min(self.max.as_secs_f64());
        let d = if self.jitter > 0.0 {
            d * (1.0 - self.jitter * rng.f64())
        } else {
            d
        };
        Duration::from_secs_f64(d.max(0.0))
    }
}

/// The kinds of failure a retry can go past.
pub(crate) const RETRIED_KINDS: [ErrorKind; 4] = [
    ErrorKind::Connect,
    ErrorKind::Timeout,
    ErrorKind::Request,
    ErrorKind::Assertion,
];

/// The statuses a [`Retry`] sends again on unless told otherwise: too many requests, bad
/// gateway, unavailable, gateway timeout.
pub const RETRY_STATUSES: [u16; 4] = [429, 502, 503, 504];

/// A retry policy: how many attempts in all, on which statuses and error kinds to try again,
/// and how long to wait between attempts.
///
/// Every attempt is a request in the metrics under its own name; the step's outcome (at once,
/// after several attempts, or given up) is counted apart, under the first attempt's request
/// name, in the report's `steps`, so that a retry storm shows.
///
/// ```no_run
/// use windtunnel::prelude::*;
/// use windtunnel::{Backoff, Retry};
///
/// #[agent]
/// async fn buyer(a: &mut Agent) -> Result<()> {
///     let policy = Retry::attempts(4)
///         .on_status([503])
///         .backoff(Backoff::exponential(ms(50), ms(400)).jitter(0.5));
///     a.retry(&policy, |a| a.post("/checkout").name("checkout")).await?;
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    attempts: u32,
    statuses: Vec<u16>,
    errors: Vec<ErrorKind>,
    backoff: Backoff,
}

impl Retry {
    /// At most `attempts` attempts (the first one included), by default on the statuses of
    /// [`RETRY_STATUSES`] and the error kinds `connect`, `timeout` and `request`, 100 ms apart.
    /// `0` attempts is a problem the retry reports without sending anything.
    pub fn attempts(attempts: u32) -> Retry {
        Retry {
            attempts,
            statuses: RETRY_STATUSES.to_vec(),
            errors: vec![ErrorKind::Connect, ErrorKind::Timeout, ErrorKind::Request],
            backoff: Backoff::fixed(Duration::from_millis(100)),
        }
    }

    /// Tries again on these statuses (instead of [`RETRY_STATUSES`]); none: on no status.
    pub fn on_status(mut self, statuses: impl IntoIterator<Item = u16>) -> Retry {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Tries again on these kinds of failure (instead of `connect`, `timeout`, `request`).
    /// `assertion` retries a response that missed its [`expect`](RequestBuilder::expect)ations.
    /// `status` is a problem (statuses are retried by [`on_status`](Self::on_status)), and so
    /// are `operation`, `invalid` and `unfinished`, which no retry can help (no request, nothing
    /// sent, the run is over).
    pub fn on_errors(mut self, kinds: impl IntoIterator<Item = ErrorKind>) -> Retry {
        self.errors = kinds.into_iter().collect();
        self
    }

    /// Waits `backoff` between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Retry {
        self.backoff = backoff;
        self
    }

    fn problem(&self) -> Option<String> {
        if self.attempts == 0 {
            return Some("a retry policy needs at least 1 attempt".into());
        }
        if let Some(s) = self.statuses.iter().find(|s| !(100..=599).contains(*s)) {
            return Some(format!("an HTTP status is from 100 to 599, not {s}"));
        }
        if let Some(k) = self.errors.iter().find(|k| !RETRIED_KINDS.contains(k)) {
            return Some(match k {
                ErrorKind::Status => {
                    "`status` is retried by the statuses of `on_status`, not `on_errors`".into()
                }
                other => format!(
                    "`{}` is never retried (nothing was sent, or the run is over)",
                    other.as_str()
                ),
            });
        }
        None
    }

    fn retries_error(&self, e: &HttpError) -> bool {
        let kind = match e {
            HttpError::Transport { kind, .. } => *kind,
            HttpError::Assertion { .. } => ErrorKind::Assertion,
            _ => return false,
        };
        RETRIED_KINDS.contains(&kind) && self.errors.contains(&kind)
    }
}

impl Agent {
    /// Sends the request `request` builds, and again (built anew) while it fails in a way
    /// `policy` retries, at most `policy`'s attempts, waiting its backoff in between.
    ///
    /// # Errors
    ///
    /// [`StepError::GaveUp`] when the last attempt still failed in a retried way (its failure
    /// in the message); [`StepError::Http`] when an attempt failed in a way the policy does not
    /// retry; [`StepError::Invalid`] for a policy that cannot work (no request sent). A
    /// response with an error status the policy does not retry is `Ok`, as from
    /// [`send`](RequestBuilder::send).
    pub async fn retry<F>(&mut self, policy: &Retry, mut request: F) -> Result<Response, StepError>
    where
        F: for<'b> FnMut(&'b mut Agent) -> RequestBuilder<'b> + Send,
    {
        let problem = policy.problem();
        // The step is named after its first request.
        let mut step: Option<String> = None;
        let mut attempts: u32 = 0;
        loop {
            let builder = request(self);
            let name = &*step.get_or_insert_with(|| builder.effective_name().into_owned());
            if let Some(reason) = problem {
                drop(builder);
                return Err(StepError::Invalid {
                    step: name.to_owned(),
                    reason,
                });
            }
            attempts += 1;
            let result = builder.send().await;
            let last = attempts >= policy.attempts;
            let failure = match result {
                Ok(r) if !policy.statuses.contains(&r.status()) => {
                    self.step_ended(name, StepKind::Retry, attempts, None);
                    return Ok(r);
                }
                Ok(r) => format!("status {}", r.status()),
                Err(e) if policy.retries_error(&e) => e.to_string(),
                Err(e) => {
                    let why = e.to_string();
                    self.step_ended(name, StepKind::Retry, attempts, Some(&why));
                    return Err(StepError::Http(e));
                }
            };
            if last {
                let why = format!("gave up after {attempts} attempt(s); the last: {failure}");
                self.step_ended(name, StepKind::Retry, attempts, Some(&why));
                return Err(StepError::GaveUp {
                    step: name.to_owned(),
                    attempts,
                    last: failure,
                });
            }
            let delay = policy.backoff.delay(attempts, self.rng());
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// Counts one run of the step `name`.
    pub(crate) fn step_ended(
        &self,
        name: &str,
        kind: StepKind,
        attempts: u32,
        gave_up: Option<&str>,
    ) {
        let why = gave_up.map(|w| move || w.to_owned());
        self.recorder().step(
            name,
            &StepOutcome {
                kind,
                attempts: u64::from(attempts),
                gave_up: why.as_ref().map(|f| f as &dyn Fn() -> String),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_bound_and_jitter_only_shortens() {
        let mut rng = AgentRng::new(1, 0);
        let b = Backoff::exponential(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<u128> = (1..=5).map(|k| b.delay(k, &mut rng).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        let fixed = Backoff::fixed(Duration::from_millis(40));
        assert_eq!(fixed.delay(9, &mut rng), Duration::from_millis(40));
        let j = b.jitter(1.0);
        for k in 1..50 {
            assert!(j.delay(k, &mut rng) <= Duration::from_millis(500));
        }
        // The same seed, the same delays.
        let (mut r1, mut r2) = (AgentRng::new(7, 3), AgentRng::new(7, 3));
        let a: Vec<_> = (1..6).map(|k| j.delay(k, &mut r1)).collect();
        let c: Vec<_> = (1..6).map(|k| j.delay(k, &mut r2)).collect();
        assert_eq!(a, c);
        assert!(a.iter().any(|d| *d < Duration::from_millis(100)));
    }

    #[test]
    fn zero_attempts_and_bad_statuses_are_problems() {
        assert!(Retry::attempts(0).problem().unwrap().contains("at least 1"));
        let status = Retry::attempts(2).on_errors([ErrorKind::Status]);
        assert!(status.problem().unwrap().contains("`on_status`"));
        let invalid = Retry::attempts(2).on_errors([ErrorKind::Invalid]);
        assert!(invalid.problem().unwrap().contains("never retried"));
        assert!(
            Retry::attempts(2)
                .on_status([700])
                .problem()
                .unwrap()
                .contains("700")
        );
        assert_eq!(Retry::attempts(1).problem(), None);
    }
}
