//! `windtunnel proxy`: windtunnel's TCP proxy on its own, driven through Toxiproxy's HTTP API,
//! so that an existing Toxiproxy client (in any language) drives it unchanged.
//!
//! The API: `GET /version`, `POST /reset` (every proxy enabled, every toxic removed),
//! `GET|POST /proxies`, `POST /populate`, `GET|POST|DELETE /proxies/{proxy}`,
//! `GET|POST /proxies/{proxy}/toxics`, `GET|POST|DELETE /proxies/{proxy}/toxics/{toxic}`, with
//! Toxiproxy's JSON shapes, status codes (201 created, 204 deleted, 400 bad input, 404 unknown,
//! 409 exists) and toxics (`latency`, `bandwidth`, `slow_close`, `timeout`, `reset_peer`,
//! `slicer`, `limit_data`, with `stream`, `toxicity` and `attributes` in Toxiproxy's units).
//!
//! What it adds: HTTP toxics, which act per request on HTTP/1.1 traffic (windtunnel's HTTP
//! faults: `http_delay` {`delay`, `jitter`: ms}, `http_abort` {`status`, `body`, `headers`},
//! `http_hang`, `http_drop_request`, `http_drop_response`, each narrowed by `method` and
//! `path`, with `toxicity` the share of requests); `--seed`, from which the toxicity of every
//! toxic is drawn per connection, or per request for an HTTP toxic (so one seed gives the same
//! decisions in every run); the fault tape of what the toxics did
//! (`GET /windtunnel/tape`, and `--tape FILE` written at exit), and toxics changed under load
//! by a pointer swap that never waits for traffic. It binds 127.0.0.1 (the API and every proxy)
//! unless `--allow-non-loopback` is given.
//!
//! Differences from Toxiproxy: a disabled proxy keeps its port and resets every connection
//! (Toxiproxy stops listening); a proxy's `listen` and `upstream` cannot be changed in place
//! (delete and create it, as `populate` does).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use windtunnel::turbulence::{Fault, Proxy, Toxic};

/// The version `GET /version` answers: Toxiproxy's API, by windtunnel.
const VERSION: &str = concat!(
    "windtunnel-",
    env!("CARGO_PKG_VERSION"),
    " (toxiproxy API 2)"
);
/// The most proxies one server holds.
const MAX_PROXIES: usize = 1_000;
/// The most toxics one proxy holds.
const MAX_TOXICS: usize = 60;

pub(crate) struct Args {
    pub(crate) listen: String,
    pub(crate) seed: u64,
    pub(crate) allow_non_loopback: bool,
    pub(crate) tape: Option<PathBuf>,
}

/// A toxic as Toxiproxy's API has it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiToxic {
    #[serde(default)]
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "downstream")]
    stream: String,
    #[serde(default = "one")]
    toxicity: f64,
    #[serde(default)]
    attributes: Map<String, Value>,
}

fn downstream() -> String {
    "downstream".into()
}

fn one() -> f64 {
    1.0
}

/// A proxy as a client creates or updates it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiProxy {
    name: Option<String>,
    listen: Option<String>,
    upstream: Option<String>,
    enabled: Option<bool>,
}

struct Entry {
    proxy: Proxy,
    upstream: String,
    enabled: bool,
    toxics: Vec<ApiToxic>,
}

struct Server {
    seed: u64,
    allow_non_loopback: bool,
    proxies: Mutex<BTreeMap<String, Entry>>,
}

type Shared = Arc<Server>;

/// An API error: Toxiproxy's `{"error": ..., "status": ...}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.1, "status": self.0.as_u16() });
        (
            self.0,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn not_found(what: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("{what} not found"))
}

fn json_response(status: StatusCode, value: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn proxy_json(name: &str, e: &Entry) -> Value {
    json!({
        "name": name,
        "listen": e.proxy.addr().to_string(),
        "upstream": e.upstream,
        "enabled": e.enabled,
        "toxics": e.toxics,
    })
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("bad request body: {e}")))
}

/// A number attribute in Toxiproxy's units, 0 when absent.
fn number(attributes: &Map<String, Value>, key: &str) -> Result<u64, ApiError> {
    match attributes.get(key) {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.is_finite())
                    .map(|f| f as u64)
            })
            .ok_or_else(|| {
                bad(format!(
                    "attribute `{key}` must be a number at least 0, not {v}"
                ))
            }),
    }
}

