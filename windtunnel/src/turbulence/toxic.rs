//! [`Toxic`]: a network fault applied by a [`Proxy`](super::Proxy) to the bytes of its
//! connections, with toxiproxy's kinds and units.

use std::fmt;
use std::time::Duration;

use super::draw::Jitter;
use super::fault::Fault;

/// Which way bytes flow through a proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the client (agent, or SUT) to the upstream.
    Upstream,
    /// From the upstream back to the client.
    Downstream,
}

impl Direction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
        }
    }
}

/// Which directions a toxic acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Up,
    Down,
    Both,
}

impl Stream {
    pub(crate) fn covers(self, d: Direction) -> bool {
        matches!(
            (self, d),
            (Stream::Both, _)
                | (Stream::Up, Direction::Upstream)
                | (Stream::Down, Direction::Downstream)
        )
    }
}

/// What a toxic does.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    /// Delays each chunk by `latency` plus jitter.
    Latency { latency: Duration, jitter: Jitter },
    /// Passes at most this many bytes per second.
    Bandwidth { bytes_per_sec: u64 },
    /// Resets the connection (TCP RST) this long after the toxic starts applying to it.
    ResetPeer { after: Duration },
    /// Lets no data through; closes the connection after this long (zero: never, a black hole).
    Timeout { after: Duration },
    /// Delays closing the connection by this long once the sender has closed.
    SlowClose { delay: Duration },
    /// Closes the connection once this many bytes went through.
    LimitData { bytes: u64 },
    /// Refuses new connections and closes open ones.
    Down,
    /// Cuts data into slices of about `average` bytes (± `variation`), `delay` apart.
    Slicer {
        average: usize,
        variation: usize,
        delay: Duration,
    },
    /// Acts on HTTP/1.1 requests, one by one, as the fault does in the agents' client.
    Http(Box<Fault>),
}

/// A network fault of a [`Proxy`](super::Proxy), after toxiproxy's toxics. Put toxics in a
/// [`Phase`](super::Phase) with the name of the proxy they act on.
///
/// A toxic acts on the downstream (upstream → client) by default, as in toxiproxy; choose with
/// [`upstream`](Self::upstream) or [`both`](Self::both). Its [`toxicity`](Self::toxicity) is
/// the share of connections it applies to (decided per connection from the seed); an
/// [`http`](Self::http) toxic's is the share of requests.
///
/// ```
/// use windtunnel::prelude::*;
///
/// let slow = Toxic::latency(ms(100)).jitter(ms(20)).both();
/// let thin = Toxic::bandwidth(64); // KB/s
/// let flaky = Toxic::reset_peer(ms(500)).toxicity(0.1);
/// let hole = Toxic::timeout(ms(0)); // a black hole
/// let busy = Toxic::http(Fault::abort(503).path("/cart*")).toxicity(0.1); // per request
/// # let _ = (slow, thin, flaky, hole, busy);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use = "a toxic does nothing until added to a phase with `.toxic(proxy, ..)`"]
pub struct Toxic {
    pub(crate) kind: Kind,
    pub(crate) stream: Stream,
    pub(crate) toxicity: f64,
    misused: Option<&'static str>,
}

impl Toxic {
    fn new(kind: Kind) -> Self {
        Toxic {
            kind,
            stream: Stream::Down,
            toxicity: 1.0,
            misused: None,
        }
    }

    /// Delays data by `latency` (plus [`jitter`](Self::jitter)).
    pub fn latency(latency: Duration) -> Self {
        Toxic::new(Kind::Latency {
            latency,
            jitter: Jitter::None,
        })
    }

    /// Limits throughput to `kb_per_sec` kilobytes (1,000 bytes) per second.
    pub fn bandwidth(kb_per_sec: u64) -> Self {
        Toxic::new(Kind::Bandwidth {
            bytes_per_sec: kb_per_sec.saturating_mul(1000),
        })
    }

    /// Resets connections (TCP RST, "connection reset by peer") `after` the toxic starts
    /// applying to them (zero: at once).
    pub fn reset_peer(after: Duration) -> Self {
        Toxic::new(Kind::ResetPeer { after })
    }

    /// Stops all data and closes the connection `after` (zero: never; data is swallowed until
    /// the toxic ends, a black hole).
    pub fn timeout(after: Duration) -> Self {
        Toxic::new(Kind::Timeout { after })
    }

    /// Delays closing a connection by `delay` after its sender closed it.
    pub fn slow_close(delay: Duration) -> Self {
        Toxic::new(Kind::SlowClose { delay })
    }

    /// Closes a connection once `bytes` have gone through it (in the toxic's direction).
    pub fn limit_data(bytes: u64) -> Self {
        Toxic::new(Kind::LimitData { bytes })
    }

    /// Takes the proxy down: new connections are closed at once and open ones are closed.
    pub fn down() -> Self {
        let mut t = Toxic::new(Kind::Down);
        t.stream = Stream::Both;
        t
    }

    /// Cuts data into slices of `average_size` bytes (± `size_variation`), `delay` apart.
    pub fn slicer(average_size: usize, size_variation: usize, delay: Duration) -> Self {
        Toxic::new(Kind::Slicer {
            average: average_size,
            variation: size_variation,
            delay,
        })
    }

