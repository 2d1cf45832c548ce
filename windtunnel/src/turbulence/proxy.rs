//! [`Proxy`]: an in-process TCP proxy on loopback that applies the [`Toxic`](super::Toxic)s of the
//! active phases to the bytes of its connections.
//!
//! Each connection is two pipes (upstream and downstream). Before each read a pipe asks which
//! toxics apply now: the plan is immutable and the schedule a function of time, so this takes a
//! read lock for a pointer copy and no lock is ever held across I/O. A small task wakes the
//! pipes at each phase change, so that a black hole lets go and `down` closes idle connections
//! when their phase starts or ends.
//!
//! A connection HTTP toxics may act on (see [`ProxyBuilder::http`]) has a third stage between
//! the pipes and the upstream: [`exchange::relay`](super::exchange::relay), which frames
//! HTTP/1.1 and decides per request.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use super::draw::{Domain, Draws, Jitter, hash_name};
use super::exchange::{self, Act};
use super::toxic::{Direction, Kind};
use super::{Action, Turbulence};

/// How long [`Proxy::start`] waits for the upstream to accept a connection.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a proxied connection waits for its upstream to accept it; then the client is reset.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The buffer of each direction of a connection.
const BUFFER: usize = 16 * 1024;
/// The most chunks a latency toxic holds per direction of a connection (toxiproxy's latency
/// toxic buffers 1,024): at most 16 MiB. Past it, reading waits.
const MAX_HELD: usize = 1024;

/// An in-process TCP proxy between agents and the SUT (or between the SUT and a dependency)
/// that applies the toxics of a scenario's turbulence phases.
///
/// It listens on `127.0.0.1` on a free port unless told otherwise, and forwards every connection
/// to its upstream. Toxics name the proxy they act on; give the proxy to the scenario with
/// [`Scenario::proxy`](crate::Scenario::proxy), or let the scenario put one named `target` in
/// front of its target with [`Scenario::through_proxy`](crate::Scenario::through_proxy). The
/// proxy stops when its last handle is dropped.
///
/// ```no_run
/// # use windtunnel::prelude::*;
/// # #[allow(dead_code)]
/// # async fn example() -> std::result::Result<(), Box<dyn std::error::Error>> {
/// // Between the SUT and its database: configure the SUT with `db.addr()`.
/// let db = Proxy::start("db", "127.0.0.1:5432").await?;
/// println!("point the SUT at {}", db.addr());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::AbortHandle,
    standalone: std::sync::Mutex<Standalone>,
}

/// How many times [`Proxy::set_toxics`] keeps what the toxics did, for the tape.
const MAX_GENERATIONS: usize = 100_000;

