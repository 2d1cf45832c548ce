//! [`RequestBuilder`]: a request being put together by an agent, and how it is sent and recorded.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, HeaderValue, SET_COOKIE};
use serde::Serialize;
use tokio_util::sync::ReusableBoxFuture;
use tracing::Instrument;

use super::Session;
use super::expect::Expect;
use super::response::{Body, HttpError, Response};
use crate::metrics::{ErrorKind, Outcome, Recorder};
use crate::turbulence::Action;

/// A request being built; finish it with [`send`](RequestBuilder::send).
///
/// Statuses 200–399 count as successes; others count as failed requests in the metrics (the
/// response is still returned) unless accepted with [`accept_status`](Self::accept_status).
#[must_use = "a request does nothing until it is sent with `.send().await`"]
pub struct RequestBuilder<'a> {
    session: &'a mut Session,
    method: Method,
    /// The resolved URL, or the path as given and why it is invalid.
    url: Result<reqwest::Url, (String, String)>,
    name: Option<Cow<'static, str>>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
    accept: Vec<u16>,
    expects: Vec<Expect>,
    invalid: Option<String>,
    /// The service it goes to (an index among the scenario's); `None`: the target.
    service: Option<usize>,
}

impl<'a> RequestBuilder<'a> {
    pub(crate) fn new(session: &'a mut Session, method: Method, path: &str) -> Self {
        RequestBuilder::on_service(session, Ok(None), method, path)
    }

    /// A request to `path` on a service (`Ok(None)`: the target), or one made invalid by why
    /// there is no such service.
    pub(crate) fn on_service(
        session: &'a mut Session,
        service: Result<Option<usize>, String>,
        method: Method,
        path: &str,
    ) -> Self {
        let (service, url) = match service {
            Ok(s) => (s, session.url(s, path).map_err(|r| (path.to_owned(), r))),
            Err(why) => (None, Err((path.to_owned(), why))),
        };
        RequestBuilder {
            session,
            method,
            url,
            service,
            name: None,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
            timeout: None,
            accept: Vec::new(),
            expects: Vec::new(),
            invalid: None,
        }
    }

