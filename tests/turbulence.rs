//! Turbulence against the demo shop on loopback: HTTP faults fire on their share of requests and
//! are reported apart from the SUT's own failures, one seed replays the same fault decisions,
//! objectives can be scoped to a phase and to the recovery after it, toxics act through the
//! proxy, and bad turbulence is refused before any request.

use std::collections::BTreeSet;

use demo_shop::ShopConfig;
use windtunnel::ScenarioError;
use windtunnel::prelude::*;
use windtunnel::report::LoadReport;

/// One load at a time: timing-sensitive loads on 2 cores would skew each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[agent]
async fn browse(a: &mut Agent) -> Result<()> {
    a.get("/products").name("list").send().await?;
    Ok(())
}

#[agent]
async fn shop_and_buy(a: &mut Agent) -> Result<()> {
    a.get("/products").name("list").send().await?;
    a.get("/products/1").name("product").send().await?;
    // No cart: the shop answers 409, which counts as a success here.
    a.post("/checkout")
        .name("checkout")
        .accept_status(409)
        .send()
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_fires_on_its_share_of_10000_requests_and_is_counted_apart() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let shop = demo_shop::spawn(ShopConfig::instant()).await.unwrap();
    let report = Scenario::new("share")
        .seed(11)
        .target(shop.url())
        .agents([browse])
        .users(4)
        .iterations(2_500)
        .turbulence(
            Phase::new("errors").fault(
                Fault::abort(503)
                    .header("retry-after", "1")
                    .probability(0.3),
            ),
        )
        .run()
        .await
        .unwrap();
    assert_eq!(report.total.count, 10_000);
    let t = report.turbulence.as_ref().expect("a turbulence report");
    let rule = &t.phases[0].rules[0];
    assert_eq!(rule.matched, 10_000);
    let share = rule.injected as f64 / 10_000.0;
    assert!((0.28..=0.32).contains(&share), "injected share {share}");
    // Every failure is an injected one: the shop itself failed nothing.
    assert_eq!(report.total.failed, rule.injected);
    assert_eq!(report.total.statuses.get("503"), Some(&rule.injected));
    assert_eq!(t.injected_failures, rule.injected);
    assert_eq!(t.sut_failures, 0);
    assert_eq!(t.phases[0].requests, 10_000);
    assert_eq!(t.phases[0].sut_failures, 0);
    assert_eq!(t.faults.len() as u64, rule.injected);
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}

/// The HTTP fault decisions of a run: who got which fault, by logical identity.
fn decisions(report: &LoadReport) -> BTreeSet<String> {
    report
        .turbulence
        .as_ref()
        .unwrap()
        .faults
        .iter()
        .map(|f| {
            format!(
                "agent {:?} iteration {:?} request {:?}: {} {}",
                f.agent,
                f.iteration,
                f.request_number,
                f.fault,
                f.detail.as_deref().unwrap_or("")
            )
        })
        .collect()
}