/// The toxics of a proxy driven outside any scenario, and what earlier ones did.
#[derive(Default)]
struct Standalone {
    /// When the first toxics were set: every generation's clock starts there.
    origin: Option<Instant>,
    current: Option<Attached>,
    generations: Vec<Arc<Turbulence>>,
    /// `false` once generations were dropped past [`MAX_GENERATIONS`].
    complete: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

struct Shared {
    name: String,
    name_hash: u64,
    upstream: String,
    /// Every connection goes through the HTTP stage, for HTTP toxics set later.
    http: bool,
    attached: RwLock<Option<Arc<Attachment>>>,
    connections: AtomicU64,
    changes: watch::Sender<u64>,
}

/// A scenario's turbulence, as one proxy sees it.
struct Attachment {
    turbulence: Arc<Turbulence>,
    /// This proxy's toxics' indexes in the plan.
    toxics: Vec<usize>,
    /// Whether one of them is an HTTP toxic.
    http: bool,
}

/// A proxy that could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The listening address is not loopback and non-loopback was not allowed.
    #[error(
        "proxy `{name}`: will not listen on {addr}, which is not a loopback address; call \
         `.allow_non_loopback()` to expose it on purpose"
    )]
    NotLoopback {
        /// The proxy.
        name: String,
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The listening address could not be bound.
    #[error("proxy `{name}`: cannot listen on {addr}")]
    Bind {
        /// The proxy.
        name: String,
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The upstream did not accept a connection.
    #[error("proxy `{name}`: cannot reach its upstream `{upstream}`: {reason}")]
    Unreachable {
        /// The proxy.
        name: String,
        /// The upstream as given.
        upstream: String,
        /// Why.
        reason: String,
    },
}

/// A [`Proxy`] being configured; start it with [`start`](Self::start).
#[derive(Clone, Debug)]
#[must_use = "a proxy does nothing until `.start().await`"]
pub struct ProxyBuilder {
    name: String,
    upstream: String,
    listen: SocketAddr,
    non_loopback: bool,
    check: bool,
    http: bool,
}

impl ProxyBuilder {
    /// Starts without checking that the upstream accepts connections (as toxiproxy does; a
    /// scenario's `--check-config` connects to nothing).
    pub fn unchecked(mut self) -> Self {
        self.check = false;
        self
    }

    /// Frames HTTP/1.1 on every connection from the start, so that HTTP toxics
    /// ([`Toxic::http`](super::Toxic::http)) given later with [`Proxy::set_toxics`] act on
    /// connections already open (kept alive by a client's pool). Without it, a connection is
    /// framed when a scenario's HTTP toxic for this proxy is in place as it is accepted.
    /// Bytes that are not HTTP/1.x pass unchanged either way.
    pub fn http(mut self) -> Self {
        self.http = true;
        self
    }

    /// Listens on `addr` instead of `127.0.0.1` on a free port.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Allows listening on an address other than loopback (other machines could then reach
    /// the proxy and, through it, the upstream).
    pub fn allow_non_loopback(mut self) -> Self {
        self.non_loopback = true;
        self
    }

    /// Checks that the upstream accepts connections, binds and starts serving.
    ///
    /// # Errors
    ///
    /// A [`ProxyError`] when the address is not loopback (unless allowed), cannot be bound, or
    /// the upstream does not accept a connection within 2 seconds.
    pub async fn start(self) -> Result<Proxy, ProxyError> {
        if !self.listen.ip().is_loopback() && !self.non_loopback {
            return Err(ProxyError::NotLoopback {
                name: self.name,
                addr: self.listen,
            });
        }
        if self.check {
            check_upstream(&self.name, &self.upstream).await?;
        }
        let listener = TcpListener::bind(self.listen)
            .await
            .map_err(|source| ProxyError::Bind {
                name: self.name.clone(),
                addr: self.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            name: self.name.clone(),
            addr: self.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            name_hash: hash_name(&self.name),
            name: self.name,
            upstream: self.upstream,
            http: self.http,
            attached: RwLock::new(None),
            connections: AtomicU64::new(0),
            changes: watch::Sender::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared))).abort_handle();
        tracing::debug!(proxy = %shared.name, %addr, upstream = %shared.upstream, "proxy started");
        Ok(Proxy {
            inner: Arc::new(Inner {
                addr,
                shared,
                accept,
                standalone: std::sync::Mutex::new(Standalone {
                    complete: true,
                    ..Standalone::default()
                }),
            }),
        })
    }
}

async fn check_upstream(name: &str, upstream: &str) -> Result<(), ProxyError> {
    let unreachable = |reason: String| ProxyError::Unreachable {
        name: name.to_owned(),
        upstream: upstream.to_owned(),
        reason,
    };
    match tokio::time::timeout(CHECK_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!(
            "no connection within {} s",
            CHECK_TIMEOUT.as_secs()
        ))),
    }
}

impl Proxy {
    /// A proxy named `name` to `upstream` (`host:port`), to configure before starting.
    pub fn builder(name: impl Into<String>, upstream: impl Into<String>) -> ProxyBuilder {
        ProxyBuilder {
            name: name.into(),
            upstream: upstream.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            non_loopback: false,
            check: true,
            http: false,
        }
    }

    /// Starts a proxy named `name` on `127.0.0.1` (a free port) to `upstream` (`host:port`).
    ///
    /// # Errors
    ///
    /// See [`ProxyBuilder::start`].
    pub async fn start(
        name: impl Into<String>,
        upstream: impl Into<String>,
    ) -> Result<Proxy, ProxyError> {
        Proxy::builder(name, upstream).start().await
    }