    /// The name the request will be recorded under: the one given, or its method and path.
    pub(crate) fn effective_name(&self) -> Cow<'_, str> {
        match &self.name {
            Some(n) => Cow::Borrowed(n),
            None => Cow::Owned(default_name(&self.method, &self.url)),
        }
    }

    /// The name this request is grouped under in metrics, objectives and reports.
    /// (Default: the method and the path, like `GET /products`.) A name with a control
    /// character (a newline, an escape) fails the request at `send`: it would break the
    /// terminal, JUnit and `--list`.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        let name = name.into();
        if name.chars().any(char::is_control) {
            self.invalid = crate::report::untrusted::name_problem(&name);
            self.name = Some(Cow::Owned(
                crate::report::untrusted::for_name(&name).into_owned(),
            ));
        } else {
            self.name = Some(name);
        }
        self
    }

    /// Adds a header. An invalid name or value fails the request at `send`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => {
                self.invalid = Some(format!(
                    "invalid header `{name}: {}`",
                    crate::redact::header_value(name, value)
                ))
            }
        }
        self
    }

    /// Adds a query parameter (percent-encoded).
    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    /// Sends `value` as a JSON body, with `content-type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = Some(body);
                self.headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Err(e) => self.invalid = Some(format!("cannot serialize the JSON body: {e}")),
        }
        self
    }

    /// Sends raw bytes as the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// This request's timeout, instead of the scenario's request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Counts `status` as a success for this request (on top of 200–399), e.g. an expected 404.
    pub fn accept_status(mut self, status: u16) -> Self {
        self.accept.push(status);
        self
    }

    /// Expects the response to meet `expect` (a value in its JSON body, a header, its
    /// schema, ...): a response with an accepted status that misses it is recorded as a failed
    /// request of kind `assertion`, the expectation and the actual value as its error sample,
    /// and `send` returns [`HttpError::Assertion`] instead of it (Locust's `catch_response`).
    /// Several expectations must all hold; an expectation that cannot work (a bad pointer or
    /// regex) makes the request invalid, so it is not sent.
    ///
    /// ```no_run
    /// # use windtunnel::prelude::*;
    /// # use windtunnel::Expect;
    /// # #[allow(dead_code)]
    /// # async fn example(a: &mut Agent) -> Result<()> {
    /// a.get("/orders/1")
    ///     .expect(Expect::json("/status").exists())
    ///     .expect(Expect::header("content-type").contains("json"))
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn expect(mut self, expect: Expect) -> Self {
        if let Some(p) = expect.problem() {
            self.invalid = Some(format!("expectation {expect}: {p}"));
        }
        self.expects.push(expect);
        self
    }

    /// Sends the request, reads the whole body, records the outcome and returns the response.
    ///
    /// Latency runs from just before the request is written until the last byte of the body
    /// has been read: everything the agent waited for. The request is put together when `send`
    /// is called and goes out when the returned future is first awaited.
    ///
    /// Every request is recorded, also those that never got an answer: an invalid request
    /// (a bad header, URL, name or body) is a failed request of kind `invalid`, with no
    /// latency; dropping the future before the response is complete (the graceful stop ended
    /// with the request in flight, or the agent raced it against something else) drops the
    /// request and records it as a failed request of kind `unfinished`, with the time it had
    /// waited as its latency, a lower bound.
    ///
    /// # Errors
    ///
    /// An [`HttpError`] when no response arrived (connection refused, timeout, reset), the
    /// request was invalid, or the response missed an [`expect`](Self::expect)ation. A response
    /// with an error status is `Ok`: check it with [`Response::expect_status`].
    pub fn send(self) -> impl Future<Output = Result<Response, HttpError>> + Send + 'a {
        // The request is put together here and parked, not yet polled, in the session's
        // in-flight slot; the future returned keeps only what recording the outcome needs, so
        // that the agent's iteration future, allocated per iteration, stays small.
        let sending = self.prepare();
        async move {
            let Sending {
                session,
                name,
                method,
                accept,
                expects,
                timeout,
                span,
                service,
            } = sending?;
            // Where the request counts among the scenario's services (0: the target).
            let service = service.map_or(0, |i| i + 1);
            let in_flight = InFlight {
                slot: &mut session.in_flight,
                recorder: &session.recorder,
                name: &name,
                service,
                lateness: session.lateness,
                start: Instant::now(),
                done: false,
            };
            // With no subscriber interested, the span is disabled: awaiting it instrumented
            // would only enter and leave nothing around every poll.
            let exchanged = if span.is_disabled() {
                in_flight.await
            } else {
                in_flight.instrument(span.clone()).await
            };
            let Exchanged {
                url,
                start,
                end,
                fate,
                result,
            } = exchanged;
            let latency = end - start;
            span.record("latency_us", latency.as_micros() as u64);
            let turbulence = session.client.turbulence.as_deref();
            let (kind, message) = match result {
                Ok(Ok((status, headers, body, redirected))) => {
                    let url = redirected.map_or(url, |u| *u);
                    span.record("status", status.as_u16());
                    let code = status.as_u16();
                    let accepted = (200..400).contains(&code) || accept.contains(&code);
                    let made = fate.as_ref().is_some_and(|f| f.acted);
                    let response = Response::new(name, status, headers, body, latency, url, made);
                    let unmet = if accepted && !expects.is_empty() {
                        super::expect::first_unmet(&expects, &response)
                    } else {
                        None
                    };
                    let failed = !accepted || unmet.is_some();
                    if let (Some(t), Some(f)) = (turbulence, &fate) {
                        t.ledger.outcome(f.phases, failed, failed && made);
                    }
                    store_cookies(session, response.headers(), response.url());
                    session.last_injected = made;
                    let Some(unmet) = unmet else {
                        let detail = || status_detail(status, response.body());
                        session.recorder.record_request(
                            service,
                            response.name(),
                            latency,
                            session.lateness,
                            end,
                            Outcome::Response {
                                status: code,
                                accepted,
                                detail: &detail,
                            },
                            made,
                        );
                        return Ok(response);
                    };
                    session.recorder.record_request(
                        service,
                        response.name(),
                        latency,
                        session.lateness,
                        end,
                        Outcome::Unmet {
                            status: code,
                            message: &|| format!("status {code}: {unmet}"),
                        },
                        made,
                    );
                    return Err(HttpError::assertion(&response, unmet));
                }
                Ok(Err(Failure::Transport(e))) => {
                    let chain = error_chain(&e);
                    let message = if crate::os::is_out_of_files(&chain) {
                        format!("{}: {chain}", crate::os::out_of_files_hint())
                    } else {
                        chain
                    };
                    (classify(&e), crate::redact::text(&message).into_owned())
                }
                Ok(Err(Failure::Injected(why))) => (ErrorKind::Request, why.to_owned()),
                Err(_elapsed) => (
                    ErrorKind::Timeout,
                    format!(
                        "no complete response within {}{}",
                        humantime::format_duration(timeout),
                        if fate.as_ref().is_some_and(|f| f.hung) {
                            " (turbulence: the request hung)"
                        } else {
                            ""
                        }
                    ),
                ),
            };
            let injected = fate
                .as_ref()
                .is_some_and(|f| f.acted || (!f.delay.is_zero() && f.delay >= timeout));
            if let (Some(t), Some(f)) = (turbulence, &fate) {
                t.ledger.outcome(f.phases, true, injected);
            }
            session.recorder.record_request(
                service,
                &name,
                latency,
                session.lateness,
                end,
                Outcome::Failed {
                    kind,
                    message: &|| message.clone(),
                },
                injected,
            );
            session.last_injected = injected;
            Err(HttpError::transport(name, method, url, kind, message))
        }
    }

    /// Validates the request, builds it, and parks its exchange in the session's slot.
    fn prepare(self) -> Result<Sending<'a>, HttpError> {
        let name: Cow<'static, str> = match self.name {
            Some(n) => n,
            None => Cow::Owned(default_name(&self.method, &self.url)),
        };
        let (mut url, session) = match (self.url, self.invalid) {
            (Ok(url), None) => (url, self.session),
            (url, invalid) => {
                let (path, reason) = match (url, invalid) {
                    (Err((path, reason)), _) => (crate::redact::url(&path).into_owned(), reason),
                    (Ok(url), reason) => (
                        crate::redact::url(url.as_str()).into_owned(),
                        reason.unwrap_or_default(),
                    ),
                };
                // Never sent, so no latency; but counted, so that a load of invalid requests
                // fails its error rate instead of passing with nothing recorded.
                let session = self.session;
                session.recorder.record_request(
                    self.service.map_or(0, |i| i + 1),
                    &name,
                    Duration::ZERO,
                    session.lateness,
                    Instant::now(),
                    Outcome::Failed {
                        kind: ErrorKind::Invalid,
                        message: &|| format!("{path}: {reason}"),
                    },
                    false,
                );
                return Err(HttpError::invalid(name, self.method, path, reason));
            }
        };
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.query);
        }
        let mut request = reqwest::Request::new(self.method.clone(), url.clone());
        *request.headers_mut() = self.headers;
        if let Some(jar) = &session.jar {
            let cookies: Vec<String> = jar
                .get_request_values(&url)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if !cookies.is_empty()
                && let Ok(v) = HeaderValue::try_from(cookies.join("; "))
            {
                request.headers_mut().insert(COOKIE, v);
            }
        }
        if let Some(body) = self.body {
            *request.body_mut() = Some(body.into());
        }
        let chosen = match self.service {
            Some(i) => &session.client.services[i].client,
            None => &session.client,
        };
        let timeout = self.timeout.unwrap_or(chosen.timeout);
        let span = tracing::debug_span!(
            "request",
            name = %name,
            method = %self.method,
            url = %crate::redact::url(url.as_str()),
            status = tracing::field::Empty,
            latency_us = tracing::field::Empty,
        );
        let key = session.key;
        session.key.request += 1;
        let client = chosen.inner.clone();
        let max_body = session.client.max_body;
        let turbulence = session.client.turbulence.clone();
        // Turbulence decides by name; without it, the name stays with the caller only.
        let decided_by = turbulence.as_ref().map(|_| name.clone());
        session.in_flight.park(async move {
            let start = Instant::now();
            let decision = turbulence.as_deref().zip(decided_by).map(|(t, name)| {
                t.decide(&name, request.method().as_str(), url.path(), key, start)
            });
            let (delay, action) = decision
                .as_ref()
                .map_or((Duration::ZERO, None), |d| (d.delay, d.action));
            let fate = decision.as_ref().map(|d| Fate {
                phases: d.phases,
                delay: d.delay,
                acted: d.action.is_some(),
                hung: matches!(d.action, Some(Action::Hang)),
            });
            let result = tokio::time::timeout(timeout, async {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                match action {
                    Some(Action::Abort {
                        status,
                        headers,
                        body,
                    }) => return Ok(synthetic(*status, headers, body)),
                    Some(Action::Hang) => std::future::pending::<()>().await,
                    Some(Action::DropRequest) => return Err(Failure::Injected(DROPPED_REQUEST)),
                    _ => {}
                }
                let mut response = client.execute(request).await?;
                let status = response.status();
                let headers = std::mem::take(response.headers_mut());
                // After redirects, the response's URL is the final one; compare before cloning.
                let redirected = (response.url() != &url).then(|| Box::new(response.url().clone()));
                let body = Body::read(response, max_body).await?;
                if let Some(Action::DropResponse) = action {
                    return Err(Failure::Injected(DROPPED_RESPONSE));
                }
                Ok((status, headers, body, redirected))
            })
            .await;
            Exchanged {
                url,
                start,
                end: Instant::now(),
                fate,
                result,
            }
        });
        Ok(Sending {
            session,
            name,
            method: self.method,
            accept: self.accept,
            expects: self.expects,
            timeout,
            service: self.service,
            span,
        })
    }
}