    /// An HTTP fault acting in the proxy on each HTTP/1.1 request of its connections: its
    /// [`toxicity`](Self::toxicity) is the share of requests it fires on, drawn per request
    /// (connection number, request number on it) from the seed. For traffic the agents do not
    /// send themselves: between the SUT and an HTTP dependency, or from another tool through
    /// `windtunnel proxy`. Narrow it with the fault's [`method`](Fault::method) and
    /// [`path`](Fault::path); the proxy sees no request names, counts or probabilities (use
    /// the toxicity). What each fault kind does:
    ///
    /// - [`delay`](Fault::delay): forwards the request that much later;
    /// - [`abort`](Fault::abort): answers with the fault's status, headers and body in the
    ///   request's place, and the upstream never sees the request;
    /// - [`hang`](Fault::hang): answers nothing, ever, on that connection (the client's timeout
    ///   ends it);
    /// - [`drop_request`](Fault::drop_request): resets the connection instead of forwarding;
    /// - [`drop_response`](Fault::drop_response): forwards the request, and resets the
    ///   connection when the answer starts to come.
    ///
    /// Connections whose bytes are not HTTP/1.x (TLS, HTTP/2, another protocol), and an
    /// upgraded or `CONNECT` connection from its upgrade on, pass unchanged.
    ///
    /// ```
    /// use windtunnel::prelude::*;
    ///
    /// let flaky_payments = Phase::new("payments flaky")
    ///     .toxic("payments", Toxic::http(Fault::abort(503).method("POST")).toxicity(0.2));
    /// # let _ = flaky_payments;
    /// ```
    pub fn http(fault: Fault) -> Self {
        Toxic::new(Kind::Http(Box::new(fault)))
    }

    /// A latency toxic's random part: a `Duration` for ±uniform jitter, or a distribution.
    pub fn jitter(mut self, jitter: impl Into<Jitter>) -> Self {
        match &mut self.kind {
            Kind::Latency { jitter: j, .. } => *j = jitter.into(),
            _ => self.misused = Some("`jitter` applies to latency toxics only"),
        }
        self
    }

    /// Acts on data from the client to the upstream.
    pub fn upstream(mut self) -> Self {
        self.stream = Stream::Up;
        self
    }

    /// Acts on data from the upstream to the client (the default).
    pub fn downstream(mut self) -> Self {
        self.stream = Stream::Down;
        self
    }

    /// Acts on both directions.
    pub fn both(mut self) -> Self {
        self.stream = Stream::Both;
        self
    }

    /// The share of connections the toxic applies to, in `0..=1`. (Default: 1.)
    pub fn toxicity(mut self, toxicity: f64) -> Self {
        self.toxicity = toxicity;
        self
    }

    /// The kind, as in reports and in the compact syntax.
    pub(crate) fn kind_name(&self) -> &'static str {
        match &self.kind {
            Kind::Latency { .. } => "latency",
            Kind::Bandwidth { .. } => "bandwidth",
            Kind::ResetPeer { .. } => "reset_peer",
            Kind::Timeout { .. } => "timeout",
            Kind::SlowClose { .. } => "slow_close",
            Kind::LimitData { .. } => "limit_data",
            Kind::Down => "down",
            Kind::Slicer { .. } => "slicer",
            Kind::Http(fault) => match fault.action {
                super::Action::Delay { .. } => "http_delay",
                super::Action::Abort { .. } => "http_abort",
                super::Action::Hang => "http_hang",
                super::Action::DropRequest => "http_drop_request",
                super::Action::DropResponse => "http_drop_response",
            },
        }
    }

    /// Why this toxic cannot be used, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if let Some(m) = self.misused {
            return Some(m.to_owned());
        }
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Some(format!("toxicity {} is outside 0..=1", self.toxicity));
        }
        match &self.kind {
            Kind::Latency { jitter, .. } => jitter.problem(),
            Kind::Http(fault) => fault.proxy_problem(),
            &Kind::Bandwidth { bytes_per_sec: 0 } => {
                Some("a bandwidth must be at least 1 KB/s (use `timeout` to stop data)".into())
            }
            &Kind::Slicer {
                average, variation, ..
            } if average == 0 || variation >= average => Some(format!(
                "a slicer needs an average size above 0 and a variation below it (got {average} \
                 ± {variation} bytes)"
            )),
            _ => None,
        }
    }
}

impl fmt::Display for Toxic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| crate::text::trim_float(d.as_secs_f64() * 1000.0);
        match &self.kind {
            &Kind::Latency { latency, jitter } => {
                write!(f, "latency {} ms{}", ms(latency), jitter.describe())?;
            }
            &Kind::Bandwidth { bytes_per_sec } => {
                write!(f, "bandwidth {} KB/s", bytes_per_sec / 1000)?;
            }
            &Kind::ResetPeer { after } => write!(f, "reset_peer after {} ms", ms(after))?,
            &Kind::Timeout { after } if after.is_zero() => write!(f, "timeout (black hole)")?,
            &Kind::Timeout { after } => write!(f, "timeout {} ms", ms(after))?,
            &Kind::SlowClose { delay } => write!(f, "slow_close {} ms", ms(delay))?,
            &Kind::LimitData { bytes } => write!(f, "limit_data {bytes} bytes")?,
            Kind::Down => write!(f, "down")?,
            &Kind::Slicer {
                average,
                variation,
                delay,
            } => write!(
                f,
                "slicer {average} ± {variation} bytes every {} ms",
                ms(delay)
            )?,
            Kind::Http(fault) => write!(f, "http {fault}")?,
        }
        if !matches!(self.kind, Kind::Down | Kind::Http(_)) {
            let dir = match self.stream {
                Stream::Up => "upstream",
                Stream::Down => "downstream",
                Stream::Both => "both ways",
            };
            write!(f, " {dir}")?;
        }
        if self.toxicity != 1.0 {
            write!(f, " toxicity={}", crate::text::trim_float(self.toxicity))?;
        }
        Ok(())
    }
}