    /// The proxy's name, which toxics refer to.
    pub fn name(&self) -> &str {
        &self.inner.shared.name
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Its upstream, as given.
    pub fn upstream(&self) -> &str {
        &self.inner.shared.upstream
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.inner.shared.connections.load(Ordering::Relaxed)
    }

    /// Checks that the upstream still accepts connections.
    pub(crate) async fn check(&self) -> Result<(), ProxyError> {
        check_upstream(self.name(), self.upstream()).await
    }

    /// Applies `turbulence`'s toxics for this proxy (the proxy at `index` of its plan) until
    /// the returned guard is dropped.
    pub(crate) fn attach(&self, turbulence: Arc<Turbulence>, index: usize) -> Attached {
        let plan = Arc::clone(&turbulence.plan);
        let toxics: Vec<usize> = (0..plan.toxics.len())
            .filter(|&t| plan.toxics[t].proxy == index)
            .take(64)
            .collect();
        let phases: Vec<usize> = toxics.iter().map(|&t| plan.toxics[t].phase).collect();
        let http = toxics
            .iter()
            .any(|&t| matches!(plan.toxics[t].toxic.kind, Kind::Http(_)));
        let origin = turbulence.origin;
        let shared = Arc::clone(&self.inner.shared);
        let attachment = Arc::new(Attachment {
            turbulence,
            toxics,
            http,
        });
        *shared.attached.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&attachment));
        shared.changes.send_modify(|v| *v += 1);
        // Wake the pipes at every start and end of a phase with toxics for this proxy.
        let notifier = tokio::spawn({
            let shared = Arc::clone(&shared);
            async move {
                loop {
                    let t = Instant::now().saturating_duration_since(origin);
                    let next = phases
                        .iter()
                        .filter_map(|&p| plan.phases[p].timing.next_change(t))
                        .min();
                    let Some(next) = next else { break };
                    tokio::time::sleep_until(origin + next).await;
                    shared.changes.send_modify(|v| *v += 1);
                }
            }
        });
        Attached {
            shared,
            attachment,
            notifier: notifier.abort_handle(),
        }
    }

    /// Applies `toxics`, each with its name, from now on and until the next call, outside any
    /// scenario: what `windtunnel proxy` does for its HTTP API. Which connections a toxic with a
    /// toxicity below 1 acts on is drawn from `seed` by connection number, so one seed gives the
    /// same decisions in every run; what the toxics did is kept for [`tape`](Self::tape).
    ///
    /// The change takes a pointer swap: connections see it before their next chunk, and no
    /// lock is held across I/O, so toxics can change under load without stalling traffic.
    ///
    /// # Errors
    ///
    /// A [`TurbulenceError`](super::TurbulenceError) naming the toxic that cannot be used, or
    /// two toxics of one name.
    pub fn set_toxics(
        &self,
        toxics: &[(String, super::Toxic)],
        seed: u64,
    ) -> Result<(), super::TurbulenceError> {
        let phases: Vec<super::Phase> = toxics
            .iter()
            .map(|(name, toxic)| super::Phase::new(name.clone()).toxic(self.name(), toxic.clone()))
            .collect();
        let mut standalone = self
            .inner
            .standalone
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let plan = if phases.is_empty() {
            super::Plan::default()
        } else {
            super::Plan::resolve(&phases, None, std::slice::from_ref(self))?
        };
        let origin = *standalone.origin.get_or_insert_with(Instant::now);
        let turbulence = Arc::new(Turbulence::new(Arc::new(plan), origin, seed));
        let attached = self.attach(Arc::clone(&turbulence), 0);
        // The new toxics are in place before the old guard goes: there is no moment without.
        standalone.current = Some(attached);
        if standalone.generations.len() >= MAX_GENERATIONS {
            standalone.generations.remove(0);
            standalone.complete = false;
        }
        standalone.generations.push(turbulence);
        Ok(())
    }

    /// The fault tape of what the toxics given with [`set_toxics`](Self::set_toxics) did so far:
    /// every toxic (by its name and setting) with the connections it acted on.
    pub fn tape(&self) -> super::Tape {
        let standalone = self
            .inner
            .standalone
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let seed = standalone.generations.last().map_or(0, |t| t.seed);
        let mut tape = super::tape::merged(
            &format!("windtunnel proxy `{}`", self.name()),
            seed,
            standalone
                .generations
                .iter()
                .map(|t| t.ledger.recording.tape("", t.seed, &t.plan)),
        );
        tape.complete &= standalone.complete;
        tape
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("name", &self.name())
            .field("addr", &self.addr())
            .field("upstream", &self.upstream())
            .finish()
    }
}

