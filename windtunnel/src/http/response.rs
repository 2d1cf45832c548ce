//! [`Response`]: a response whose body has been read, and the errors of sending and checking.

use std::borrow::Cow;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::metrics::{ErrorKind, current_recorder};

/// A response body as read: the bytes kept (at most the scenario's
/// [`max_response_body`](crate::Scenario::max_response_body)) and how many arrived.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    pub(crate) kept: bytes::Bytes,
    pub(crate) len: u64,
}

impl Body {
    /// A body kept whole.
    pub(crate) fn whole(kept: bytes::Bytes) -> Self {
        let len = kept.len() as u64;
        Body { kept, len }
    }

    /// Reads `response`'s body to its end, keeping its first `max` bytes: the rest is read and
    /// counted, so timing and the connection are as with a whole body, and memory is bounded.
    pub(crate) async fn read(
        mut response: reqwest::Response,
        max: usize,
    ) -> Result<Self, reqwest::Error> {
        // The usual body declares a length within the bound: read it whole, as reqwest does
        // best (the framing keeps the body to its declared length).
        if response.content_length().is_some_and(|n| n <= max as u64) {
            return response.bytes().await.map(Body::whole);
        }
        let (mut kept, mut len) = (bytes::BytesMut::new(), 0u64);
        while let Some(chunk) = response.chunk().await? {
            len += chunk.len() as u64;
            let room = max.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        Ok(Body {
            kept: kept.freeze(),
            len,
        })
    }
}

/// A response, with its body already read.
#[derive(Debug)]
pub struct Response {
    name: Cow<'static, str>,
    status: StatusCode,
    headers: HeaderMap,
    body: bytes::Bytes,
    body_len: u64,
    latency: Duration,
    url: Url,
    /// Whether turbulence made it (an injected abort), so that checks on it count as injected.
    injected: bool,
}

impl Response {
    pub(crate) fn new(
        name: Cow<'static, str>,
        status: StatusCode,
        headers: HeaderMap,
        body: Body,
        latency: Duration,
        url: Url,
        injected: bool,
    ) -> Self {
        let body_len = body.len;
        let body = body.kept;
        Response {
            name,
            status,
            headers,
            body,
            body_len,
            latency,
            url,
            injected,
        }
    }

    /// The request's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The value of header `name`, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body bytes that were kept: all of them, unless the body was longer than the
    /// scenario's [`max_response_body`](crate::Scenario::max_response_body) (see
    /// [`is_truncated`](Self::is_truncated)).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// How many bytes the body had, kept or not.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Whether the body was longer than the scenario's
    /// [`max_response_body`](crate::Scenario::max_response_body), so only its start was kept.
    pub fn is_truncated(&self) -> bool {
        self.body_len > self.body.len() as u64
    }

    /// The body as text (invalid UTF-8 replaced). A truncated body ends with
    /// `… [truncated: kept N of M bytes]`, so the cut cannot pass for the whole text.
    pub fn text(&self) -> Cow<'_, str> {
        let text = String::from_utf8_lossy(&self.body);
        if !self.is_truncated() {
            return text;
        }
        Cow::Owned(format!(
            "{text}… [truncated: kept {} of {} bytes]",
            self.body.len(),
            self.body_len
        ))
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    ///
    /// [`HttpError::Decode`] when the body is not valid JSON of type `T`, or was truncated.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        if self.is_truncated() {
            return Err(HttpError::Decode {
                name: self.name.to_string(),
                status: self.status.as_u16(),
                message: format!(
                    "the body has {} bytes and only the first {} were kept; raise the bound \
                     with `.max_response_body(..)` on the scenario",
                    self.body_len,
                    self.body.len()
                ),
            });
        }
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Decode {
            name: self.name.to_string(),
            status: self.status.as_u16(),
            message: e.to_string(),
        })
    }

    /// How long the request took, until its body was read.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// The final URL (after redirects).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Checks that the status is `expected`; counts the check (named
    /// "`<request name>`: status `<expected>`") as passed or failed.
    ///
    /// # Errors
    ///
    /// [`CheckFailed`] when the status differs; with `?` it ends the iteration, which is then
    /// counted as failed by a check.
    pub fn expect_status(self, expected: u16) -> Result<Self, CheckFailed> {
        let actual = self.status.as_u16();
        let passed = actual == expected;
        let check = format!("{}: status {expected}", self.name);
        let failure = || {
            let body = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]);
            format!("expected status {expected}, got {actual} {}", body.trim())
        };
        if let Some(recorder) = current_recorder() {
            recorder.check_marked(&check, passed, self.injected, failure);
        }
        if passed {
            Ok(self)
        } else {
            Err(CheckFailed {
                check,
                detail: failure(),
            })
        }
    }
}

