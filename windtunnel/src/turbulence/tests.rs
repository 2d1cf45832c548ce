//! Tests of the turbulence runtime: schedules on tokio's paused clock, statistics and
//! determinism of HTTP fault decisions, and every toxic on a real TCP connection.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::{ms, secs};

fn turbulence(phases: &[Phase], horizon: Option<Duration>, seed: u64) -> Turbulence {
    let plan = Plan::resolve(phases, horizon, &[]).expect("a valid plan");
    Turbulence::new(Arc::new(plan), Instant::now(), seed)
}

fn key(iteration: u64) -> RequestKey {
    RequestKey {
        stream: 3,
        iteration,
        request: 0,
    }
}

/// Which of 10,000 requests (iterations 0..10,000 of agent 3) a single-rule plan fires on.
fn fired(t: &Turbulence) -> Vec<bool> {
    (0..10_000)
        .map(|i| {
            let d = t.decide("list", "GET", "/products", key(i), Instant::now());
            d.action.is_some() || !d.delay.is_zero()
        })
        .collect()
}

#[tokio::test]
async fn a_probability_fires_on_its_share_of_requests() {
    let t = turbulence(
        &[Phase::new("p").fault(Fault::abort(503).probability(0.3))],
        None,
        42,
    );
    let hits = fired(&t).iter().filter(|f| **f).count();
    assert!(
        (2_800..=3_200).contains(&hits),
        "{hits} of 10,000 fired, expected 3,000 ± 200"
    );
    let report = t.ledger.report(&t.plan, secs(1), 0, &["list"]);
    assert_eq!(report.phases[0].rules[0].matched, 10_000);
    assert_eq!(report.phases[0].rules[0].injected, hits as u64);
    assert_eq!(report.faults.len(), hits);
}

#[tokio::test]
async fn a_count_is_exact_and_a_zero_probability_never_fires() {
    let t = turbulence(
        &[Phase::new("p")
            .fault(Fault::drop_request().on("list").count(3))
            .fault(Fault::delay(ms(5)).probability(0.0))],
        None,
        1,
    );
    let hits: Vec<u64> = (0..100)
        .filter(|&i| {
            t.decide("list", "GET", "/", key(i), Instant::now())
                .action
                .is_some()
        })
        .collect();
    assert_eq!(hits, vec![0, 1, 2], "the first three matching requests");
    assert!(
        t.decide("other", "GET", "/", key(0), Instant::now())
            .action
            .is_none()
    );
    let report = t.ledger.report(&t.plan, secs(1), 0, &["list", "other"]);
    assert_eq!(report.phases[0].rules[0].injected, 3);
    assert_eq!(report.phases[0].rules[1].injected, 0);
    assert_eq!(report.phases[0].rules[1].matched, 101);
}

#[tokio::test]
async fn one_seed_gives_the_same_decisions_another_seed_others() {
    let phases = [Phase::new("p").fault(
        Fault::delay(ms(100))
            .jitter(Jitter::exponential(ms(50)))
            .probability(0.2),
    )];
    let delays = |seed| -> Vec<Duration> {
        let t = turbulence(&phases, None, seed);
        (0..2_000)
            .map(|i| t.decide("list", "GET", "/", key(i), Instant::now()).delay)
            .collect()
    };
    assert_eq!(delays(7), delays(7));
    assert_ne!(delays(7), delays(8));
    // The order requests ask in does not matter: decisions are keyed by identity.
    let t = turbulence(&phases, None, 7);
    let backwards: Vec<Duration> = (0..2_000)
        .rev()
        .map(|i| t.decide("list", "GET", "/", key(i), Instant::now()).delay)
        .collect();
    let mut forwards = delays(7);
    forwards.reverse();
    assert_eq!(backwards, forwards);
}

#[tokio::test(start_paused = true)]
async fn phases_follow_their_schedule_on_the_clock() {
    // Active 10–20 s; flapping every 10 s for 2 s from 30 s; ramping 0 → 1 over 40–50 s.
    let t = turbulence(
        &[
            Phase::new("window")
                .during(secs(10)..secs(20))
                .fault(Fault::hang()),
            Phase::new("flap")
                .during(secs(30)..)
                .every(secs(10), secs(2))
                .fault(Fault::drop_request()),
            Phase::new("ramp")
                .during(secs(40)..secs(50))
                .ramp(0.0, 1.0)
                .fault(Fault::delay(ms(1))),
        ],
        Some(secs(60)),
        9,
    );
    let mut active = Vec::new();
    for s in 0..60 {
        let d = t.decide("x", "GET", "/", key(s), Instant::now());
        active.push(d.phases);
        tokio::time::advance(secs(1)).await;
    }
    let during = |bit: u64| -> Vec<usize> {
        (0..60)
            .filter(|&s| active[s] & (1 << bit) != 0)
            .collect::<Vec<_>>()
    };
    assert_eq!(during(0), (10..20).collect::<Vec<_>>());
    assert_eq!(during(1), vec![30, 31, 40, 41, 50, 51]);
    assert_eq!(during(2), (40..50).collect::<Vec<_>>());
    // The ramp: the share of requests delayed grows over the phase.
    let ramp = &t.plan.phases[2];
    assert_eq!(ramp.factor(secs(40)), Some(0.0));
    assert_eq!(ramp.factor(secs(45)), Some(0.5));
    assert_eq!(ramp.factor(secs(50)), None);
}

