//! [`Fault`]: an HTTP fault rule, applied inside the agents' client, and how a request is matched
//! against the rules of the active phases.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};

use super::draw::Jitter;

/// An HTTP fault, injected inside the agents' client and measured like real traffic: a delayed
/// request takes longer, an aborted one gets its synthetic status, a hung one times out.
///
/// A fault matches every request unless narrowed with [`on`](Self::on) (the request name),
/// [`method`](Self::method) and [`path`](Self::path); it fires on a matching request with its
/// [`probability`](Self::probability) (default 1), at most [`count`](Self::count) times. Put
/// faults in a [`Phase`](super::Phase) to say when they apply.
///
/// ```
/// use windtunnel::prelude::*;
///
/// let slow = Fault::delay(ms(300)).jitter(Jitter::exponential(ms(100))).probability(0.2);
/// let busy = Fault::abort(503)
///     .header("retry-after", "1")
///     .body("busy")
///     .method("POST")
///     .path("/cart*")
///     .probability(0.05);
/// let lost = Fault::drop_response().on("checkout").count(3);
/// # let _ = (slow, busy, lost);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a fault does nothing until added to a phase with `.fault(..)`"]
pub struct Fault {
    pub(crate) action: Action,
    pub(crate) name: Option<String>,
    pub(crate) method: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) probability: f64,
    pub(crate) count: Option<u64>,
    /// Settings given to a fault they do not apply to, reported at validation.
    misused: Option<&'static str>,
}

/// What a fault does to a request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Action {
    /// Wait before sending.
    Delay { base: Duration, jitter: Jitter },
    /// Answer with a synthetic response; nothing is sent.
    Abort {
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
    },
    /// Send nothing and wait until the request times out.
    Hang,
    /// Fail before sending, as a reset connection would.
    DropRequest,
    /// Send, let the SUT handle it, then fail as if the response was lost.
    DropResponse,
}

impl Action {
    /// The kind, as in reports: `delay`, `abort`, `hang`, `drop_request`, `drop_response`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Action::Delay { .. } => "delay",
            Action::Abort { .. } => "abort",
            Action::Hang => "hang",
            Action::DropRequest => "drop_request",
            Action::DropResponse => "drop_response",
        }
    }
}

impl Fault {
    fn new(action: Action) -> Self {
        Fault {
            action,
            name: None,
            method: None,
            path: None,
            probability: 1.0,
            count: None,
            misused: None,
        }
    }

    /// Delays the request by `base` (plus [`jitter`](Self::jitter)) before it is sent.
    pub fn delay(base: Duration) -> Self {
        Fault::new(Action::Delay {
            base,
            jitter: Jitter::None,
        })
    }

    /// Answers with a synthetic response of `status` without sending the request; add
    /// [`header`](Self::header)s and a [`body`](Self::body).
    pub fn abort(status: u16) -> Self {
        Fault::new(Action::Abort {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        })
    }

    /// Sends nothing and waits until the request times out.
    pub fn hang() -> Self {
        Fault::new(Action::Hang)
    }

    /// Fails the request before it is sent, as a connection reset would.
    pub fn drop_request() -> Self {
        Fault::new(Action::DropRequest)
    }

    /// Sends the request and lets the SUT handle it, then fails as if the response was lost:
    /// for testing that retries are idempotent.
    pub fn drop_response() -> Self {
        Fault::new(Action::DropResponse)
    }

    /// A delay's random part: a `Duration` for ±uniform jitter, or a [`Jitter`] distribution.
    pub fn jitter(mut self, jitter: impl Into<Jitter>) -> Self {
        match &mut self.action {
            Action::Delay { jitter: j, .. } => *j = jitter.into(),
            _ => self.misused = Some("`jitter` applies to delay faults only"),
        }
        self
    }