/// Keeps a scenario's toxics applied to a proxy; dropping it lifts them.
pub(crate) struct Attached {
    shared: Arc<Shared>,
    attachment: Arc<Attachment>,
    notifier: tokio::task::AbortHandle,
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.notifier.abort();
        let mut attached = self
            .shared
            .attached
            .write()
            .unwrap_or_else(|e| e.into_inner());
        // Only its own: a newer attachment that replaced it stays.
        if attached
            .as_ref()
            .is_some_and(|a| Arc::ptr_eq(a, &self.attachment))
        {
            *attached = None;
            drop(attached);
            self.shared.changes.send_modify(|v| *v += 1);
        }
    }
}

/// The toxics that apply to one direction of one connection at one moment, each with its slot
/// (its place in the attachment), by which it is counted and taped once it acts. Of two toxics
/// of one kind, the first applies.
#[derive(Default)]
struct Now {
    down: Option<usize>,
    timeout: Option<(Duration, usize)>,
    reset: Option<(Duration, usize)>,
    latency: Option<((Duration, Jitter), usize)>,
    bandwidth: Option<(u64, usize)>,
    slow_close: Option<(Duration, usize)>,
    limit: Option<(u64, usize)>,
    slicer: Option<((usize, usize, Duration), usize)>,
}

/// Per slot, what a toxic has acted on in this pipe: the occurrence (plus one) of its phase in
/// which it was last counted, as a toxic counts once per connection, direction and occurrence;
/// and, replaying a tape, how many of the tape's occurrences for it are done.
#[derive(Default)]
struct Counted(Vec<(u64, usize)>);

impl Counted {
    /// Whether the toxic in `slot` was counted here in `occurrence`.
    fn has(&self, slot: usize, occurrence: u64) -> bool {
        self.0
            .get(slot)
            .is_some_and(|c| c.0 == occurrence.saturating_add(1))
    }

    /// How many of the tape's occurrences for `slot` are done.
    fn replayed(&self, slot: usize) -> usize {
        self.0.get(slot).map_or(0, |c| c.1)
    }

    fn slot(&mut self, slot: usize) -> &mut (u64, usize) {
        if self.0.len() <= slot {
            self.0.resize(slot + 1, (0, 0));
        }
        &mut self.0[slot]
    }
}