async fn faulty_run(url: &str, seed: u64) -> LoadReport {
    Scenario::new("replay")
        .seed(seed)
        .target(url)
        .agents([shop_and_buy])
        .users(3)
        .iterations(100)
        .turbulence(
            Phase::new("mixed")
                .fault(
                    Fault::delay(ms(1))
                        .jitter(Jitter::exponential(ms(2)))
                        .probability(0.1),
                )
                .fault(Fault::drop_response().on("checkout").probability(0.1))
                .fault(Fault::drop_request().on("product").probability(0.05)),
        )
        .run()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_seed_replays_the_same_fault_decisions() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let shop = demo_shop::spawn(ShopConfig::instant()).await.unwrap();
    let first = faulty_run(&shop.url(), 5).await;
    let again = faulty_run(&shop.url(), 5).await;
    let other = faulty_run(&shop.url(), 6).await;
    let (a, b, c) = (decisions(&first), decisions(&again), decisions(&other));
    assert!(a.len() > 30, "{a:?}");
    assert_eq!(a, b, "the same seed gives the same decisions");
    assert_ne!(a, c, "another seed gives others");
    // Dropped responses are the only failures, and counted as injected.
    let t = first.turbulence.as_ref().unwrap();
    let dropped = &t.phases[0].rules[1];
    assert!(dropped.injected > 0);
    assert_eq!(
        first.request("checkout").unwrap().failed,
        dropped.injected,
        "every failed checkout is a dropped response"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objectives_are_judged_during_a_phase_and_after_it() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let shop = demo_shop::spawn(ShopConfig::instant()).await.unwrap();
    let report = Scenario::new("brownout")
        .seed(3)
        .target(shop.url())
        .agents([browse])
        .users(4)
        .duration(secs(5))
        .turbulence(
            Phase::new("brownout")
                .during(secs(1)..secs(3))
                .fault(Fault::delay(ms(200)).on("list")),
        )
        .slo(p99("list").below(ms(100)).during("brownout"))
        .slo(p99("list").below(ms(100)).after("brownout", ms(500)))
        .slo(error_rate().below(0.01).after("brownout", ms(500)))
        .run()
        .await
        .unwrap();
    let [during, after, errors] = &report.objectives[..] else {
        panic!("{:?}", report.objectives)
    };
    assert!(!during.passed, "the brownout's delay shows: {during:?}");
    assert!(during.actual.unwrap() >= 200.0, "{during:?}");
    let window = during.window.as_ref().unwrap();
    assert_eq!(window.phase.as_deref(), Some("brownout"));
    assert_eq!((window.from_s, window.to_s), (1.0, 3.0));
    assert!(after.passed, "recovered after it: {after:?}");
    let window = after.window.as_ref().unwrap();
    assert_eq!(window.after_s, Some(0.5));
    assert_eq!(window.from_s, 3.5);
    assert!(errors.passed, "{errors:?}");
    let phase = &report.turbulence.as_ref().unwrap().phases[0];
    assert_eq!(phase.occurrences, vec![[1.0, 3.0]]);
    assert!(phase.requests > 0 && phase.rules[0].injected == phase.rules[0].matched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_act_through_the_proxy_and_the_load_recovers() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let shop = demo_shop::spawn(ShopConfig::instant()).await.unwrap();
    let report = Scenario::new("outage")
        .seed(8)
        .target(shop.url())
        .agents([browse])
        .users(2)
        .duration(secs(4))
        .request_timeout(secs(1))
        .through_proxy()
        .turbulence(
            Phase::new("outage")
                .during(secs(1)..secs(2))
                .toxic("target", Toxic::down()),
        )
        .turbulence(
            Phase::new("slow")
                .during(secs(2)..secs(3))
                .toxic("target", Toxic::latency(ms(50))),
        )
        .slo(error_rate().below(0.01).after("outage", ms(300)))
        .slo(p50("list").below(ms(50)).during("slow"))
        .run()
        .await
        .unwrap();
    let t = report.turbulence.as_ref().unwrap();
    let outage = &t.phases[0];
    assert!(outage.toxics[0].applied > 0, "{outage:?}");
    assert!(
        outage.failed > 0,
        "requests failed while the proxy was down"
    );
    assert_eq!(
        outage.injected_failures, 0,
        "network faults are not HTTP faults"
    );
    let [recovered, slow] = &report.objectives[..] else {
        panic!("{:?}", report.objectives)
    };
    assert!(!slow.passed, "50 ms of latency shows: {slow:?}");
    assert!(
        recovered.actual.is_some(),
        "the load went on after the outage: {recovered:?}"
    );
    assert!(report.total.count > outage.requests, "{report:?}");
}

#[tokio::test]
async fn bad_turbulence_is_refused_before_any_request() {
    let shop = demo_shop::spawn(ShopConfig::instant()).await.unwrap();
    let base = || {
        Scenario::new("bad")
            .target(shop.url())
            .agents([browse])
            .users(1)
            .duration(secs(10))
    };
    let err = base()
        .turbulence(Phase::new("p").fault(Fault::hang().probability(2.0)))
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "scenario `bad`: turbulence phase `p`, rule `hang p=2`: probability 2 is outside 0..=1"
    );
    let err = base()
        .turbulence(Phase::new("p").toxic("db", Toxic::down()))
        .run()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no proxy is named `db` (proxies: none)"),
        "{err}"
    );
    let err = base()
        .turbulence(Phase::new("p").fault(Fault::hang()))
        .slo(error_rate().below(0.1).after("q", secs(1)))
        .run()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no turbulence phase named `q` (phases: `p`)"),
        "{err}"
    );
    let err = base()
        .turbulence(Phase::new("p").fault(Fault::hang()))
        .slo(error_rate().below(0.1).during("nope"))
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("(it has: phase `p`)"), "{err}");
    let err = Scenario::new("bad")
        .target(shop.url())
        .agents([browse])
        .load(Load::ramping_users([stage(secs(1), 1).named("p")]))
        .turbulence(Phase::new("p").fault(Fault::hang()))
        .slo(error_rate().below(0.1).during("p"))
        .run()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("both a stage and a turbulence phase are named `p`; rename one"),
        "{err}"
    );
    // A proxy whose upstream went away is refused, naming the rule that needs it.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Proxy::start("db", gone.local_addr().unwrap().to_string())
        .await
        .unwrap();
    drop(gone);
    let err = base()
        .proxy(proxy)
        .turbulence(Phase::new("p").toxic("db", Toxic::down()))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, ScenarioError::Proxy { .. }), "{err:?}");
    assert!(
        err.to_string().contains("cannot reach its upstream")
            && err
                .to_string()
                .contains("needed by turbulence rule `down on proxy `db``"),
        "{err}"
    );
    let err = Scenario::new("tls")
        .target("https://127.0.0.1:9")
        .agents([browse])
        .iterations(1)
        .through_proxy()
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs an `http` target"), "{err}");
}