/// What a sent request keeps until its outcome is recorded (its exchange is in the slot).
struct Sending<'a> {
    session: &'a mut Session,
    name: Cow<'static, str>,
    method: Method,
    accept: Vec<u16>,
    expects: Vec<Expect>,
    timeout: Duration,
    span: tracing::Span,
    service: Option<usize>,
}

/// What turbulence did to a request, for the ledger and the error message.
struct Fate {
    /// The phases active when it started.
    phases: u64,
    /// The delay injected before sending.
    delay: Duration,
    /// Whether an abort, hang or drop fired.
    acted: bool,
    /// Whether it was made to hang.
    hung: bool,
}

/// What the in-flight part of a request hands back: the URL it was given (so that no copy is
/// kept while it runs), when it started and ended, what turbulence did, and the response or
/// why there is none.
struct Exchanged {
    url: reqwest::Url,
    start: Instant,
    end: Instant,
    fate: Option<Fate>,
    result: Result<Result<Received, Failure>, tokio::time::error::Elapsed>,
}

const DROPPED_REQUEST: &str = "turbulence dropped the request before it was sent";
const DROPPED_RESPONSE: &str = "turbulence dropped the response after the server handled it";

/// Why no response came: the transport's error, or an injected fault.
enum Failure {
    Transport(reqwest::Error),
    Injected(&'static str),
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        Failure::Transport(e)
    }
}

