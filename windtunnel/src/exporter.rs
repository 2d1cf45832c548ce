//! Live metrics for dashboards during long runs: `--metrics ADDR` serves
//! `http://ADDR/metrics` in Prometheus' text format (version 0.0.4), from the recorders of the
//! loads this process has started.
//!
//! Exported, with the labels `scenario` and `segment` (`1/1` for a whole load):
//! - `windtunnel_requests_total` and `windtunnel_request_errors_total`, per request name;
//! - `windtunnel_request_duration_seconds`, a histogram of service time per request name, with
//!   fixed buckets from 1 ms to 60 s, read from the run's HDR histograms (3 significant digits);
//! - `windtunnel_iterations_total` per agent and outcome (`completed`, `failed`, `panicked`);
//! - `windtunnel_active_agents`, the agents in an iteration at the last sample (every 20 ms).
//!
//! The server is a plain thread with a blocking listener, and a thread per client: a scrape
//! every few seconds needs nothing more, and it stays out of the load's runtime. At most
//! [`MAX_CLIENTS`] clients are served at once (more are closed at once), and each must send its
//! request within [`REQUEST_DEADLINE`] in all, so a slow or silent client cannot hold the
//! endpoint. Each scrape merges the recorder's shards, as the end of a run does; recording goes
//! on meanwhile.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::metrics::Recorder;
use crate::segment::Segment;

/// The upper bounds of the latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How many clients are served at once. (Default: 16.)
pub(crate) const MAX_CLIENTS: usize = 16;
/// How long a client has to send its whole request, and to take the answer. (Default: 2 s.)
pub(crate) const REQUEST_DEADLINE: Duration = Duration::from_secs(2);

/// The loads to export, by scenario; `None` until [`serve`] is called.
static LIVE: OnceLock<Mutex<Vec<Watched>>> = OnceLock::new();

struct Watched {
    scenario: String,
    segment: Segment,
    recorder: Recorder,
}

/// Binds `addr` and serves `/metrics` from a thread of its own until the process ends;
/// returns the bound address (with the port, if `addr` asked for port 0).
pub(crate) fn serve(addr: SocketAddr) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    LIVE.get_or_init(Mutex::default);
    std::thread::Builder::new()
        .name("windtunnel-metrics".into())
        .spawn(move || {
            let clients = Arc::new(AtomicUsize::new(0));
            for stream in listener.incoming().flatten() {
                if clients.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
                    clients.fetch_sub(1, Ordering::SeqCst);
                    tracing::debug!("metrics: too many clients at once; one closed");
                    continue;
                }
                let clients = Arc::clone(&clients);
                let spawned = std::thread::Builder::new()
                    .name("windtunnel-metrics-client".into())
                    .spawn(move || {
                        if let Err(e) = answer(stream) {
                            tracing::debug!(error = %e, "metrics scrape failed");
                        }
                        clients.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    tracing::debug!("metrics: cannot start a thread for a client");
                }
            }
        })?;
    Ok(bound)
}

/// Exports `recorder` as the load of `scenario` (replacing an earlier one of that name, as a
/// capacity search does at each step), if metrics are served.
pub(crate) fn watch(scenario: &str, segment: Segment, recorder: &Recorder) {
    let Some(live) = LIVE.get() else { return };
    let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|w| w.scenario != scenario);
    live.push(Watched {
        scenario: scenario.to_owned(),
        segment,
        recorder: recorder.clone(),
    });
}

fn answer(mut stream: TcpStream) -> io::Result<()> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    stream.set_write_timeout(Some(REQUEST_DEADLINE))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        // The deadline is for the whole request: a byte now and then does not extend it.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not send its request in time",
            ));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, kind, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", render()),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "windtunnel serves its metrics at /metrics\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET /metrics\n".to_owned(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// A label value, escaped as the text format wants.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The `# HELP` and `# TYPE` lines of a metric.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The metrics of every watched load, in the text format.