impl Response {
    /// Checks `expect` on this response, as a soft check named "`<request name>`:
    /// `<expectation>`": counted as passed or failed, the request's outcome unchanged. (To make
    /// a miss a failed request, give the expectation to
    /// [`RequestBuilder::expect`](crate::RequestBuilder::expect) before sending.)
    ///
    /// # Errors
    ///
    /// [`CheckFailed`] when it does not hold; with `?` it ends the iteration, which is then
    /// counted as failed by a check.
    pub fn expect(self, expect: &super::expect::Expect) -> Result<Self, CheckFailed> {
        let check = format!("{}: {expect}", self.name);
        let result = expect.holds(&self);
        if let Some(recorder) = current_recorder() {
            let detail = || match &result {
                Err(unmet) => unmet.to_string(),
                Ok(()) => String::new(),
            };
            recorder.check_marked(&check, result.is_ok(), self.injected, detail);
        }
        match result {
            Ok(()) => Ok(self),
            Err(unmet) => Err(CheckFailed {
                check,
                detail: unmet.to_string(),
            }),
        }
    }
}

/// A check that did not hold, such as [`Response::expect_status`].
#[derive(Debug, thiserror::Error)]
#[error("check `{check}` failed: {detail}")]
pub struct CheckFailed {
    check: String,
    detail: String,
}

impl CheckFailed {
    pub(crate) fn new(check: String, detail: String) -> Self {
        CheckFailed { check, detail }
    }

    /// The check's name.
    pub fn check(&self) -> &str {
        &self.check
    }
}

/// A request that produced no usable response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// No response: the connection failed, timed out or broke.
    #[error("request `{name}` ({method} {url}) failed ({}): {message}", kind.as_str())]
    Transport {
        /// The request's name.
        name: String,
        /// The method.
        method: Method,
        /// The URL.
        url: String,
        /// What went wrong.
        kind: ErrorKind,
        /// The underlying error, with its sources.
        message: String,
    },
    /// The request could not be built (bad URL, header or body).
    #[error("request `{name}` ({method} {path}) is invalid: {reason}")]
    Invalid {
        /// The request's name.
        name: String,
        /// The method.
        method: Method,
        /// The path or URL as given.
        path: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The response had an accepted status but missed one of the request's
    /// [`expect`](crate::RequestBuilder::expect)ations.
    #[error("response to `{name}` (status {status}) failed its assertion: {unmet}")]
    Assertion {
        /// The request's name.
        name: String,
        /// The response status.
        status: u16,
        /// The expectation and what came instead.
        unmet: super::expect::Unmet,
    },
    /// The response body could not be decoded.
    #[error("response to `{name}` (status {status}) is not the expected JSON: {message}")]
    Decode {
        /// The request's name.
        name: String,
        /// The response status.
        status: u16,
        /// The decoder's message.
        message: String,
    },
}

impl HttpError {
    pub(crate) fn transport(
        name: Cow<'static, str>,
        method: Method,
        url: Url,
        kind: ErrorKind,
        message: String,
    ) -> Self {
        HttpError::Transport {
            name: name.into_owned(),
            method,
            url: crate::redact::url(url.as_str()).into_owned(),
            kind,
            message,
        }
    }

    pub(crate) fn assertion(response: &Response, unmet: super::expect::Unmet) -> Self {
        HttpError::Assertion {
            name: response.name().to_owned(),
            status: response.status(),
            unmet,
        }
    }

    pub(crate) fn invalid(
        name: Cow<'static, str>,
        method: Method,
        path: String,
        reason: String,
    ) -> Self {
        HttpError::Invalid {
            name: name.into_owned(),
            method,
            path,
            reason,
        }
    }
}