#[test]
fn bad_turbulence_names_the_phase_and_rule() {
    let err = |phases: &[Phase], horizon| Plan::resolve(phases, horizon, &[]).unwrap_err();
    let e = err(
        &[Phase::new("b").fault(Fault::abort(503).probability(-0.1))],
        None,
    );
    assert_eq!(
        e.to_string(),
        "turbulence phase `b`, rule `abort 503 p=-0.1`: probability -0.1 is outside 0..=1"
    );
    let e = err(
        &[Phase::new("w")
            .during(secs(20)..secs(10))
            .fault(Fault::hang())],
        None,
    );
    assert_eq!(
        e.to_string(),
        "turbulence phase `w`: the window 20 s..10 s ends before it starts"
    );
    let e = err(
        &[Phase::new("s").during_share(0.5..1.5).fault(Fault::hang())],
        Some(secs(10)),
    );
    assert!(e.reason.contains("must lie within 0..=1"), "{e}");
    let e = err(
        &[Phase::new("s").during_share(0.1..0.5).fault(Fault::hang())],
        None,
    );
    assert!(e.reason.contains("needs a load with a duration"), "{e}");
    let e = err(
        &[Phase::new("late").during(secs(30)..).fault(Fault::hang())],
        Some(secs(10)),
    );
    assert!(e.reason.contains("after the load ends"), "{e}");
    let e = err(&[Phase::new("empty")], None);
    assert!(e.reason.contains("no faults or toxics"), "{e}");
    let e = err(&[Phase::new("t").toxic("db", Toxic::latency(ms(5)))], None);
    assert_eq!(
        e.rule.as_deref(),
        Some("latency 5 ms downstream on proxy `db`")
    );
    assert!(
        e.reason.contains("no proxy is named `db` (proxies: none)"),
        "{e}"
    );
    let e = err(
        &[Phase::new("f").every(secs(5), secs(6)).fault(Fault::hang())],
        None,
    );
    assert!(e.reason.contains("`every` needs"), "{e}");
    let e = err(
        &[
            Phase::new("d").fault(Fault::hang()),
            Phase::new("d").fault(Fault::hang()),
        ],
        None,
    );
    assert!(e.reason.contains("two phases have this name"), "{e}");
    let e = err(&[Phase::new("r").ramp(0.0, 1.0).fault(Fault::hang())], None);
    assert!(e.reason.contains("a ramp needs an end"), "{e}");
    let e = err(
        &[Phase::new("r")
            .during(secs(1)..secs(2))
            .ramp(0.0, 1.5)
            .fault(Fault::hang())],
        None,
    );
    assert_eq!(e.reason, "the ramp 0..1.5 must lie within 0..=1");
    let e = err(&[Phase::new(" ").fault(Fault::hang())], None);
    assert_eq!(e.reason, "a phase needs a name");
    let many: Vec<Phase> = (0..=MAX_PHASES)
        .map(|i| Phase::new(format!("p{i}")).fault(Fault::hang()))
        .collect();
    let e = err(&many, None);
    assert_eq!(e.phase, "p64");
    assert_eq!(e.reason, "a scenario can have at most 64 phases");
}

#[test]
fn bad_toxics_say_what_is_wrong() {
    let problem = |t: Toxic| t.problem().expect("a problem");
    assert_eq!(
        problem(Toxic::bandwidth(0)),
        "a bandwidth must be at least 1 KB/s (use `timeout` to stop data)"
    );
    assert_eq!(
        problem(Toxic::slicer(10, 10, ms(1))),
        "a slicer needs an average size above 0 and a variation below it (got 10 ± 10 bytes)"
    );
    assert_eq!(
        problem(Toxic::down().jitter(ms(5))),
        "`jitter` applies to latency toxics only"
    );
    assert_eq!(
        problem(Toxic::latency(ms(5)).toxicity(-1.0)),
        "toxicity -1 is outside 0..=1"
    );
    assert_eq!(
        problem(Toxic::latency(ms(5)).jitter(Jitter::pareto(ms(1), -2.0))),
        "the Pareto shape must be a number above 0, not -2"
    );
    assert_eq!(Toxic::slicer(10, 9, ms(1)).problem(), None);
}

