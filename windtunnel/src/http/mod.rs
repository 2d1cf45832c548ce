//! HTTP: [`RequestBuilder`] and [`Response`] over one shared reqwest client (rustls), with a
//! cookie jar per agent, and [`Expect`]ations on responses. Every request carries a name for grouping (default: method and path) and
//! is recorded with its latency (until the body has been read) and outcome. Knows nothing of
//! libtest or of scheduling.

mod expect;
mod request;
mod response;
mod service;

use std::net::IpAddr;
use std::time::Duration;

use cookie_store::CookieStore;

pub use expect::{Expect, Subject, Unmet};
pub(crate) use expect::{first_problem, first_unmet};
pub use request::RequestBuilder;
#[cfg(test)]
pub(crate) use response::Body;
pub use response::{CheckFailed, HttpError, Response};
pub(crate) use service::NamedClient;
pub use service::{Service, ServiceRequests};

use std::sync::Arc;

use crate::metrics::Recorder;
use crate::turbulence::{RequestKey, Turbulence};

/// The per-request timeout when the scenario sets none. (Default: 30 seconds.)
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a response body is kept when the scenario sets no bound: the rest is read,
/// timed and counted, not stored. (Default: 16 MiB.)
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 16 << 20;

/// The client all agents of a scenario share: one connection pool, one TLS configuration.
#[derive(Clone)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
    /// The per-request timeout, applied around sending and reading the body (one timer per
    /// request, cheaper than reqwest's two).
    timeout: Duration,
    /// The target without a trailing slash.
    base: std::sync::Arc<str>,
    /// How many bytes of a response body are kept.
    pub(crate) max_body: usize,
    /// The scenario's turbulence, if it has any.
    pub(crate) turbulence: Option<Arc<Turbulence>>,
    /// The scenario's other services (on the target's client; empty on theirs).
    pub(crate) services: Arc<[NamedClient]>,
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for target `{target}`")]
pub struct ClientError {
    target: String,
    #[source]
    source: reqwest::Error,
}

impl HttpClient {
    /// A client for `target` (the URL requests go to: the target's, or a proxy's in front of
    /// it), with the target's headers and TLS settings.
    pub(crate) fn new(
        target: &reqwest::Url,
        timeout: Duration,
        options: &crate::config::Target,
    ) -> Result<Self, ClientError> {
        // reqwest is built with rustls and no bundled crypto provider; use ring's. A provider the
        // user installed first wins, so the error of a second install is irrelevant.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("windtunnel/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(10))
            // A redirect must not hand the original URL (and the secrets in its query) to
            // another host; a load test has no use for an automatic `Referer`.
            .referer(false)
            // No silent retries: a load test measures every attempt the SUT saw, and reqwest's
            // default (retry protocol NACKs) would also copy every request's headers for it.
            .retry(reqwest::retry::never().max_retries_per_request(0));
        if is_loopback(target) {
            // Never send loopback traffic through a proxy from the environment.
            builder = builder.no_proxy();
        }
        let failed = |source| ClientError {
            target: crate::redact::url(target.as_str()).into_owned(),
            source,
        };
        if !options.headers.is_empty() {
            let mut headers = reqwest::header::HeaderMap::new();
            for (name, value) in &options.headers {
                // Both were checked when the settings were read.
                if let (Ok(name), Ok(value)) = (
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                    reqwest::header::HeaderValue::from_str(value),
                ) {
                    headers.insert(name, value);
                }
            }
            builder = builder.default_headers(headers);
        }
        if options.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        if let Some(ca) = &options.ca {
            let certs = reqwest::Certificate::from_pem_bundle(&ca.pem).map_err(failed)?;
            builder = builder.tls_certs_merge(certs);
        }
        let inner = builder.build().map_err(failed)?;
        let base = target.as_str().trim_end_matches('/').into();
        Ok(HttpClient {
            inner,
            timeout,
            base,
            max_body: DEFAULT_MAX_RESPONSE_BODY,
            turbulence: None,
            services: Arc::new([]),
        })
    }

    /// The base URL, without a trailing slash.
    pub(crate) fn base_url(&self) -> &str {
        &self.base
    }

    /// The same client, with `turbulence` injected into its requests.
    pub(crate) fn with_turbulence(mut self, turbulence: Arc<Turbulence>) -> Self {
        self.turbulence = Some(turbulence);
        self
    }
}

/// Whether `url` points at this machine: a loopback address, or `localhost`.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// How many parsed URLs an agent keeps: agents hit a few paths again and again, and parsing a
/// URL (with its host's IDNA processing) per request costs more than the rest of our overhead.
const URL_CACHE: usize = 8;

/// One agent's view of the client: the shared pool plus its own cookie jar.
pub(crate) struct Session {
    client: HttpClient,
    jar: Option<CookieStore>,
    recorder: Recorder,
    /// How late the current iteration started after its intended start (open model).
    pub(crate) lateness: Duration,
    /// The identity of the next request, which keys turbulence decisions.
    pub(crate) key: RequestKey,
    /// The last paths parsed (with the service they are on) and their URLs, oldest first
    /// (evicted first).
    urls: Vec<(Option<usize>, Box<str>, reqwest::Url)>,
    /// Where the agent's in-flight request lives.
    in_flight: request::InFlightSlot,
    /// Whether turbulence caused the outcome of the agent's last request in this iteration
    /// (an injected abort, drop or hang), so that a check or an iteration failure after it is
    /// attributed to turbulence.
    pub(crate) last_injected: bool,
}

impl Session {
    pub(crate) fn new(client: HttpClient, recorder: Recorder) -> Self {
        Session {
            client,
            jar: None,
            recorder,
            lateness: Duration::ZERO,
            key: RequestKey::default(),
            urls: Vec::new(),
            in_flight: request::InFlightSlot::default(),
            last_injected: false,
        }
    }

    /// Frees what the session keeps only to make the next request cheaper (the in-flight
    /// request's slot): called when the agent thinks, so thinking agents stay small. (An open
    /// model's pooled agent waiting for its next iteration keeps it: it is about to send.)
    pub(crate) fn release_idle(&mut self) {
        self.in_flight.release();
    }

    /// The URL of `path` (relative to the target, or to `service`'s base URL, or absolute),
    /// parsed once per agent.
    pub(crate) fn url(
        &mut self,
        service: Option<usize>,
        path: &str,
    ) -> Result<reqwest::Url, String> {
        if let Some(i) = self
            .urls
            .iter()
            .rposition(|(s, p, _)| *s == service && &**p == path)
        {
            return Ok(self.urls[i].2.clone());
        }
        let base = match service {
            Some(i) => &self.client.services[i].client.base,
            None => &self.client.base,
        };
        let raw = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else if path.starts_with('/') {
            format!("{base}{path}")
        } else {
            format!("{base}/{path}")
        };
        let url = reqwest::Url::parse(&raw).map_err(|e| format!("invalid URL `{raw}`: {e}"))?;
        if self.urls.len() == URL_CACHE {
            self.urls.remove(0);
        }
        self.urls.push((service, path.into(), url.clone()));
        Ok(url)
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.client.base
    }
}