/// A response as the in-flight part of a request hands it back: status, headers, body, and the
/// final URL if redirects changed it (boxed: it is rare, and the tuple is moved a few times).
type Received = (
    reqwest::StatusCode,
    HeaderMap,
    Body,
    Option<Box<reqwest::Url>>,
);

/// The heap slot an agent's in-flight request lives in, reused from one request to the next.
///
/// A request's state is over a kilobyte, most of it reqwest's. Inside the agent's iteration
/// future it would make every agent that big for as long as it thinks; boxed per request it
/// costs an allocation that size per request, which glibc serves from its slow path. The slot
/// is allocated on an agent's first request, reused while it keeps sending, and released when
/// the agent thinks (see [`Session::release_idle`](super::Session::release_idle)).
#[derive(Default)]
pub(crate) struct InFlightSlot(Option<ReusableBoxFuture<'static, Exchanged>>);

impl InFlightSlot {
    /// Puts `exchange` in the slot, in place when the slot is allocated already (dropping the
    /// finished exchange it holds). It runs when an [`InFlight`] polls it.
    fn park(&mut self, exchange: impl Future<Output = Exchanged> + Send + 'static) {
        match &mut self.0 {
            Some(boxed) => boxed.set(exchange),
            None => self.0 = Some(ReusableBoxFuture::new(exchange)),
        }
    }

    /// Frees the slot's memory (the next request allocates it again).
    pub(crate) fn release(&mut self) {
        self.0 = None;
    }
}

/// Drives the request in an [`InFlightSlot`]. Dropped before it completes (the agent's future
/// was cancelled, or the agent raced the request against something else), it drops the request
/// too, so no connection stays taken by a request nobody waits for, and records it as
/// `unfinished`, so that a server that never answers shows in the error rate and the latency.
struct InFlight<'s> {
    slot: &'s mut InFlightSlot,
    recorder: &'s Recorder,
    name: &'s str,
    /// Where it counts among the scenario's services (0: the target).
    service: usize,
    lateness: Duration,
    start: Instant,
    done: bool,
}

