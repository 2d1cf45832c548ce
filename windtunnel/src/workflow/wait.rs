//! [`Wait`]: a request repeated every interval until its response meets the expectations or
//! time runs out — "poll the order until it is shipped".

use std::time::Duration;

use tokio::time::Instant;

use crate::agent::Agent;
use crate::http::{Expect, HttpError, RequestBuilder, Response, first_problem, first_unmet};
use crate::metrics::{ErrorKind, Outcome, StepKind};

use super::{Backoff, StepError};

/// How often a wait polls when it is not told. (Default: 1 second.)
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A wait: poll until every expectation holds, or `timeout` has passed.
///
/// Each attempt is a request in the metrics under its own name; the wait itself is recorded
/// under the wait's name as an operation (its duration in the latency histograms, so that
/// objectives like `p95("order shipped") < 30 s` judge it; a timeout as a failure of kind
/// `timeout`), and counted in the report's `steps` with its attempts.
///
/// ```no_run
/// use windtunnel::prelude::*;
/// use windtunnel::{Expect, Wait};
///
/// #[agent]
/// async fn buyer(a: &mut Agent) -> Result<()> {
///     let order: serde_json::Value = a.post("/checkout").send().await?.json()?;
///     let path = format!("/orders/{}", order["order_id"]);
///     let shipped = Wait::up_to(secs(10))
///         .every(ms(200))
///         .until(Expect::json("/status").equals("shipped"));
///     a.wait("order shipped", &shipped, |a| a.get(&path).name("get order")).await?;
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[derive(Clone, Debug)]
pub struct Wait {
    timeout: Duration,
    every: Backoff,
    until: Vec<Expect>,
}

impl Wait {
    /// A wait that gives up after `timeout` (counted from its first attempt), polling every
    /// [`DEFAULT_POLL_INTERVAL`] until told otherwise. The last attempt starts at the timeout
    /// at the latest; an attempt under way then is waited for, up to its request's own timeout
    /// (give the request a shorter `.timeout(..)` to bound the wait tighter).
    pub fn up_to(timeout: Duration) -> Wait {
        Wait {
            timeout,
            every: Backoff::fixed(DEFAULT_POLL_INTERVAL),
            until: Vec::new(),
        }
    }

    /// Polls every `interval`.
    pub fn every(mut self, interval: Duration) -> Wait {
        self.every = Backoff::fixed(interval);
        self
    }

    /// Polls with `backoff` between attempts (for example exponentially further apart).
    pub fn backoff(mut self, backoff: Backoff) -> Wait {
        self.every = backoff;
        self
    }

    /// Waits until `expect` holds too (all of them must hold at once).
    pub fn until(mut self, expect: Expect) -> Wait {
        self.until.push(expect);
        self
    }

    fn problem(&self) -> Option<String> {
        if self.timeout.is_zero() {
            return Some("a wait needs a timeout above zero".into());
        }
        if self.until.is_empty() {
            return Some("a wait needs a condition: `.until(Expect::..)`".into());
        }
        if self.every.first() < Duration::from_millis(1) {
            return Some(
                "a wait polls at most every millisecond: give `.every(..)` 1 ms or more".into(),
            );
        }
        first_problem(&self.until)
    }
}

impl Agent {
    /// Sends the request `request` builds, again (built anew) after each of `wait`'s intervals,
    /// until a response meets all of `wait`'s expectations; returns that response. An attempt
    /// that gets no response (a connection error, a timeout) is polled past, as a restarting
    /// service would be. `name` is the wait's own name in the metrics: it must differ from its
    /// request's.
    ///
    /// # Errors
    ///
    /// [`StepError::TimedOut`] with the attempts and the last response's miss, when `wait`'s
    /// timeout passed first; [`StepError::Invalid`] for a wait that cannot work (no timeout, no
    /// condition, a bad expectation, the wait named as its request), before any request;
    /// [`StepError::Http`] when a request is invalid.
    pub async fn wait<F>(
        &mut self,
        name: &str,
        wait: &Wait,
        mut request: F,
    ) -> Result<Response, StepError>
    where
        F: for<'b> FnMut(&'b mut Agent) -> RequestBuilder<'b> + Send,
    {
        let name = &*crate::report::untrusted::for_name(name);
        let invalid = |reason: String| StepError::Invalid {
            step: name.to_owned(),
            reason,
        };
        if let Some(p) = wait.problem() {
            return Err(invalid(p));
        }
        let start = Instant::now();
        let deadline = start + wait.timeout;
        let mut attempts: u32 = 0;
        loop {
            let builder = request(self);
            if attempts == 0 && builder.effective_name() == name {
                drop(builder);
                return Err(invalid(format!(
                    "the wait and its request are both named `{name}`: give the request \
                     another name with `.name(..)`"
                )));
            }
            attempts += 1;
            let last = match builder.send().await {
                Ok(r) => match first_unmet(&wait.until, &r) {
                    None => {
                        self.wait_ended(name, start, attempts, None);
                        return Ok(r);
                    }
                    Some(unmet) => unmet.to_string(),
                },
                Err(e @ HttpError::Invalid { .. }) => {
                    let why = e.to_string();
                    self.wait_ended(name, start, attempts, Some((ErrorKind::Operation, &why)));
                    return Err(StepError::Http(e));
                }
                Err(e) => e.to_string(),
            };
            let now = Instant::now();
            if now >= deadline {
                let waited = now - start;
                let why = format!(
                    "not met within {} ({attempts} attempt(s)); the last: {last}",
                    humantime::format_duration(wait.timeout)
                );
                self.wait_ended(name, start, attempts, Some((ErrorKind::Timeout, &why)));
                return Err(StepError::TimedOut {
                    step: name.to_owned(),
                    attempts,
                    waited,
                    last,
                });
            }
            let pause = wait.every.delay(attempts, self.rng()).min(deadline - now);
            tokio::time::sleep(pause).await;
        }
    }

    /// Records one wait: its duration as an operation under `name`, its attempts as a step.
    fn wait_ended(
        &self,
        name: &str,
        start: Instant,
        attempts: u32,
        gave_up: Option<(ErrorKind, &str)>,
    ) {
        let end = Instant::now();
        let outcome = match gave_up {
            None => Outcome::Ok,
            Some((kind, why)) => Outcome::Failed {
                kind,
                message: &move || why.to_owned(),
            },
        };
        self.recorder()
            .wait(name, end - start, self.lateness(), outcome);
        self.step_ended(name, StepKind::Wait, attempts, gave_up.map(|(_, why)| why));
    }
}
