//! [`Service`]: another system a scenario talks to besides its target (payments beside the
//! shop), with its own base URL, headers, timeout and TLS settings; and [`ServiceRequests`],
//! an agent's requests to it.

use std::sync::Arc;
use std::time::Duration;

use super::{HttpClient, RequestBuilder, Session};

/// A named service of a scenario: its base URL (or a combination of the settings file's
/// targets catalog, `app/environment/region`), and the headers, request timeout and TLS
/// setting its requests get. Given to [`Scenario::service`](crate::Scenario::service); agents
/// reach it with [`Agent::service`](crate::Agent::service).
///
/// ```
/// use windtunnel::{Service, secs};
/// let payments = Service::new("http://127.0.0.1:9090")
///     .header("x-api-key", "demo")
///     .timeout(secs(2));
/// # let _ = payments;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) insecure: bool,
}

impl Service {
    /// A service at `target`: an absolute `http(s)` URL, or `app/environment/region` from the
    /// settings file's targets catalog (with the catalog entry's headers and TLS settings).
    pub fn new(target: impl Into<String>) -> Service {
        Service {
            target: target.into(),
            headers: Vec::new(),
            timeout: None,
            insecure: false,
        }
    }

    /// A header on every request to the service (after the catalog entry's, which it
    /// replaces when they share a name).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Service {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The service's request timeout, instead of the scenario's.
    pub fn timeout(mut self, timeout: Duration) -> Service {
        self.timeout = Some(timeout);
        self
    }

    /// Accepts any TLS certificate from the service (a test environment's self-signed one).
    pub fn insecure(mut self) -> Service {
        self.insecure = true;
        self
    }
}

impl From<&str> for Service {
    fn from(target: &str) -> Service {
        Service::new(target)
    }
}

impl From<String> for Service {
    fn from(target: String) -> Service {
        Service::new(target)
    }
}

/// A service's client, with its name.
#[derive(Clone)]
pub(crate) struct NamedClient {
    pub(crate) name: Arc<str>,
    pub(crate) client: HttpClient,
}

/// An agent's requests to one of its scenario's services: as [`Agent::get`](crate::Agent::get)
/// and the others, relative to the service's base URL. From
/// [`Agent::service`](crate::Agent::service).
#[must_use = "start a request on the service: `.get(path)`, `.post(path)`, ..."]
pub struct ServiceRequests<'a> {
    session: &'a mut Session,
    /// The service's index among the scenario's, or why there is none by that name.
    service: Result<usize, String>,
}

impl<'a> ServiceRequests<'a> {
    pub(crate) fn new(session: &'a mut Session, name: &str) -> Self {
        let services = &session.client.services;
        let service = services
            .iter()
            .position(|s| &*s.name == name)
            .ok_or_else(|| unknown_service(name, services));
        ServiceRequests { session, service }
    }

    /// Starts a `GET` request to `path` on the service.
    pub fn get(self, path: &str) -> RequestBuilder<'a> {
        self.request(reqwest::Method::GET, path)
    }

    /// Starts a `POST` request to `path` on the service.
    pub fn post(self, path: &str) -> RequestBuilder<'a> {
        self.request(reqwest::Method::POST, path)
    }

    /// Starts a `PUT` request to `path` on the service.
    pub fn put(self, path: &str) -> RequestBuilder<'a> {
        self.request(reqwest::Method::PUT, path)
    }

    /// Starts a `PATCH` request to `path` on the service.
    pub fn patch(self, path: &str) -> RequestBuilder<'a> {
        self.request(reqwest::Method::PATCH, path)
    }

    /// Starts a `DELETE` request to `path` on the service.
    pub fn delete(self, path: &str) -> RequestBuilder<'a> {
        self.request(reqwest::Method::DELETE, path)
    }

    /// Starts a request with any method to `path` on the service. An unknown service makes
    /// the request invalid (recorded, never sent), its error listing the services there are.
    pub fn request(self, method: reqwest::Method, path: &str) -> RequestBuilder<'a> {
        RequestBuilder::on_service(self.session, self.service.map(Some), method, path)
    }
}

/// Why `name` is no service of the scenario, with the ones it has.
fn unknown_service(name: &str, services: &[NamedClient]) -> String {
    if services.is_empty() {
        return format!(
            "no service `{name}`: the scenario names no services (add one with \
             `.service(\"{name}\", url)`)"
        );
    }
    let names: Vec<&str> = services.iter().map(|s| &*s.name).collect();
    let near = crate::config::did_you_mean_hint(name, names.iter().copied());
    let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!(
        "no service `{name}`{near}; the scenario has {}",
        listed.join(", ")
    )
}