impl Shared {
    /// The scenario's turbulence as this proxy sees it, if one is attached. Pipes keep it and
    /// read it again only when told of a change.
    fn attachment(&self) -> Option<Arc<Attachment>> {
        self.attached
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What applies now to `connection` in `direction` (`None`: when it is accepted, where
    /// only `down` matters). Which connections a toxic applies to is drawn from the seed by
    /// connection number.
    ///
    /// Replaying a tape, the tape decides instead, by connection and occurrence of the phase:
    /// a taped toxic applies while its occurrence lasts, and, if the connection carried nothing
    /// then, to its next data after it, so that it acts in every taped occurrence however the
    /// traffic's timing moved. `counted` tells which taped occurrences it has acted in.
    fn now(
        &self,
        attachment: Option<&Arc<Attachment>>,
        direction: Option<Direction>,
        connection: u64,
        counted: &Counted,
    ) -> Now {
        let Some(attachment) = attachment.filter(|a| !a.toxics.is_empty()) else {
            return Now::default();
        };
        let turbulence = &attachment.turbulence;
        let plan = &turbulence.plan;
        let t = Instant::now().saturating_duration_since(turbulence.origin);
        let connection = turbulence.segment.global(connection);
        let mut now = Now::default();
        for (slot, &index) in attachment.toxics.iter().enumerate() {
            let spec = &plan.toxics[index];
            let toxic = &spec.toxic;
            if matches!(toxic.kind, Kind::Http(_)) {
                // It acts on requests, in the HTTP stage.
                continue;
            }
            let timing = &plan.phases[spec.phase].timing;
            let active = timing.occurrence(t).is_some();
            let replaying = turbulence.replaying.as_ref();
            if !active && (replaying.is_none() || t < timing.from) {
                continue;
            }
            let applies_here = match direction {
                None => matches!(toxic.kind, Kind::Down),
                Some(d) => toxic.stream.covers(d),
            };
            if !applies_here {
                continue;
            }
            let decided = match replaying {
                Some(tape) => {
                    let current = timing.occurrence_index(t);
                    let taped = tape.occurrences(index, connection, direction);
                    let pending = taped
                        .get(counted.replayed(slot))
                        .is_some_and(|&k| k <= current);
                    pending || (active && taped.binary_search(&current).is_ok())
                }
                None if toxic.toxicity >= 1.0 => true,
                None => {
                    let mut draws = Draws::new(
                        turbulence.seed,
                        Domain::Connection,
                        &[self.name_hash, connection, index as u64],
                    );
                    draws.unit() < toxic.toxicity
                }
            };
            if !decided {
                continue;
            }
            match toxic.kind {
                Kind::Http(_) => {}
                Kind::Down => {
                    now.down.get_or_insert(slot);
                }
                Kind::Timeout { after } => {
                    now.timeout.get_or_insert((after, slot));
                }
                Kind::ResetPeer { after } => {
                    now.reset.get_or_insert((after, slot));
                }
                Kind::Latency { latency, jitter } => {
                    now.latency.get_or_insert(((latency, jitter), slot));
                }
                Kind::Bandwidth { bytes_per_sec } => {
                    now.bandwidth.get_or_insert((bytes_per_sec, slot));
                }
                Kind::SlowClose { delay } => {
                    now.slow_close.get_or_insert((delay, slot));
                }
                Kind::LimitData { bytes } => {
                    now.limit.get_or_insert((bytes, slot));
                }
                Kind::Slicer {
                    average,
                    variation,
                    delay,
                } => {
                    now.slicer
                        .get_or_insert(((average, variation, delay), slot));
                }
            }
        }
        now
    }

    /// Counts, lists and tapes the toxic in `slot` as having acted on `connection` in
    /// `direction`, once per occurrence of its phase; replaying a tape, once for each taped
    /// occurrence up to now that it had not acted in yet.
    fn acted(
        &self,
        attachment: Option<&Arc<Attachment>>,
        slot: usize,
        counted: &mut Counted,
        connection: u64,
        direction: Option<Direction>,
    ) {
        let Some(attachment) = attachment else { return };
        let turbulence = &attachment.turbulence;
        let index = attachment.toxics[slot];
        let t = Instant::now().saturating_duration_since(turbulence.origin);
        let current = turbulence.plan.phases[turbulence.plan.toxics[index].phase]
            .timing
            .occurrence_index(t);
        let global = turbulence.segment.global(connection);
        let record = |occurrence: u64| {
            turbulence.ledger.injected_toxic(
                index,
                &turbulence.plan,
                t,
                global,
                occurrence,
                direction,
            );
        };
        if let Some(tape) = &turbulence.replaying {
            let taped = tape.occurrences(index, global, direction);
            let done = counted.replayed(slot);
            let due = taped[done..].iter().take_while(|&&k| k <= current).count();
            for &k in &taped[done..done + due] {
                record(k);
            }
            let entry = counted.slot(slot);
            entry.1 = done + due;
            if let Some(&last) = taped[..done + due].last() {
                entry.0 = last.saturating_add(1);
            }
            return;
        }
        if counted.has(slot, current) {
            return;
        }
        counted.slot(slot).0 = current.saturating_add(1);
        record(current);
    }

    /// A chunk's own random stream: `use_` tells the latency draw (0) from the slicer's (1).
    fn chunk_draws(
        &self,
        attachment: Option<&Arc<Attachment>>,
        connection: u64,
        direction: Direction,
        chunk: u64,
        use_: u64,
    ) -> Draws {
        let seed = attachment.map_or(0, |a| a.turbulence.seed);
        Draws::new(
            seed,
            Domain::Chunk,
            &[self.name_hash, connection, direction as u64, chunk, use_],
        )
    }
}

impl Shared {
    /// What the HTTP toxics of the moment do to request `request` (from 0) of `connection`:
    /// the first one whose method and path match and that is decided on it (by its toxicity,
    /// drawn from the seed by connection and request number; replaying, by the tape) acts, and
    /// is counted, listed and taped.
    fn exchange(&self, connection: u64, request: u64, method: &str, path: &str) -> Act {
        let Some(attachment) = self.attachment().filter(|a| a.http) else {
            return Act::Pass;
        };
        let turbulence = &attachment.turbulence;
        let plan = &turbulence.plan;
        let t = Instant::now().saturating_duration_since(turbulence.origin);
        let connection = turbulence.segment.global(connection);
        for &index in &attachment.toxics {
            let toxic = &plan.toxics[index].toxic;
            let Kind::Http(fault) = &toxic.kind else {
                continue;
            };
            if !fault.matches("", method, path) {
                continue;
            }
            let draws = |use_: u64| {
                Draws::new(
                    turbulence.seed,
                    Domain::Exchange,
                    &[self.name_hash, connection, request, index as u64, use_],
                )
            };
            let decided = match &turbulence.replaying {
                // The tape decides, whenever the request comes.
                Some(tape) => tape.acts_on(index, connection, request),
                None => {
                    plan.phases[plan.toxics[index].phase]
                        .timing
                        .occurrence(t)
                        .is_some()
                        && (toxic.toxicity >= 1.0 || draws(0).unit() < toxic.toxicity)
                }
            };
            if !decided {
                continue;
            }
            turbulence
                .ledger
                .injected_exchange(index, plan, t, connection, request, || {
                    format!("{method} {path}")
                });
            return match &fault.action {
                Action::Delay { base, jitter } => Act::Delay(jitter.apply(*base, &mut draws(1))),
                Action::Abort {
                    status,
                    headers,
                    body,
                } => Act::Answer(exchange::answer(
                    *status,
                    headers,
                    body,
                    method.eq_ignore_ascii_case("HEAD"),
                )),
                Action::Hang => Act::Hang,
                Action::DropRequest => Act::DropRequest,
                Action::DropResponse => Act::DropResponse,
            };
        }
        Act::Pass
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                let n = shared.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(client, n, Arc::clone(&shared)));
            }
            Err(e) => {
                // Out of file descriptors, usually: wait rather than spin.
                tracing::warn!(proxy = %shared.name, error = %e, "proxy cannot accept");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// How one direction of a connection ended.
#[derive(Debug, PartialEq)]
enum End {
    /// The sender closed; the receiver was told (half-close).
    Eof,
    /// Close the whole connection.
    Close,
    /// Reset the whole connection.
    Reset,
}

async fn serve(mut client: TcpStream, connection: u64, shared: Arc<Shared>) {
    let attachment = shared.attachment();
    let at_accept = shared.now(attachment.as_ref(), None, connection, &Counted::default());
    if let Some(slot) = at_accept.down {
        shared.acted(
            attachment.as_ref(),
            slot,
            &mut Counted::default(),
            connection,
            None,
        );
        // Refused: reset at once rather than wait for a request.
        let _ = client.set_zero_linger();
        return;
    }
    let http = shared.http || attachment.as_ref().is_some_and(|a| a.http);
    drop(attachment);
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&shared.upstream));
    let mut upstream = match connect.await {
        Ok(Ok(s)) => s,
        failed => {
            let error = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
            };
            tracing::warn!(proxy = %shared.name, upstream = %shared.upstream, %error, "proxy cannot reach its upstream");
            // The client learns at once, as it would from the upstream itself: a reset.
            let _ = client.set_zero_linger();
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let end = {
        let (mut client_read, mut client_write) = client.split();
        if http {
            // The pipes' far end is the HTTP stage, which talks to the upstream.
            let (near, far) = tokio::io::duplex(4 * BUFFER);
            let (mut near_read, mut near_write) = tokio::io::split(near);
            let stage = exchange::relay(far, &mut upstream, |request, method, path| {
                shared.exchange(connection, request, method, path)
            });
            let stage = async {
                match stage.await {
                    exchange::Ended::Closed => std::future::pending().await,
                    exchange::Ended::Reset => End::Reset,
                }
            };
            piped(
                (&mut client_read, &mut client_write),
                (&mut near_read, &mut near_write),
                connection,
                &shared,
                stage,
            )
            .await
        } else {
            let (mut upstream_read, mut upstream_write) = upstream.split();
            piped(
                (&mut client_read, &mut client_write),
                (&mut upstream_read, &mut upstream_write),
                connection,
                &shared,
                std::future::pending(),
            )
            .await
        }
    };
    if end == End::Reset {
        let _ = client.set_zero_linger();
        let _ = upstream.set_zero_linger();
    }
}

/// Runs a connection's two pipes between `client` and `upstream` until it ends: the upstream
/// ending ends it, the client's end half-closes it; `stage` (the HTTP stage, or nothing)
/// resolving ends it as it says.
async fn piped(
    (client_read, client_write): (
        &mut (impl AsyncRead + Unpin),
        &mut (impl AsyncWrite + Unpin),
    ),
    (upstream_read, upstream_write): (
        &mut (impl AsyncRead + Unpin),
        &mut (impl AsyncWrite + Unpin),
    ),
    connection: u64,
    shared: &Shared,
    stage: impl std::future::Future<Output = End>,
) -> End {
    let up = pipe(
        client_read,
        upstream_write,
        Direction::Upstream,
        connection,
        shared,
    );
    let down = pipe(
        upstream_read,
        client_write,
        Direction::Downstream,
        connection,
        shared,
    );
    tokio::pin!(up, down, stage);
    let mut up_done = false;
    loop {
        let end = tokio::select! {
            end = &mut up, if !up_done => { up_done = true; end }
            // The upstream closing ends the connection: what the client sends after it could
            // reach no one, and a request waiting for an answer would hang.
            end = &mut down => break end,
            end = &mut stage => break end,
        };
        if end != End::Eof {
            break end;
        }
    }
}

/// Resolves at `at`, or never.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A chunk held by a latency toxic: when it is due, its number, its bytes.
type Held = (Instant, u64, bytes::Bytes);

/// Forwards `src` to `dst`, applying the toxics of the moment to each chunk.
///
/// As in toxiproxy, a latency toxic delays each chunk from the moment it arrived, not from the
/// previous chunk's delivery: chunks are held in arrival order (up to [`MAX_HELD`]) while more
/// are read, so that latency adds to a transfer once instead of once per chunk.
async fn pipe(
    src: &mut (impl AsyncRead + Unpin),
    dst: &mut (impl AsyncWrite + Unpin),
    direction: Direction,
    connection: u64,
    shared: &Shared,
) -> End {
    let mut changes = shared.changes.subscribe();
    // Until the proxy is gone and nothing can change any more.
    let mut live = true;
    let mut buf = vec![0u8; BUFFER];
    let (mut chunk, mut passed) = (0u64, 0u64);
    let mut counted = Counted::default();
    let mut held: VecDeque<Held> = VecDeque::new();
    // The sender closed (`Eof`), or a limit cut the data (`Close`): ends once `held` is out.
    let mut ending: Option<End> = None;
    let mut reset_at: Option<(Instant, usize)> = None;
    let mut close_at: Option<Instant> = None;
    let mut attachment = shared.attachment();
    loop {
        let now = shared.now(attachment.as_ref(), Some(direction), connection, &counted);
        // Counts a toxic as having acted here (a macro: `attachment` changes in the loop).
        macro_rules! act {
            ($slot:expr) => {
                shared.acted(
                    attachment.as_ref(),
                    $slot,
                    &mut counted,
                    connection,
                    Some(direction),
                )
            };
        }
        if let Some(slot) = now.down {
            act!(slot);
            return End::Close;
        }
        if let Some((limit, slot)) = now.limit
            && passed >= limit
        {
            act!(slot);
            return End::Close;
        }
        // A reset waits for data; one armed is disarmed if its toxic stops applying first.
        if now.reset.is_none() {
            reset_at = None;
        }
        close_at = match now.timeout {
            Some((after, _)) if !after.is_zero() => {
                Some(close_at.unwrap_or_else(|| Instant::now() + after))
            }
            _ => None,
        };
        if let Some((at, slot)) = reset_at
            && at <= Instant::now()
        {
            act!(slot);
            return End::Reset;
        }
        // A reset under way comes even if the sender closes first.
        if held.is_empty()
            && reset_at.is_none()
            && let Some(end) = ending.take()
        {
            if end == End::Eof {
                if let Some((delay, slot)) = now.slow_close {
                    act!(slot);
                    tokio::time::sleep(delay).await;
                }
                let _ = dst.shutdown().await;
            }
            return end;
        }
        // A held chunk already due goes out without a trip through the timer (whose tick is a
        // millisecond).
        if let Some(&(at, number, _)) = held.front()
            && at <= Instant::now()
        {
            let (_, _, data) = held.pop_front().expect("a held chunk");
            let mut draws =
                shared.chunk_draws(attachment.as_ref(), connection, direction, number, 1);
            if deliver(dst, &data, &now, &mut draws, &mut |slot| act!(slot))
                .await
                .is_err()
            {
                return End::Close;
            }
            continue;
        }
        let due = held.front().map(|h| h.0);
        let room = ending.is_none() && held.len() < MAX_HELD;
        let read = tokio::select! {
            biased;
            changed = changes.changed(), if live => {
                live = changed.is_ok();
                attachment = shared.attachment();
                continue;
            }
            () = sleep_until(reset_at.map(|r| r.0)) => {
                act!(reset_at.expect("armed").1);
                return End::Reset;
            }
            () = sleep_until(close_at) => {
                if let Some((_, slot)) = now.timeout {
                    act!(slot);
                }
                return End::Close;
            }
            read = src.read(&mut buf), if room => read,
            () = sleep_until(due), if due.is_some() => {
                let (_, number, data) = held.pop_front().expect("a held chunk");
                let mut draws = shared.chunk_draws(attachment.as_ref(), connection, direction, number, 1);
                if deliver(dst, &data, &now, &mut draws, &mut |slot| act!(slot)).await.is_err() {
                    return End::Close;
                }
                continue;
            }
        };
        let n = match read {
            Ok(0) => {
                ending = Some(End::Eof);
                continue;
            }
            Ok(n) => n,
            Err(_) => return End::Close,
        };
        if let Some((after, slot)) = now.reset {
            // As toxiproxy's reset_peer: the data goes nowhere, and the connection is reset
            // `after` the first of it came, so no byte of an answer reaches the client.
            reset_at.get_or_insert((Instant::now() + after, slot));
            continue;
        }
        if let Some((_, slot)) = now.timeout {
            // A black hole (or a timeout under way): the data goes nowhere.
            act!(slot);
            continue;
        }
        let mut data = &buf[..n];
        if let Some((limit, slot)) = now.limit {
            let room = usize::try_from(limit - passed).unwrap_or(usize::MAX);
            if n >= room {
                data = &buf[..room];
                act!(slot);
                ending = Some(End::Close);
            }
        }
        let delay = now.latency.map(|((latency, jitter), slot)| {
            act!(slot);
            let mut draws =
                shared.chunk_draws(attachment.as_ref(), connection, direction, chunk, 0);
            jitter.apply(latency, &mut draws)
        });
        if delay.is_some() || !held.is_empty() {
            // In order: a chunk is never due before the one ahead of it.
            let due = Instant::now() + delay.unwrap_or_default();
            let due = held.back().map_or(due, |h| due.max(h.0));
            held.push_back((due, chunk, bytes::Bytes::copy_from_slice(data)));
        } else {
            let mut draws =
                shared.chunk_draws(attachment.as_ref(), connection, direction, chunk, 1);
            if deliver(dst, data, &now, &mut draws, &mut |slot| act!(slot))
                .await
                .is_err()
            {
                return End::Close;
            }
        }
        passed += data.len() as u64;
        chunk += 1;
    }
}

/// Writes one chunk through the bandwidth and slicer toxics of the moment.
async fn deliver(
    dst: &mut (impl AsyncWrite + Unpin),
    data: &[u8],
    now: &Now,
    draws: &mut Draws,
    act: &mut impl FnMut(usize),
) -> std::io::Result<()> {
    if let Some((rate, slot)) = now.bandwidth {
        act(slot);
        tokio::time::sleep(Duration::from_secs_f64(data.len() as f64 / rate as f64)).await;
    }
    match now.slicer {
        None => dst.write_all(data).await,
        Some((slicer, slot)) => {
            act(slot);
            write_sliced(dst, data, slicer, draws).await
        }
    }
}

/// Writes `data` in slices of `average ± variation` bytes, `delay` apart.
async fn write_sliced(
    dst: &mut (impl AsyncWrite + Unpin),
    mut data: &[u8],
    (average, variation, delay): (usize, usize, Duration),
    draws: &mut Draws,
) -> std::io::Result<()> {
    while !data.is_empty() {
        let spread = 2 * variation as u64 + 1;
        let size = average - variation + (draws.next_u64() % spread) as usize;
        let (slice, rest) = data.split_at(size.clamp(1, data.len()));
        dst.write_all(slice).await?;
        dst.flush().await?;
        data = rest;
        if !data.is_empty() {
            tokio::time::sleep(delay).await;
        }
    }
    Ok(())
}
