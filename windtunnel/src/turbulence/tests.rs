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
    let report = t.report("s", secs(1), 0, &["list"]);
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
    let report = t.report("s", secs(1), 0, &["list", "other"]);
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
    let report = t.report("s", secs(1), 0, &["checkout"]);
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
    let report = late.report("s", secs(10), 0, &[]);
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
        let report = t.report("s", secs(1), 0, &[]);
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
        let report = t.report("s", secs(1), 0, &[]);
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

    /// An upstream that answers each connection with `parts`, `gap` apart, then closes.
    async fn writes(parts: Vec<Vec<u8>>, gap: Duration) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let parts = parts.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    let _ = s.read(&mut buf).await;
                    for (i, part) in parts.iter().enumerate() {
                        if i > 0 {
                            tokio::time::sleep(gap).await;
                        }
                        if s.write_all(part).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn latency_delays_each_chunk_from_its_arrival_not_each_read() {
        // 1 MiB arrives in 64 or more reads: toxiproxy's latency adds 100 ms once, not per
        // read (which took 6.9 s before).
        let mib = vec![9u8; 1 << 20];
        let up = writes(vec![mib], Duration::ZERO).await;
        let direct = {
            let addr = up.parse().unwrap();
            round_trip(addr, b"go", 1 << 20).await.1
        };
        let (proxy, _t, _g) = proxy_with(&up, Toxic::latency(ms(100))).await;
        let (got, took) = round_trip(proxy.addr(), b"go", 1 << 20).await;
        assert_eq!(got.unwrap().len(), 1 << 20);
        assert!(took >= ms(100), "took {took:?}");
        assert!(
            took < ms(100) + 2 * direct + ms(150),
            "1 MiB through 100 ms of latency took {took:?} (direct {direct:?})"
        );
        // An answer written in two writes 50 ms apart gets the latency once: about 150 ms.
        let up = writes(vec![b"one".to_vec(), b"two".to_vec()], ms(50)).await;
        let (proxy, _t, _g) = proxy_with(&up, Toxic::latency(ms(100))).await;
        let (got, took) = round_trip(proxy.addr(), b"go", 6).await;
        assert_eq!(got.unwrap(), b"onetwo");
        assert!(took >= ms(150) && took < ms(240), "took {took:?}");
    }

    #[tokio::test]
    async fn reset_peer_lets_no_byte_of_an_answer_through() {
        let up = writes(vec![b"answer".to_vec()], Duration::ZERO).await;
        let (proxy, t, _g) = proxy_with(&up, Toxic::reset_peer(Duration::ZERO)).await;
        for _ in 0..20 {
            let (got, _) = round_trip(proxy.addr(), b"ask", usize::MAX).await;
            let err = got.expect_err("every connection is reset");
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
        }
        let report = t.report("s", secs(1), 0, &[]);
        assert_eq!(report.phases[0].toxics[0].applied, 20);
        // With toxicity 0.5, the connections the ledger lists are exactly those reset, and
        // none of them got a byte.
        let (proxy, t, _g) = proxy_with(&up, Toxic::reset_peer(Duration::ZERO).toxicity(0.5)).await;
        let mut reset = Vec::new();
        for _ in 0..20 {
            match round_trip(proxy.addr(), b"ask", usize::MAX).await.0 {
                Ok(bytes) => assert_eq!(bytes, b"answer"),
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
                    reset.push(reset.len());
                }
            }
        }
        let report = t.report("s", secs(1), 0, &[]);
        let listed = report
            .faults
            .iter()
            .filter(|f| f.kind == "reset_peer")
            .count();
        assert!(
            (4..=16).contains(&reset.len()),
            "{} of 20 reset",
            reset.len()
        );
        assert_eq!(listed, reset.len(), "{:?}", report.faults);
    }

    #[tokio::test]
    async fn a_flapping_toxic_counts_each_occurrence_it_acted_in() {
        let up = upstream(None).await;
        let proxy = Proxy::start("p", up.as_str()).await.unwrap();
        let plan = Plan::resolve(
            &[Phase::new("flap")
                .every(ms(200), ms(100))
                .toxic("p", Toxic::latency(ms(1)))],
            None,
            std::slice::from_ref(&proxy),
        )
        .unwrap();
        let t = Arc::new(Turbulence::new(Arc::new(plan), Instant::now(), 5));
        let _g = proxy.attach(Arc::clone(&t), 0);
        // One connection, used in the first three occurrences (at 20, 220 and 420 ms).
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut buf = [0u8; 8];
        for at in [20, 220, 420] {
            tokio::time::sleep_until(t.origin + ms(at)).await;
            s.write_all(b"x").await.unwrap();
            s.read_exact(&mut buf[..1]).await.unwrap();
        }
        let report = t.report("s", ms(500), 0, &[]);
        assert_eq!(report.phases[0].toxics[0].applied, 3, "{:?}", report.faults);
        let tape = t.ledger.recording.tape("s", 5, &t.plan);
        let occurrences: Vec<u64> = tape.connections.iter().map(|c| c.2).collect();
        assert_eq!(occurrences, [0, 1, 2]);
    }

    #[tokio::test]
    async fn a_replayed_tape_decides_which_connections_get_a_toxic() {
        let up = upstream(None).await;
        let proxy = Proxy::start("p", up.as_str()).await.unwrap();
        let phases = [Phase::new("always").toxic("p", Toxic::down().toxicity(0.5))];
        let record = |seed| {
            let plan = Plan::resolve(&phases, None, std::slice::from_ref(&proxy)).unwrap();
            Turbulence::new(Arc::new(plan), Instant::now(), seed)
        };
        let refused = |proxy: &Proxy| {
            let addr = proxy.addr();
            async move {
                let mut refused = Vec::new();
                for _ in 0..20 {
                    let (got, _) = round_trip(addr, b"x", 1).await;
                    refused.push(got.map(|b| b.is_empty()).unwrap_or(true));
                }
                refused
            }
        };
        let original = Arc::new(record(5));
        let g = proxy.attach(Arc::clone(&original), 0);
        let first = refused(&proxy).await;
        drop(g);
        let tape = original.ledger.recording.tape("s", 5, &original.plan);
        assert_eq!(tape.connections.len(), first.iter().filter(|r| **r).count());
        // Another proxy (its connections numbered from 0 again) replaying the tape under
        // another seed: the tape, not the seed, decides.
        let again = Proxy::start("p", up.as_str()).await.unwrap();
        let plan = Plan::resolve(&phases, None, std::slice::from_ref(&again)).unwrap();
        let replaying = super::super::Replaying::new(&tape, "s", &plan).unwrap();
        let replay =
            Arc::new(Turbulence::new(Arc::new(plan), Instant::now(), 6).replaying(replaying));
        let _g = again.attach(Arc::clone(&replay), 0);
        assert_eq!(refused(&again).await, first);
        let replayed = replay.ledger.recording.tape("s", 5, &replay.plan);
        assert!(tape.diff(&replayed).matches(), "{:?}", tape.diff(&replayed));
    }

    #[tokio::test]
    async fn a_taped_toxic_acts_on_its_connection_even_when_the_replay_is_late() {
        let up = upstream(None).await;
        let proxy = Proxy::start("p", up.as_str()).await.unwrap();
        let phases = [Phase::new("early")
            .during(Duration::ZERO..ms(100))
            .toxic("p", Toxic::latency(ms(80)))];
        let plan = Plan::resolve(&phases, None, std::slice::from_ref(&proxy)).unwrap();
        // The original run used connection 0 in the window.
        let tape = Tape {
            connections: vec![TapedConnection(0, 0, 0, Some(TapedDirection::Downstream))],
            ..Turbulence::new(
                Arc::new(Plan::resolve(&phases, None, std::slice::from_ref(&proxy)).unwrap()),
                Instant::now(),
                5,
            )
            .ledger
            .recording
            .tape("s", 5, &plan)
        };
        let replaying = super::super::Replaying::new(&tape, "s", &plan).unwrap();
        let t = Arc::new(Turbulence::new(Arc::new(plan), Instant::now(), 5).replaying(replaying));
        let _g = proxy.attach(Arc::clone(&t), 0);
        // The replay's connection 0 carries its first data after the window: the taped
        // latency still acts on it, once; connection 1, not on the tape, gets none.
        tokio::time::sleep(ms(150)).await;
        let (got, took) = round_trip(proxy.addr(), b"late", 4).await;
        assert_eq!(got.unwrap(), b"late");
        assert!(took >= ms(80), "took {took:?}");
        let (_, took) = round_trip(proxy.addr(), b"next", 4).await;
        assert!(took < ms(60), "took {took:?}");
        let replayed = t.ledger.recording.tape("s", 5, &t.plan);
        assert!(tape.diff(&replayed).matches(), "{:?}", replayed.connections);
    }

    #[tokio::test]
    async fn an_upstream_that_dies_or_refuses_ends_the_client_connection_at_once() {
        // The upstream reads the request and closes without an answer (as a killed process
        // would): the client sees the end at once, not after its own timeout.
        let up = writes(vec![], Duration::ZERO).await;
        let proxy = Proxy::start("p", up.as_str()).await.unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(secs(1), s.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
        // An upstream that is gone: the client is reset at once.
        let gone = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap().to_string();
            let proxy = Proxy::start("p", addr.as_str()).await.unwrap();
            drop(l);
            proxy
        };
        let (got, took) = round_trip(gone.addr(), b"x", 1).await;
        assert!(got.map(|b| b.is_empty()).unwrap_or(true));
        assert!(took < secs(1), "took {took:?}");
        // An upstream whose listening socket is still open but no longer accepts (a process
        // dying, or frozen): its backlog full, a connection to it would wait in SYN-SENT for
        // minutes. The proxy gives up after its connect timeout and resets the client.
        let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = stuck.local_addr().unwrap();
        let proxy = Proxy::start("p", addr.to_string()).await.unwrap();
        let mut backlog = Vec::new();
        while let Ok(s) = std::net::TcpStream::connect_timeout(&addr, ms(200)) {
            backlog.push(s);
            assert!(backlog.len() < 10_000, "the backlog never filled");
        }
        let (got, took) = round_trip(proxy.addr(), b"x", 1).await;
        assert!(got.map(|b| b.is_empty()).unwrap_or(true));
        assert!(
            took >= ms(1500) && took < ms(3500),
            "the client waited {took:?} for an upstream that does not accept"
        );
        drop(stuck);
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

/// HTTP toxics, observed through the proxy's HTTP stage with a real HTTP client (reqwest) and
/// with raw bytes for what clients rarely do (pipelining, chunked bodies).
mod http_toxics {
    use super::*;
    use std::sync::Mutex;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    /// A keep-alive HTTP/1.1 server that answers `METHOD PATH BODY-LENGTH` (chunked for
    /// `/chunked`), and lists the requests it saw.
    async fn server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let (r, mut w) = s.into_split();
                    let mut r = BufReader::new(r);
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let (method, path) = (
                            parts.next().unwrap_or("").to_owned(),
                            parts.next().unwrap_or("").to_owned(),
                        );
                        let (mut length, mut chunked) = (0usize, false);
                        loop {
                            let mut h = String::new();
                            r.read_line(&mut h).await.unwrap();
                            let h = h.trim_end().to_ascii_lowercase();
                            if h.is_empty() {
                                break;
                            }
                            if let Some(v) = h.strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap();
                            }
                            chunked |= h == "transfer-encoding: chunked";
                        }
                        let mut body = Vec::new();
                        if chunked {
                            loop {
                                let mut size = String::new();
                                r.read_line(&mut size).await.unwrap();
                                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                                let mut chunk = vec![0u8; n + 2];
                                r.read_exact(&mut chunk).await.unwrap();
                                if n == 0 {
                                    break;
                                }
                                body.extend_from_slice(&chunk[..n]);
                            }
                        } else {
                            body.resize(length, 0);
                            r.read_exact(&mut body).await.unwrap();
                        }
                        log.lock().unwrap().push(path.clone());
                        let answer = if path == "/chunked" {
                            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n/chu\r\n4\r\nnked\r\n0\r\n\r\n".to_owned()
                        } else {
                            let text = format!("{method} {path} {}", body.len());
                            let body = if method == "HEAD" { "" } else { text.as_str() };
                            format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                text.len()
                            )
                        };
                        if w.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, seen)
    }

    fn client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder().timeout(secs(5)).build().unwrap()
    }

    async fn http_proxy(upstream: &str, toxics: &[(&str, Toxic)], seed: u64) -> Proxy {
        let proxy = Proxy::builder("p", upstream).http().start().await.unwrap();
        let toxics: Vec<(String, Toxic)> = toxics
            .iter()
            .map(|(n, t)| ((*n).to_owned(), t.clone()))
            .collect();
        proxy.set_toxics(&toxics, seed).unwrap();
        proxy
    }

    /// The statuses of `n` GETs of `/n` in turn (0 for a failed request).
    async fn statuses(proxy: &Proxy, n: usize) -> Vec<u16> {
        let client = client();
        let mut out = Vec::new();
        for i in 0..n {
            let url = format!("http://{}/{i}", proxy.addr());
            out.push(
                client
                    .get(url)
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16()),
            );
        }
        out
    }

    #[tokio::test]
    async fn an_http_toxic_acts_per_request_on_one_kept_alive_connection() {
        let (up, seen) = server().await;
        let busy = Toxic::http(Fault::abort(503).body("busy")).toxicity(0.5);
        let proxy = http_proxy(&up, &[("busy", busy.clone())], 7).await;
        let got = statuses(&proxy, 200).await;
        let aborted = got.iter().filter(|s| **s == 503).count();
        assert_eq!(
            got.iter().filter(|s| **s == 200).count() + aborted,
            200,
            "{got:?}"
        );
        assert!((60..=140).contains(&aborted), "{aborted} of 200 aborted");
        assert_eq!(proxy.connections(), 1, "one kept-alive connection");
        // The upstream saw exactly the requests that were not aborted.
        let passed: Vec<String> = (0..200)
            .filter(|&i| got[i] == 200)
            .map(|i| format!("/{i}"))
            .collect();
        assert_eq!(*seen.lock().unwrap(), passed);
        let tape = proxy.tape();
        assert_eq!(tape.exchanges.len(), aborted);
        assert!(tape.exchanges.iter().all(|x| x.1 == 0), "connection 0");
        // The seed decides: the same seed, the same requests; another, others.
        let (up2, _) = server().await;
        let again = http_proxy(&up2, &[("busy", busy.clone())], 7).await;
        assert_eq!(statuses(&again, 200).await, got);
        let (up3, _) = server().await;
        let other = http_proxy(&up3, &[("busy", busy)], 8).await;
        assert_ne!(statuses(&other, 200).await, got);
    }

    #[tokio::test]
    async fn a_taped_http_toxic_acts_on_exactly_the_taped_requests() {
        let (up, _) = server().await;
        let proxy = Proxy::builder("p", up.as_str())
            .http()
            .start()
            .await
            .unwrap();
        let phases =
            [Phase::new("always").toxic("p", Toxic::http(Fault::abort(500)).toxicity(0.3))];
        let plan = Plan::resolve(&phases, None, std::slice::from_ref(&proxy)).unwrap();
        let original = Arc::new(Turbulence::new(Arc::new(plan), Instant::now(), 3));
        let g = proxy.attach(Arc::clone(&original), 0);
        let first = statuses(&proxy, 50).await;
        drop(g);
        let tape = original.ledger.recording.tape("s", 3, &original.plan);
        assert_eq!(
            tape.exchanges.len(),
            first.iter().filter(|s| **s == 500).count()
        );
        assert!(!tape.exchanges.is_empty());
        // Replayed under another seed on a fresh proxy: the tape decides.
        let (up, _) = server().await;
        let again = Proxy::builder("p", up.as_str()).start().await.unwrap();
        let plan = Plan::resolve(&phases, None, std::slice::from_ref(&again)).unwrap();
        let replaying = super::super::Replaying::new(&tape, "s", &plan).unwrap();
        let replay =
            Arc::new(Turbulence::new(Arc::new(plan), Instant::now(), 99).replaying(replaying));
        let _g = again.attach(Arc::clone(&replay), 0);
        assert_eq!(statuses(&again, 50).await, first);
        let replayed = replay.ledger.recording.tape("s", 3, &replay.plan);
        assert!(tape.diff(&replayed).matches(), "{:?}", tape.diff(&replayed));
        let report = replay.report("s", secs(1), 0, &[]);
        assert_eq!(report.phases[0].toxics[0].kind, "http_abort");
        let first_aborted = first.iter().position(|s| *s == 500).unwrap();
        assert_eq!(
            report.faults[0].detail.as_deref(),
            Some(format!("GET /{first_aborted}").as_str())
        );
        assert_eq!(report.faults[0].request_number, Some(first_aborted as u64));
    }

    /// Writes `requests` at once on one connection and reads until `last` came, or EOF.
    async fn pipelined(addr: std::net::SocketAddr, requests: &str, last: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(requests.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).ends_with(last) {
            match tokio::time::timeout(secs(3), s.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) | Err(_) => break,
                Ok(Ok(k)) => got.extend_from_slice(&buf[..k]),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test]
    async fn pipelined_requests_get_their_answers_in_order_with_chunked_bodies_framed() {
        let (up, seen) = server().await;
        let abort = Toxic::http(Fault::abort(503).body("busy").method("POST").path("/b"));
        let proxy = http_proxy(&up, &[("b", abort)], 1).await;
        let requests = "GET /a HTTP/1.1\r\nhost: x\r\n\r\n\
             POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello\
             POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
             GET /chunked HTTP/1.1\r\nhost: x\r\n\r\n\
             HEAD /d HTTP/1.1\r\nhost: x\r\n\r\n\
             GET /e HTTP/1.1\r\nhost: x\r\n\r\n";
        let got = pipelined(proxy.addr(), requests, "GET /e 0").await;
        let answers: Vec<&str> = got.split("HTTP/1.1 ").skip(1).collect();
        assert_eq!(answers.len(), 6, "{got:?}");
        assert!(answers[0].ends_with("\r\n\r\nGET /a 0"), "{got:?}");
        assert!(
            answers[1].starts_with("503 ") && answers[1].ends_with("busy"),
            "{got:?}"
        );
        assert!(answers[2].ends_with("POST /c 5"), "{got:?}");
        assert!(
            answers[3].ends_with("4\r\n/chu\r\n4\r\nnked\r\n0\r\n\r\n"),
            "{got:?}"
        );
        assert!(
            answers[4].ends_with("\r\n\r\n"),
            "a HEAD answer has no body: {got:?}"
        );
        assert!(answers[5].ends_with("GET /e 0"), "{got:?}");
        assert_eq!(*seen.lock().unwrap(), ["/a", "/c", "/chunked", "/d", "/e"]);
    }

    #[tokio::test]
    async fn drop_hang_and_delay_toxics_act_as_the_client_side_faults_do() {
        let (up, seen) = server().await;
        let proxy = http_proxy(
            &up,
            &[
                (
                    "dropreq",
                    Toxic::http(Fault::drop_request().path("/dropreq")),
                ),
                (
                    "dropresp",
                    Toxic::http(Fault::drop_response().path("/dropresp")),
                ),
                ("hang", Toxic::http(Fault::hang().path("/hang"))),
                ("slow", Toxic::http(Fault::delay(ms(150)).path("/slow"))),
            ],
            1,
        )
        .await;
        let client = client();
        let url = |p: &str| format!("http://{}{p}", proxy.addr());
        let err = client.get(url("/dropreq")).send().await.unwrap_err();
        assert!(!err.is_timeout(), "{err}");
        let err = client.get(url("/dropresp")).send().await.unwrap_err();
        assert!(!err.is_timeout(), "{err}");
        let err = client
            .get(url("/hang"))
            .timeout(ms(300))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        let start = std::time::Instant::now();
        let ok = client.get(url("/slow")).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        assert!(start.elapsed() >= ms(150), "took {:?}", start.elapsed());
        // The upstream saw the dropped answer's request and the delayed one, no other.
        assert_eq!(*seen.lock().unwrap(), ["/dropresp", "/slow"]);
        let kinds: Vec<String> = proxy.tape().toxics;
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        assert_eq!(proxy.tape().exchanges.len(), 4);
    }

    #[tokio::test]
    async fn byte_toxics_still_act_on_the_answers_of_http_toxics() {
        let (up, _) = server().await;
        let proxy = http_proxy(
            &up,
            &[
                ("busy", Toxic::http(Fault::abort(503))),
                ("slow", Toxic::latency(ms(150))),
            ],
            1,
        )
        .await;
        let start = std::time::Instant::now();
        assert_eq!(statuses(&proxy, 1).await, [503]);
        assert!(start.elapsed() >= ms(150), "took {:?}", start.elapsed());
    }

    #[tokio::test]
    async fn bytes_that_are_not_http_pass_an_http_proxy_unchanged() {
        // A client-first protocol whose message looks like the start of a request line.
        let echo = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        let mut buf = [0u8; 64];
                        while let Ok(n) = s.read(&mut buf).await {
                            if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            addr
        };
        let proxy = http_proxy(&echo, &[("busy", Toxic::http(Fault::abort(503)))], 1).await;
        for msg in [&b"hello"[..], b"\x00\x00\x00\x08\x04\x12\x16/", b"PING\r\n"] {
            let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
            s.write_all(msg).await.unwrap();
            let mut got = vec![0u8; msg.len()];
            tokio::time::timeout(secs(2), s.read_exact(&mut got))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got, msg);
        }
        // A server-first protocol: its greeting comes before the client says anything.
        let greeter = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = listener.accept().await {
                    let _ = s.write_all(b"220 ready\r\n").await;
                    let mut buf = [0u8; 64];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let _ = s.write_all(&buf[..n]).await;
                }
            });
            addr
        };
        let proxy = http_proxy(&greeter, &[("busy", Toxic::http(Fault::abort(503)))], 1).await;
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut got = [0u8; 11];
        tokio::time::timeout(secs(2), s.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got, b"220 ready\r\n");
        s.write_all(b"QUIT\r\n").await.unwrap();
        let mut got = [0u8; 6];
        tokio::time::timeout(secs(2), s.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got, b"QUIT\r\n");
        assert_eq!(proxy.tape().exchanges.len(), 0);
    }

    #[test]
    fn http_toxics_refuse_what_a_proxy_cannot_see() {
        let problem = |t: Toxic| t.problem().expect("a problem");
        assert!(
            problem(Toxic::http(Fault::abort(503).on("checkout"))).contains("no request names")
        );
        assert!(problem(Toxic::http(Fault::abort(503).probability(0.5))).contains("toxicity"));
        assert!(problem(Toxic::http(Fault::abort(503).count(2))).contains("no count"));
        assert!(
            problem(Toxic::http(Fault::abort(503).header("Content-Length", "3")))
                .contains("sets `Content-Length` itself")
        );
        assert!(problem(Toxic::http(Fault::abort(700))).contains("outside 100..=599"));
        assert_eq!(
            Toxic::http(Fault::abort(503).method("post").path("/cart*"))
                .toxicity(0.2)
                .to_string(),
            "http abort 503 POST /cart* toxicity=0.2"
        );
    }
}