#[tokio::test]
async fn a_rule_that_matches_nothing_is_a_warning() {
    let t = turbulence(
        &[Phase::new("p").fault(Fault::hang().on("chekout"))],
        None,
        1,
    );
    let _ = t.decide("checkout", "GET", "/", key(0), Instant::now());
    let report = t.ledger.report(&t.plan, secs(1), 0, &["checkout"]);
    assert_eq!(
        report.warnings,
        vec!["phase `p`: rule `hang on `chekout`` matched no request (request names: checkout)"]
    );
    let late = turbulence(
        &[Phase::new("late")
            .during(secs(30)..secs(40))
            .fault(Fault::hang())],
        None,
        1,
    );
    let report = late.ledger.report(&late.plan, secs(10), 0, &[]);
    assert_eq!(
        report.warnings,
        vec!["phase `late` never started: the load ended at 10.0 s"]
    );
    assert!(report.phases[0].occurrences.is_empty());
}

/// Toxics, each observed on a real TCP connection through the proxy.
mod toxics {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// An upstream that echoes what it reads, or sends `greeting` and closes.
    async fn upstream(greeting: Option<Vec<u8>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let greeting = greeting.clone();
                tokio::spawn(async move {
                    if let Some(g) = greeting {
                        let _ = s.write_all(&g).await;
                        return;
                    }
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    /// A proxy to `upstream` with `toxic` applied for the whole run.
    async fn proxy_with(upstream: &str, toxic: Toxic) -> (Proxy, Arc<Turbulence>, impl Drop) {
        let proxy = Proxy::start("p", upstream).await.unwrap();
        let plan = Plan::resolve(
            &[Phase::new("always").toxic("p", toxic)],
            None,
            std::slice::from_ref(&proxy),
        )
        .unwrap();
        let t = Arc::new(Turbulence::new(Arc::new(plan), Instant::now(), 5));
        let guard = proxy.attach(Arc::clone(&t), 0);
        (proxy, t, guard)
    }

    /// Sends `msg` and reads until `len` bytes, EOF or an error; with the time it took.
    async fn round_trip(
        addr: std::net::SocketAddr,
        msg: &[u8],
        len: usize,
    ) -> (std::io::Result<Vec<u8>>, Duration) {
        let start = std::time::Instant::now();
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(msg).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let result = loop {
            match s.read(&mut buf).await {
                Ok(0) => break Ok(got),
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.len() >= len {
                        break Ok(got);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        (result, start.elapsed())
    }

    #[tokio::test]
    async fn without_toxics_bytes_pass_unchanged() {
        let up = upstream(None).await;
        let proxy = Proxy::start("p", up.as_str()).await.unwrap();
        let (got, _) = round_trip(proxy.addr(), b"hello", 5).await;
        assert_eq!(got.unwrap(), b"hello");
        assert_eq!(proxy.connections(), 1);
    }

    #[tokio::test]
    async fn latency_delays_the_bytes() {
        let up = upstream(None).await;
        let (proxy, t, _g) = proxy_with(&up, Toxic::latency(ms(150))).await;
        let (got, took) = round_trip(proxy.addr(), b"ping", 4).await;
        assert_eq!(got.unwrap(), b"ping");
        assert!(took >= ms(150), "took {took:?}");
        let report = t.ledger.report(&t.plan, secs(1), 0, &[]);
        assert_eq!(report.phases[0].toxics[0].applied, 1, "downstream only");
        assert_eq!(report.faults[0].direction.as_deref(), Some("downstream"));
    }

    #[tokio::test]
    async fn bandwidth_slows_the_bytes() {
        // 20 KB at 50 KB/s: at least 0.4 s.
        let up = upstream(Some(vec![7u8; 20_000])).await;
        let (proxy, _t, _g) = proxy_with(&up, Toxic::bandwidth(50)).await;
        let (got, took) = round_trip(proxy.addr(), b"go", 20_000).await;
        assert_eq!(got.unwrap().len(), 20_000);
        assert!(took >= ms(380), "took {took:?}");
    }

    #[tokio::test]
    async fn limit_data_cuts_at_the_limit() {
        let up = upstream(Some(vec![1u8; 10_000])).await;
        let (proxy, _t, _g) = proxy_with(&up, Toxic::limit_data(1_234)).await;
        let (got, _) = round_trip(proxy.addr(), b"go", usize::MAX).await;
        assert_eq!(got.unwrap().len(), 1_234);
    }

    #[tokio::test]
    async fn reset_peer_resets_the_connection() {
        let up = upstream(None).await;
        let (proxy, _t, _g) = proxy_with(&up, Toxic::reset_peer(ms(50))).await;
        let (got, took) = round_trip(proxy.addr(), b"ping", usize::MAX).await;
        let err = got.expect_err("a reset");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
        assert!(took >= ms(50), "took {took:?}");
    }

    #[tokio::test]
    async fn a_black_hole_lets_nothing_through() {
        let up = upstream(None).await;
        let (proxy, _t, _g) = proxy_with(&up, Toxic::timeout(Duration::ZERO).both()).await;
        let reply = tokio::time::timeout(ms(400), round_trip(proxy.addr(), b"ping", 4)).await;
        assert!(reply.is_err(), "no byte may arrive: {reply:?}");
    }

    #[tokio::test]
    async fn a_timeout_closes_the_connection_after_its_time() {
        let up = upstream(None).await;
        let (proxy, _t, _g) = proxy_with(&up, Toxic::timeout(ms(200))).await;
        let (got, took) = round_trip(proxy.addr(), b"ping", 4).await;
        assert!(
            got.map(|b| b.is_empty()).unwrap_or(true),
            "no data, then closed"
        );
        assert!(took >= ms(200) && took < secs(2), "took {took:?}");
    }

    #[tokio::test]
    async fn slow_close_delays_the_end() {
        let up = upstream(Some(b"bye".to_vec())).await;
        let (proxy, _t, _g) = proxy_with(&up, Toxic::slow_close(ms(300))).await;
        let (got, took) = round_trip(proxy.addr(), b"", usize::MAX).await;
        assert_eq!(got.unwrap(), b"bye");
        assert!(took >= ms(300), "the close came after {took:?}");
    }

    #[tokio::test]
    async fn down_refuses_connections() {
        let up = upstream(None).await;
        let (proxy, t, _g) = proxy_with(&up, Toxic::down()).await;
        let (got, _) = round_trip(proxy.addr(), b"ping", 4).await;
        assert!(
            got.map(|b| b.is_empty()).unwrap_or(true),
            "nothing comes back from a proxy that is down"
        );
        let report = t.ledger.report(&t.plan, secs(1), 0, &[]);
        assert_eq!(report.phases[0].toxics[0].applied, 1);
        assert_eq!(report.faults[0].direction, None);
    }

    #[tokio::test]
    async fn slicer_cuts_data_into_slices() {
        let up = upstream(Some(vec![3u8; 1_000])).await;
        let (proxy, _t, _g) = proxy_with(&up, Toxic::slicer(100, 20, ms(5))).await;
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut reads = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            reads.push(n);
        }
        assert_eq!(reads.iter().sum::<usize>(), 1_000);
        assert!(reads.len() >= 8, "slices arrive apart: {reads:?}");
        assert!(reads.iter().all(|&n| n <= 120), "{reads:?}");
    }

    #[tokio::test]
    async fn toxicity_applies_to_a_share_of_connections_keyed_by_number() {
        let up = upstream(None).await;
        let (proxy, t, _g) = proxy_with(&up, Toxic::down().toxicity(0.5)).await;
        let mut refused = Vec::new();
        for _ in 0..40 {
            let (got, _) = round_trip(proxy.addr(), b"x", 1).await;
            refused.push(got.map(|b| b.is_empty()).unwrap_or(true));
        }
        let n = refused.iter().filter(|r| **r).count();
        assert!((10..=30).contains(&n), "{n} of 40 refused");
        // The same connection numbers are refused with the same seed.
        let expected: Vec<bool> = (0..40u64)
            .map(|c| Draws::new(5, Domain::Connection, &[draw::hash_name("p"), c, 0]).unit() < 0.5)
            .collect();
        assert_eq!(refused, expected);
        drop(t);
    }

    #[tokio::test]
    async fn a_proxy_refuses_bad_settings() {
        let err = Proxy::start("p", "127.0.0.1:1").await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("proxy `p`: cannot reach its upstream `127.0.0.1:1`"),
            "{err}"
        );
        let up = upstream(None).await;
        let err = Proxy::builder("p", up.as_str())
            .listen("0.0.0.0:0".parse().unwrap())
            .start()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a loopback address"), "{err}");
        // A port already taken.
        let taken = Proxy::start("first", up.as_str()).await.unwrap();
        let err = Proxy::builder("second", up.as_str())
            .listen(taken.addr())
            .start()
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("proxy `second`: cannot listen on {}", taken.addr())
        );
    }
}
