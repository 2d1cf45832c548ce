//! Workflows, not only requests: a [`Wait`] that polls until a response meets its
//! [`Expect`](crate::Expect)ations, and a [`Retry`] policy that sends a request again on
//! purpose. Their runs are counted as steps (attempts, given up or not) beside the requests they
//! send, which are recorded as any other.

mod retry;
mod wait;

use std::time::Duration;

pub use retry::{Backoff, RETRY_STATUSES, Retry};
pub use wait::{DEFAULT_POLL_INTERVAL, Wait};

use crate::http::HttpError;

/// Why a workflow step (a [`Wait`], a [`Retry`]) did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The wait's expectations did not all hold within its timeout.
    #[error("wait `{step}` timed out after {} and {attempts} attempt(s); the last: {last}", humantime::format_duration(*waited))]
    TimedOut {
        /// The wait's name.
        step: String,
        /// Requests it sent.
        attempts: u32,
        /// How long it waited.
        waited: Duration,
        /// What the last attempt got instead (an unmet expectation, an error).
        last: String,
    },
    /// The retried request still failed after the policy's last attempt.
    #[error("`{step}` gave up after {attempts} attempt(s); the last: {last}")]
    GaveUp {
        /// The request's name.
        step: String,
        /// Requests it sent.
        attempts: u32,
        /// How the last attempt failed.
        last: String,
    },
    /// The step cannot work as given (no request was sent).
    #[error("`{step}` cannot run: {reason}")]
    Invalid {
        /// The step's name.
        step: String,
        /// What is wrong.
        reason: String,
    },
    /// A request failed in a way the step does not go past.
    #[error(transparent)]
    Http(#[from] HttpError),
}