    /// A header of the synthetic response of an abort fault.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match &mut self.action {
            Action::Abort { headers, .. } => headers.push((name.to_owned(), value.to_owned())),
            _ => self.misused = Some("`header` applies to abort faults only"),
        }
        self
    }

    /// The body of the synthetic response of an abort fault.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        match &mut self.action {
            Action::Abort { body: b, .. } => *b = body.into(),
            _ => self.misused = Some("`body` applies to abort faults only"),
        }
        self
    }

    /// Only requests with this name (see [`RequestBuilder::name`](crate::RequestBuilder::name)).
    pub fn on(mut self, request_name: impl Into<String>) -> Self {
        self.name = Some(request_name.into());
        self
    }

    /// Only requests with this method (`GET`, `POST`, ...; any case).
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose URL path matches `pattern`, where `*` stands for any characters:
    /// `/cart*`, `/products/*/reviews`.
    pub fn path(mut self, pattern: impl Into<String>) -> Self {
        self.path = Some(pattern.into());
        self
    }

    /// The chance that the fault fires on a matching request, in `0..=1`. (Default: 1.)
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }

    /// Fires at most `n` times in the run: with probability 1, on the first `n` matching
    /// requests. Which requests are first depends on timing when agents run concurrently.
    pub fn count(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }

    /// Why this fault cannot be used, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if let Some(m) = self.misused {
            return Some(m.to_owned());
        }
        if !(0.0..=1.0).contains(&self.probability) {
            return Some(format!("probability {} is outside 0..=1", self.probability));
        }
        if self.count == Some(0) {
            return Some("a count must be at least 1".into());
        }
        if let Some(m) = &self.method
            && (m.is_empty() || reqwest::Method::from_bytes(m.as_bytes()).is_err())
        {
            return Some(format!("`{m}` is not an HTTP method"));
        }
        if let Some(p) = &self.path
            && !(p.starts_with('/') || p.starts_with('*'))
        {
            return Some(format!(
                "the path pattern `{p}` must start with `/` (or `*`)"
            ));
        }
        match &self.action {
            Action::Delay { jitter, .. } => jitter.problem(),
            Action::Abort {
                status, headers, ..
            } => {
                if !(100..=599).contains(status) {
                    return Some(format!("status {status} is outside 100..=599"));
                }
                headers.iter().find_map(|(n, v)| {
                    (HeaderName::try_from(n.as_str()).is_err()
                        || HeaderValue::try_from(v.as_str()).is_err())
                    .then(|| format!("invalid header `{n}: {v}`"))
                })
            }
            _ => None,
        }
    }

    /// Why this fault cannot act in a proxy ([`Toxic::http`](super::Toxic::http)), if it
    /// cannot.
    pub(crate) fn proxy_problem(&self) -> Option<String> {
        if let Some(problem) = self.problem() {
            return Some(problem);
        }
        if self.name.is_some() {
            return Some(
                "a proxy sees no request names: narrow an HTTP toxic with `method` and `path`"
                    .into(),
            );
        }
        if self.probability != 1.0 {
            return Some(
                "an HTTP toxic's share of requests is its `toxicity`, not a probability".into(),
            );
        }
        if self.count.is_some() {
            return Some("an HTTP toxic has no count (its toxicity is a share of requests)".into());
        }
        if let Action::Abort { headers, .. } = &self.action
            && let Some((name, _)) = headers.iter().find(|(n, _)| {
                ["content-length", "transfer-encoding"]
                    .iter()
                    .any(|own| n.eq_ignore_ascii_case(own))
            })
        {
            return Some(format!(
                "an HTTP toxic's answer sets `{name}` itself (from its body)"
            ));
        }
        None
    }

    /// Whether a request matches.
    pub(crate) fn matches(&self, name: &str, method: &str, path: &str) -> bool {
        self.name.as_deref().is_none_or(|n| n == name)
            && self.method.as_deref().is_none_or(|m| m == method)
            && self.path.as_deref().is_none_or(|p| glob(p, path))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Action::Delay { base, jitter } => write!(
                f,
                "delay {} ms{}",
                crate::text::trim_float(base.as_secs_f64() * 1000.0),
                jitter.describe()
            )?,
            Action::Abort { status, .. } => write!(f, "abort {status}")?,
            Action::Hang => write!(f, "hang")?,
            Action::DropRequest => write!(f, "drop request")?,
            Action::DropResponse => write!(f, "drop response")?,
        }
        if let Some(n) = &self.name {
            write!(f, " on `{n}`")?;
        }
        match (&self.method, &self.path) {
            (Some(m), Some(p)) => write!(f, " {m} {p}")?,
            (Some(m), None) => write!(f, " {m}")?,
            (None, Some(p)) => write!(f, " {p}")?,
            (None, None) => {}
        }
        if self.probability != 1.0 {
            write!(f, " p={}", crate::text::trim_float(self.probability))?;
        }
        if let Some(n) = self.count {
            write!(f, " at most {n}×")?;
        }
        Ok(())
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_shell_patterns_do() {
        assert!(glob("/cart*", "/cart"));
        assert!(glob("/cart*", "/cart/items/3"));
        assert!(!glob("/cart*", "/car"));
        assert!(glob("/products/*/reviews", "/products/42/reviews"));
        assert!(!glob("/products/*/reviews", "/products/42/review"));
        assert!(glob("*", "/anything"));
        assert!(glob("/exact", "/exact"));
        assert!(!glob("/exact", "/exact/"));
        assert!(glob("*/a*a", "/a/aba"));
        assert!(!glob("/ab*ba", "/aba"), "the two ends may not overlap");
    }

    #[test]
    fn matching_uses_name_method_and_path() {
        let f = Fault::hang().on("add").method("post").path("/cart*");
        assert!(f.matches("add", "POST", "/cart/1"));
        assert!(!f.matches("add", "GET", "/cart/1"));
        assert!(!f.matches("list", "POST", "/cart/1"));
        assert!(!f.matches("add", "POST", "/products"));
        assert!(Fault::hang().matches("x", "GET", "/"));
    }

    #[test]
    fn bad_faults_say_what_is_wrong() {
        let problem = |f: Fault| f.problem().expect("a problem");
        assert_eq!(
            problem(Fault::hang().probability(1.5)),
            "probability 1.5 is outside 0..=1"
        );
        assert!(problem(Fault::hang().probability(f64::NAN)).contains("outside 0..=1"));
        assert_eq!(
            problem(Fault::hang().jitter(Duration::from_millis(5))),
            "`jitter` applies to delay faults only"
        );
        assert_eq!(
            problem(Fault::abort(700)),
            "status 700 is outside 100..=599"
        );
        assert_eq!(
            problem(Fault::abort(503).header("bad name", "x")),
            "invalid header `bad name: x`"
        );
        assert!(problem(Fault::hang().method("GE T")).contains("not an HTTP method"));
        assert!(problem(Fault::hang().path("cart")).contains("must start with `/`"));
        assert_eq!(
            problem(Fault::hang().count(0)),
            "a count must be at least 1"
        );
        assert_eq!(Fault::abort(503).header("retry-after", "1").problem(), None);
    }

    #[test]
    fn faults_describe_themselves() {
        let f = Fault::delay(Duration::from_millis(100))
            .jitter(Duration::from_millis(50))
            .on("list")
            .probability(0.25);
        assert_eq!(f.to_string(), "delay 100 ms ± 50 ms on `list` p=0.25");
        let f = Fault::abort(503).method("POST").path("/cart*").count(3);
        assert_eq!(f.to_string(), "abort 503 POST /cart* at most 3×");
    }
}