impl Future for InFlight<'_> {
    type Output = Exchanged;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Exchanged> {
        let this = &mut *self;
        let Some(exchange) = this.slot.0.as_mut() else {
            unreachable!("an in-flight request is polled only while its slot holds it");
        };
        let exchanged = std::task::ready!(exchange.poll(cx));
        this.done = true;
        Poll::Ready(exchanged)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.slot.release();
            let end = Instant::now();
            let waited = end - self.start;
            self.recorder.record_request(
                self.service,
                self.name,
                waited,
                self.lateness,
                end,
                Outcome::Failed {
                    kind: ErrorKind::Unfinished,
                    message: &|| {
                        format!(
                            "abandoned with no complete response after {:.1} s (the graceful \
                             stop ended, or the agent stopped waiting)",
                            waited.as_secs_f64()
                        )
                    },
                },
                false,
            );
        }
    }
}

/// The response of an abort fault.
fn synthetic(status: u16, headers: &[(String, String)], body: &bytes::Bytes) -> Received {
    let mut map = HeaderMap::new();
    for (n, v) in headers {
        // Validated with the turbulence plan.
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(n.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            map.append(n, v);
        }
    }
    let status =
        reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::SERVICE_UNAVAILABLE);
    (status, map, Body::whole(body.clone()), None)
}

fn store_cookies(session: &mut Session, headers: &HeaderMap, url: &reqwest::Url) {
    let mut set_cookies = headers.get_all(SET_COOKIE).iter().peekable();
    if set_cookies.peek().is_none() {
        return;
    }
    let jar = session
        .jar
        .get_or_insert_with(cookie_store::CookieStore::default);
    for value in set_cookies {
        if let Ok(s) = value.to_str() {
            // A cookie the store rejects (bad domain, malformed) is dropped, as a browser would.
            let _ = jar.parse(s, url);
        }
    }
}

/// A request's name when it was given none: its method and path, like `GET /products`.
fn default_name(method: &Method, url: &Result<reqwest::Url, (String, String)>) -> String {
    match url {
        Ok(url) => format!("{method} {}", url.path()),
        Err((path, _)) => format!("{method} {}", url_path(path)),
    }
}

/// The path part of what the agent asked for, without the query: the default request name.
fn url_path(path: &str) -> &str {
    let without_scheme = path
        .strip_prefix("http://")
        .or_else(|| path.strip_prefix("https://"))
        .map(|rest| rest.find('/').map_or("/", |i| &rest[i..]));
    let p = without_scheme.unwrap_or(path);
    p.split(['?', '#']).next().unwrap_or(p)
}

fn status_detail(status: reqwest::StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let text = text.trim();
    if text.is_empty() {
        status.to_string()
    } else {
        format!("{status}: {text}")
    }
}

fn classify(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Request
    }
}

/// The error and its sources, joined: reqwest's own message alone rarely says what happened.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_use_the_path_without_query() {
        assert_eq!(url_path("/products?page=2"), "/products");
        assert_eq!(url_path("products#x"), "products");
        assert_eq!(url_path("http://127.0.0.1:8080/a/b?c"), "/a/b");
        assert_eq!(url_path("https://example.test"), "/");
    }

    #[test]
    fn status_detail_includes_a_body_excerpt() {
        let d = status_detail(reqwest::StatusCode::SERVICE_UNAVAILABLE, b" busy \n");
        assert_eq!(d, "503 Service Unavailable: busy");
        let long = vec![b'x'; 1000];
        assert!(status_detail(reqwest::StatusCode::OK, &long).len() < 230);
    }
}