/// The demo shop on a runtime of its own, which `kill` drops: every socket closes at once, as
/// a killed process's would.
struct Doomed {
    url: String,
    kill: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn doomed_shop() -> Doomed {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (kill, killed) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shop = rt
            .block_on(demo_shop::spawn(ShopConfig::instant()))
            .unwrap();
        url_tx.send(shop.url()).unwrap();
        let _ = killed.recv();
        drop(shop);
        rt.shutdown_background();
    });
    Doomed {
        url: url_rx.recv().unwrap(),
        kill,
        thread,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxied_load_ends_on_time_when_its_upstream_dies_mid_run() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // 20 times, the SUT behind the proxy dies at a different moment of a 1 s load: no request
    // may wait for an upstream that is gone, so the load ends on time and no iteration is left
    // to cancel after the graceful stop.
    for round in 0..20u64 {
        let shop = doomed_shop();
        let kill = shop.kill.clone();
        let killer = tokio::spawn(async move {
            tokio::time::sleep(ms(300 + 20 * round)).await;
            let _ = kill.send(());
        });
        let started = std::time::Instant::now();
        let run = Scenario::new("upstream dies")
            .seed(round)
            .target(shop.url.as_str())
            .agents([browse])
            .users(4)
            .duration(secs(1))
            .request_timeout(secs(20))
            .graceful_stop(secs(3))
            .through_proxy()
            .run()
            .await;
        let took = started.elapsed();
        killer.await.unwrap();
        shop.thread.join().unwrap();
        let report = match run {
            Ok(report) => report,
            Err(e) => panic!("round {round}: {e:#}"),
        };
        assert_eq!(report.cancelled_iterations, 0, "round {round}: {report:?}");
        assert!(
            took < ms(1800),
            "round {round}: a 1 s load took {took:?} after its upstream died"
        );
        assert!(
            report.total.failed > 0,
            "round {round}: the SUT died mid-run"
        );
    }
}