/// A string attribute, if given.
fn text<'a>(attributes: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    match attributes.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(bad(format!("attribute `{key}` must be a string, not {v}"))),
    }
}

/// An HTTP toxic's fault: `kind` is the type without its `http_`.
fn http_fault(
    kind: &str,
    a: &Map<String, Value>,
) -> Result<(Fault, &'static [&'static str]), ApiError> {
    let ms = |key| number(a, key).map(Duration::from_millis);
    let (fault, keys): (Fault, &'static [&'static str]) = match kind {
        "delay" => (
            Fault::delay(ms("delay")?).jitter(ms("jitter")?),
            &["delay", "jitter", "method", "path"],
        ),
        "abort" => {
            let status = match a.get("status") {
                None => 503,
                Some(_) => u16::try_from(number(a, "status")?).unwrap_or(u16::MAX),
            };
            let mut fault = Fault::abort(status).body(text(a, "body")?.unwrap_or("").to_owned());
            match a.get("headers") {
                None | Some(Value::Null) => {}
                Some(Value::Object(headers)) => {
                    for (name, value) in headers {
                        let Value::String(value) = value else {
                            return Err(bad(format!(
                                "header `{name}` of attribute `headers` must be a string, not {value}"
                            )));
                        };
                        fault = fault.header(name, value);
                    }
                }
                Some(v) => {
                    return Err(bad(format!(
                        "attribute `headers` must be an object of strings, not {v}"
                    )));
                }
            }
            (fault, &["status", "body", "headers", "method", "path"])
        }
        "hang" => (Fault::hang(), &["method", "path"]),
        "drop_request" => (Fault::drop_request(), &["method", "path"]),
        "drop_response" => (Fault::drop_response(), &["method", "path"]),
        _ => return Err(unknown_type(&format!("http_{kind}"))),
    };
    let mut fault = fault;
    if let Some(m) = text(a, "method")? {
        fault = fault.method(m);
    }
    if let Some(p) = text(a, "path")? {
        fault = fault.path(p);
    }
    Ok((fault, keys))
}

fn unknown_type(kind: &str) -> ApiError {
    bad(format!(
        "unknown toxic type `{}` (known: latency, bandwidth, slow_close, timeout, reset_peer, \
         slicer, limit_data, http_delay, http_abort, http_hang, http_drop_request, \
         http_drop_response)",
        kind.escape_default()
    ))
}

/// The first address `host:port` resolves to (`localhost:8474` as well as `127.0.0.1:0`).
fn socket_addr(host_port: &str) -> Option<SocketAddr> {
    host_port.to_socket_addrs().ok()?.next()
}

/// The windtunnel toxic for an API toxic.
fn toxic_of(t: &ApiToxic) -> Result<Toxic, ApiError> {
    let known = |keys: &[&str]| -> Result<(), ApiError> {
        match t.attributes.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(bad(format!(
                "a {} toxic has no attribute `{k}` (it has: {})",
                t.kind,
                keys.join(", ")
            ))),
            None => Ok(()),
        }
    };
    let a = &t.attributes;
    let ms = |key| number(a, key).map(Duration::from_millis);
    let toxic = match t.kind.as_str() {
        "latency" => {
            known(&["latency", "jitter"])?;
            Toxic::latency(ms("latency")?).jitter(ms("jitter")?)
        }
        "bandwidth" => {
            known(&["rate"])?;
            Toxic::bandwidth(number(a, "rate")?)
        }
        "slow_close" => {
            known(&["delay"])?;
            Toxic::slow_close(ms("delay")?)
        }
        "timeout" => {
            known(&["timeout"])?;
            Toxic::timeout(ms("timeout")?)
        }
        "reset_peer" => {
            known(&["timeout"])?;
            Toxic::reset_peer(ms("timeout")?)
        }
        "limit_data" => {
            known(&["bytes"])?;
            Toxic::limit_data(number(a, "bytes")?)
        }
        "slicer" => {
            known(&["average_size", "size_variation", "delay"])?;
            Toxic::slicer(
                number(a, "average_size")? as usize,
                number(a, "size_variation")? as usize,
                Duration::from_micros(number(a, "delay")?),
            )
        }
        other => match other.strip_prefix("http_") {
            Some(kind) => {
                let (fault, keys) = http_fault(kind, a)?;
                known(keys)?;
                Toxic::http(fault)
            }
            None => return Err(unknown_type(other)),
        },
    };
    let toxic = match t.stream.as_str() {
        "downstream" => toxic.downstream(),
        "upstream" => toxic.upstream(),
        other => {
            return Err(bad(format!(
                "stream `{}` is neither `upstream` nor `downstream`",
                other.escape_default()
            )));
        }
    };
    Ok(toxic.toxicity(t.toxicity))
}