pub(crate) fn render() -> String {
    let watched: Vec<(String, Segment, Recorder)> = match LIVE.get() {
        Some(live) => live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|w| (w.scenario.clone(), w.segment, w.recorder.clone()))
            .collect(),
        None => Vec::new(),
    };
    let snapshots: Vec<_> = watched
        .into_iter()
        .map(|(name, segment, r)| {
            let labels = format!("scenario=\"{}\",segment=\"{segment}\"", escape(&name));
            (labels, r.active_now(), r.snapshot())
        })
        .collect();
    let mut out = String::new();
    family(
        &mut out,
        "windtunnel_requests_total",
        "counter",
        "Requests completed (with a response or an error), by request name.",
    );
    for (labels, _, snap) in &snapshots {
        for (request, m) in &snap.requests {
            let _ = writeln!(
                out,
                "windtunnel_requests_total{{{labels},request=\"{}\"}} {}",
                escape(request),
                m.count
            );
        }
    }
    family(
        &mut out,
        "windtunnel_request_errors_total",
        "counter",
        "Failed requests: transport errors and statuses the request did not accept.",
    );
    for (labels, _, snap) in &snapshots {
        for (request, m) in &snap.requests {
            let _ = writeln!(
                out,
                "windtunnel_request_errors_total{{{labels},request=\"{}\"}} {}",
                escape(request),
                m.failed
            );
        }
    }
    family(
        &mut out,
        "windtunnel_request_duration_seconds",
        "histogram",
        "Service time of requests, failed ones included.",
    );
    for (labels, _, snap) in &snapshots {
        for (request, m) in &snap.requests {
            let labels = format!("{labels},request=\"{}\"", escape(request));
            let h = &m.histogram;
            let mut values = h.iter_recorded().peekable();
            let mut below = 0u64;
            for le in BUCKETS {
                let limit = (le * 1e6) as u64;
                // A value's bucket counts below `le` when it starts at or below it: exact to
                // the histogram's 3 significant digits.
                while let Some(v) =
                    values.next_if(|v| h.lowest_equivalent(v.value_iterated_to()) <= limit)
                {
                    below += v.count_at_value();
                }
                let _ = writeln!(
                    out,
                    "windtunnel_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {below}"
                );
            }
            let sum = h.mean() * h.len() as f64 / 1e6;
            let _ = writeln!(
                out,
                "windtunnel_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {n}\n\
                 windtunnel_request_duration_seconds_sum{{{labels}}} {sum}\n\
                 windtunnel_request_duration_seconds_count{{{labels}}} {n}",
                n = h.len()
            );
        }
    }
    family(
        &mut out,
        "windtunnel_iterations_total",
        "counter",
        "Agent iterations, by agent and outcome.",
    );
    for (labels, _, snap) in &snapshots {
        for (agent, it) in &snap.iterations {
            for (outcome, n) in [
                ("completed", it.completed),
                ("failed", it.failed),
                ("panicked", it.panicked),
            ] {
                let _ = writeln!(
                    out,
                    "windtunnel_iterations_total{{{labels},agent=\"{}\",outcome=\"{outcome}\"}} {n}",
                    escape(agent)
                );
            }
        }
    }
    family(
        &mut out,
        "windtunnel_active_agents",
        "gauge",
        "Agents in an iteration at the last sample.",
    );
    for (labels, active, _) in &snapshots {
        let _ = writeln!(out, "windtunnel_active_agents{{{labels}}} {active}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Outcome;

    #[test]
    fn serves_counts_buckets_and_agents_in_the_text_format() {
        let addr = serve(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let recorder = Recorder::new();
        for ms in [2, 3, 40, 700] {
            recorder.record("list \"all\"", Duration::from_millis(ms), Outcome::Ok);
        }
        recorder.record(
            "list \"all\"",
            Duration::from_millis(5),
            Outcome::Failed {
                kind: crate::ErrorKind::Timeout,
                message: &|| "timed out".to_owned(),
            },
        );
        recorder.active_agents(tokio::time::Instant::now(), 3);
        watch("shop", Segment::new(2, 3).unwrap(), &recorder);

        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
        let l = r#"scenario="shop",segment="2/3",request="list \"all\"""#;
        for line in [
            format!("windtunnel_requests_total{{{l}}} 5"),
            format!("windtunnel_request_errors_total{{{l}}} 1"),
            format!("windtunnel_request_duration_seconds_bucket{{{l},le=\"0.001\"}} 0"),
            format!("windtunnel_request_duration_seconds_bucket{{{l},le=\"0.005\"}} 3"),
            format!("windtunnel_request_duration_seconds_bucket{{{l},le=\"0.05\"}} 4"),
            format!("windtunnel_request_duration_seconds_bucket{{{l},le=\"1\"}} 5"),
            format!("windtunnel_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} 5"),
            format!("windtunnel_request_duration_seconds_count{{{l}}} 5"),
            r#"windtunnel_active_agents{scenario="shop",segment="2/3"} 3"#.to_owned(),
            "# TYPE windtunnel_request_duration_seconds histogram".to_owned(),
        ] {
            assert!(text.lines().any(|t| t == line), "no `{line}` in\n{text}");
        }

        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    }

    #[test]
    fn slow_and_silent_clients_do_not_block_a_scrape() {
        let addr = serve(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        // Clients that trickle a byte now and then, and clients that send nothing.
        let mut held = Vec::new();
        for i in 0..(2 * MAX_CLIENTS) {
            let mut s = TcpStream::connect(addr).unwrap();
            if i % 2 == 0 {
                s.write_all(b"G").unwrap();
            }
            held.push(s);
        }
        let trickler = {
            let mut s = TcpStream::connect(addr).unwrap();
            std::thread::spawn(move || {
                for b in b"GET /metrics" {
                    if s.write_all(&[*b]).is_err() {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
                let mut rest = String::new();
                // The server gave up on it before it finished its request.
                s.read_to_string(&mut rest)
                    .map_or(true, |_| rest.is_empty())
            })
        };
        // Once the held clients' deadline has passed, a scrape is answered.
        let start = Instant::now();
        let text = loop {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\n\r\n");
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            if text.starts_with("HTTP/1.1 200 OK") || start.elapsed() > Duration::from_secs(10) {
                break text;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text:?}");
        assert!(
            start.elapsed() < REQUEST_DEADLINE + Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(trickler.join().unwrap(), "the trickling client was served");
        drop(held);
    }
}