impl Server {
    /// Applies an entry's toxics (and `down` while it is disabled) to its proxy.
    fn apply(&self, e: &Entry) -> Result<(), ApiError> {
        let mut toxics = Vec::with_capacity(e.toxics.len() + 1);
        for t in &e.toxics {
            toxics.push((t.name.clone(), toxic_of(t)?));
        }
        if !e.enabled {
            toxics.push(("(disabled)".to_owned(), Toxic::down()));
        }
        e.proxy
            .set_toxics(&toxics, self.seed)
            .map_err(|err| bad(err.to_string()))
    }

    async fn create(&self, p: ApiProxy) -> Result<Value, ApiError> {
        let name = p
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("missing required field: name"))?;
        let upstream = p
            .upstream
            .filter(|u| !u.is_empty())
            .ok_or_else(|| bad("missing required field: upstream"))?;
        let listen = p.listen.unwrap_or_else(|| "127.0.0.1:0".into());
        let addr = socket_addr(&listen).ok_or_else(|| {
            bad(format!(
                "listen address `{}` is not host:port",
                listen.escape_default()
            ))
        })?;
        {
            let proxies = self.proxies.lock().unwrap_or_else(|e| e.into_inner());
            if proxies.contains_key(&name) {
                return Err(ApiError(
                    StatusCode::CONFLICT,
                    "proxy already exists".into(),
                ));
            }
            if proxies.len() >= MAX_PROXIES {
                return Err(bad(format!("a server holds at most {MAX_PROXIES} proxies")));
            }
        }
        let proxy = self.start(&name, &upstream, addr).await?;
        let entry = Entry {
            proxy,
            upstream,
            enabled: p.enabled.unwrap_or(true),
            toxics: Vec::new(),
        };
        self.apply(&entry)?;
        let mut proxies = self.proxies.lock().unwrap_or_else(|e| e.into_inner());
        if proxies.contains_key(&name) {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "proxy already exists".into(),
            ));
        }
        let out = proxy_json(&name, &entry);
        proxies.insert(name, entry);
        Ok(out)
    }

    /// Starts a proxy; a port a deleted proxy just let go of is retried for a second.
    async fn start(&self, name: &str, upstream: &str, addr: SocketAddr) -> Result<Proxy, ApiError> {
        let mut tries = 0;
        loop {
            // HTTP toxics added later act on connections already open.
            let mut builder = Proxy::builder(name, upstream)
                .listen(addr)
                .unchecked()
                .http();
            if self.allow_non_loopback {
                builder = builder.allow_non_loopback();
            }
            match builder.start().await {
                Ok(p) => return Ok(p),
                Err(e) => {
                    let in_use = matches!(
                        std::error::Error::source(&e)
                            .and_then(|s| s.downcast_ref::<std::io::Error>()),
                        Some(io) if io.kind() == std::io::ErrorKind::AddrInUse
                    );
                    tries += 1;
                    if !in_use || tries > 50 {
                        let mut msg = e.to_string();
                        if let Some(s) = std::error::Error::source(&e) {
                            msg = format!("{msg}: {s}");
                        }
                        return Err(bad(msg));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn remove(&self, name: &str) -> Result<(), ApiError> {
        let entry = self
            .proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .ok_or_else(|| not_found("proxy"))?;
        // Open connections end with it, as in Toxiproxy.
        let _ = entry
            .proxy
            .set_toxics(&[("(deleted)".into(), Toxic::down())], self.seed);
        Ok(())
    }

    fn with_entry<T>(
        &self,
        name: &str,
        f: impl FnOnce(&Server, &mut Entry) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut proxies = self.proxies.lock().unwrap_or_else(|e| e.into_inner());
        let entry = proxies.get_mut(name).ok_or_else(|| not_found("proxy"))?;
        f(self, entry)
    }
}

async fn version() -> impl IntoResponse {
    VERSION
}

async fn reset(State(s): State<Shared>) -> Result<StatusCode, ApiError> {
    let mut proxies = s.proxies.lock().unwrap_or_else(|e| e.into_inner());
    for entry in proxies.values_mut() {
        entry.enabled = true;
        entry.toxics.clear();
        s.apply(entry)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn list(State(s): State<Shared>) -> Response {
    let proxies = s.proxies.lock().unwrap_or_else(|e| e.into_inner());
    let map: Map<String, Value> = proxies
        .iter()
        .map(|(n, e)| (n.clone(), proxy_json(n, e)))
        .collect();
    json_response(StatusCode::OK, Value::Object(map))
}

async fn create(State(s): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let p: ApiProxy = parse(&body)?;
    let out = s.create(p).await?;
    Ok(json_response(StatusCode::CREATED, out))
}

async fn populate(State(s): State<Shared>, body: Bytes) -> Result<Response, ApiError> {
    let list: Vec<ApiProxy> = parse(&body)?;
    let mut out = Vec::new();
    for p in list {
        let name = p.name.clone().unwrap_or_default();
        let exists = s
            .proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&name);
        if exists {
            s.remove(&name)?;
        }
        out.push(s.create(p).await?);
    }
    Ok(json_response(
        StatusCode::CREATED,
        json!({ "proxies": out }),
    ))
}

async fn show(State(s): State<Shared>, Path(name): Path<String>) -> Result<Response, ApiError> {
    s.with_entry(&name, |_, e| {
        Ok(json_response(StatusCode::OK, proxy_json(&name, e)))
    })
}

async fn update(
    State(s): State<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p: ApiProxy = parse(&body)?;
    s.with_entry(&name, |server, e| {
        if p.name.as_ref().is_some_and(|n| *n != name) {
            return Err(bad(
                "a proxy cannot be renamed: delete it and create another",
            ));
        }
        if p.upstream.as_ref().is_some_and(|u| *u != e.upstream)
            || p.listen
                .as_ref()
                .is_some_and(|l| socket_addr(l).is_none_or(|a| a != e.proxy.addr()))
        {
            return Err(bad(
                "windtunnel proxy cannot change a proxy's listen address or upstream in place: \
                 delete it and create it again (as `populate` does)",
            ));
        }
        if let Some(enabled) = p.enabled {
            e.enabled = enabled;
            server.apply(e)?;
        }
        Ok(json_response(StatusCode::OK, proxy_json(&name, e)))
    })
}

async fn delete(State(s): State<Shared>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    s.remove(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn toxics(State(s): State<Shared>, Path(name): Path<String>) -> Result<Response, ApiError> {
    s.with_entry(&name, |_, e| {
        Ok(json_response(StatusCode::OK, json!(e.toxics)))
    })
}

async fn add_toxic(
    State(s): State<Shared>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut t: ApiToxic = parse(&body)?;
    if t.name.is_empty() {
        t.name = format!("{}_{}", t.kind, t.stream);
    }
    let _valid = toxic_of(&t)?;
    s.with_entry(&name, |server, e| {
        if e.toxics.iter().any(|x| x.name == t.name) {
            return Err(ApiError(
                StatusCode::CONFLICT,
                "toxic already exists".into(),
            ));
        }
        if e.toxics.len() >= MAX_TOXICS {
            return Err(bad(format!("a proxy holds at most {MAX_TOXICS} toxics")));
        }
        e.toxics.push(t.clone());
        if let Err(err) = server.apply(e) {
            e.toxics.pop();
            return Err(err);
        }
        Ok(json_response(StatusCode::OK, json!(t)))
    })
}

/// The place of the toxic named `name` in a proxy's list.
fn toxic_index(e: &Entry, name: &str) -> Result<usize, ApiError> {
    e.toxics
        .iter()
        .position(|t| t.name == name)
        .ok_or_else(|| not_found("toxic"))
}

async fn show_toxic(
    State(s): State<Shared>,
    Path((name, toxic)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    s.with_entry(&name, |_, e| {
        let t = &e.toxics[toxic_index(e, &toxic)?];
        Ok(json_response(StatusCode::OK, json!(t)))
    })
}

/// What a toxic update may carry: everything is optional, and attributes merge.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToxicUpdate {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    stream: Option<String>,
    toxicity: Option<f64>,
    attributes: Option<Map<String, Value>>,
}

async fn update_toxic(
    State(s): State<Shared>,
    Path((name, toxic)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let u: ToxicUpdate = parse(&body)?;
    s.with_entry(&name, |server, e| {
        let i = toxic_index(e, &toxic)?;
        let mut t = e.toxics[i].clone();
        if u.name.as_ref().is_some_and(|n| *n != t.name)
            || u.kind.as_ref().is_some_and(|k| *k != t.kind)
        {
            return Err(bad(
                "a toxic's name and type cannot change: delete it and add another",
            ));
        }
        if let Some(stream) = u.stream {
            t.stream = stream;
        }
        if let Some(toxicity) = u.toxicity {
            t.toxicity = toxicity;
        }
        for (k, v) in u.attributes.unwrap_or_default() {
            t.attributes.insert(k, v);
        }
        let _valid = toxic_of(&t)?;
        let old = std::mem::replace(&mut e.toxics[i], t.clone());
        if let Err(err) = server.apply(e) {
            e.toxics[i] = old;
            return Err(err);
        }
        Ok(json_response(StatusCode::OK, json!(t)))
    })
}

async fn delete_toxic(
    State(s): State<Shared>,
    Path((name, toxic)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.with_entry(&name, |server, e| {
        let i = toxic_index(e, &toxic)?;
        e.toxics.remove(i);
        server.apply(e)?;
        Ok(StatusCode::NO_CONTENT)
    })
}

/// Every proxy's tape, by proxy name.
fn tapes(s: &Server) -> Value {
    let proxies = s.proxies.lock().unwrap_or_else(|e| e.into_inner());
    let map: Map<String, Value> = proxies
        .iter()
        .map(|(n, e)| {
            let tape = e.proxy.tape();
            (
                n.clone(),
                serde_json::from_slice(&tape.to_bytes()).unwrap_or(Value::Null),
            )
        })
        .collect();
    json!({ "seed": s.seed, "proxies": map })
}

async fn tape(State(s): State<Shared>) -> Response {
    json_response(StatusCode::OK, tapes(&s))
}

pub(crate) fn run(args: Args) -> Result<ExitCode> {
    let addr = socket_addr(&args.listen)
        .with_context(|| format!("--listen `{}` is not host:port", args.listen))?;
    if !addr.ip().is_loopback() && !args.allow_non_loopback {
        bail!(
            "--listen {addr} is not a loopback address: anyone who can reach it could drive the \
             proxies; give --allow-non-loopback to expose it on purpose"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    runtime.block_on(serve(addr, args))
}

async fn serve(addr: SocketAddr, args: Args) -> Result<ExitCode> {
    let server = Arc::new(Server {
        seed: args.seed,
        allow_non_loopback: args.allow_non_loopback,
        proxies: Mutex::new(BTreeMap::new()),
    });
    let app = Router::new()
        .route("/version", get(version))
        .route("/reset", post(reset))
        .route("/populate", post(populate))
        .route("/proxies", get(list).post(create))
        .route("/proxies/{proxy}", get(show).post(update).delete(delete))
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic).post(update_toxic).delete(delete_toxic),
        )
        .route("/windtunnel/tape", get(tape))
        .with_state(Arc::clone(&server));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    say!(
        "windtunnel proxy: Toxiproxy API on http://{bound} (seed {}); Ctrl-C stops it",
        args.seed
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let stop = async move {
        let terminated = async {
            match &mut term {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminated => {}
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .context("the API server failed")?;
    if let Some(path) = &args.tape {
        let bytes = serde_json::to_vec_pretty(&tapes(&server))?;
        windtunnel::report::write_atomically(path, &bytes)?;
        say!("windtunnel proxy: fault tape written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
