//! The agent's API against the demo shop, through `Scenario::new` (no harness): cookies per
//! agent, request names, accepted statuses, timed operations, variables, and the builder's
//! errors for configurations that cannot run.

use demo_shop::ShopConfig;
use windtunnel::prelude::*;
use windtunnel::{ErrorKind, ScenarioError};

async fn shop() -> demo_shop::ShopHandle {
    demo_shop::spawn(ShopConfig::instant())
        .await
        .expect("the shop starts")
}

/// Iteration 0 fills the cart (the shop sets a session cookie), iteration 1 checks out, which
/// only works if this agent's cookie came back.
#[agent]
async fn cart_then_checkout(a: &mut Agent) -> Result<()> {
    if a.iteration() == 0 {
        let item = serde_json::json!({ "product_id": 3, "quantity": 2 });
        a.post("/cart")
            .json(&item)
            .name("add")
            .send()
            .await?
            .expect_status(201)?;
    } else {
        let order: serde_json::Value = a
            .post("/checkout")
            .name("checkout")
            .send()
            .await?
            .expect_status(201)?
            .json()?;
        ensure!(order["total_cents"] == 1500, "unexpected order {order}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_agent_keeps_its_own_cookies_across_iterations() {
    let shop = shop().await;
    let report = Scenario::new("cookies")
        .target(shop.url())
        .agents([cart_then_checkout])
        .users(3)
        .iterations(2)
        .run()
        .await
        .unwrap();
    // With one shared jar, the three agents would share one cart and two checkouts would fail.
    let checkout = report.request("checkout").unwrap();
    assert_eq!((checkout.count, checkout.failed), (3, 0), "{checkout:?}");
    assert_eq!(checkout.statuses["201"], 3);
    assert!(
        report.checks.iter().all(|c| c.failed == 0),
        "{:?}",
        report.checks
    );
    assert_eq!(report.iterations[0].completed, 6);
}

#[agent]
async fn names_and_statuses(a: &mut Agent) -> Result<()> {
    a.get("/products/999?x=1").send().await?;
    a.get("/products/998")
        .name("missing, expected")
        .accept_status(404)
        .send()
        .await?;
    a.measure("op ok", async { Ok::<_, std::io::Error>(()) })
        .await?;
    let failed = a
        .measure("op err", async {
            Err::<(), _>(std::io::Error::other("disk full"))
        })
        .await;
    assert!(failed.is_err());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_named_counted_and_classified() {
    let shop = shop().await;
    let report = Scenario::new("names")
        .target(format!("{}/", shop.url()))
        .agents([names_and_statuses])
        .iterations(2)
        .run()
        .await
        .unwrap();
    let default_named = report
        .request("GET /products/999")
        .expect("default name: method and path, no query");
    assert_eq!((default_named.count, default_named.failed), (2, 2));
    assert_eq!(default_named.statuses["404"], 2);
    assert_eq!(default_named.errors[0].kind, ErrorKind::Status.as_str());
    let accepted = report.request("missing, expected").unwrap();
    assert_eq!((accepted.count, accepted.failed), (2, 0));
    assert_eq!(report.request("op ok").unwrap().failed, 0);
    let err = report.request("op err").unwrap();
    assert_eq!((err.count, err.failed), (2, 2));
    assert_eq!(err.errors[0].kind, "operation");
    assert_eq!(err.errors[0].samples, ["disk full"]);
    assert_eq!(report.total.count, 8);
}

#[agent]
async fn follows_redirects(a: &mut Agent) -> Result<()> {
    let r = a
        .get("/catalog")
        .name("old catalog")
        .send()
        .await?
        .expect_status(200)?;
    ensure!(r.url().path() == "/products", "final URL {}", r.url());
    let products: Vec<serde_json::Value> = r.json()?;
    ensure!(products.len() == 20, "{} products", products.len());
    Ok(())
}

#[tokio::test]
async fn redirects_are_followed_and_the_final_url_is_kept() {
    let shop = shop().await;
    let report = Scenario::new("redirects")
        .target(shop.url())
        .agents([follows_redirects])
        .iterations(2)
        .run()
        .await
        .unwrap();
    assert_eq!(report.iterations[0].completed, 2, "{:?}", report.iterations);
    let r = report.request("old catalog").unwrap();
    assert_eq!(r.statuses["200"], 2);
}

#[agent]
async fn bad_requests(a: &mut Agent) -> Result<()> {
    let e = a
        .get("http://[::1")
        .name("bad url")
        .send()
        .await
        .unwrap_err();
    ensure!(
        e.to_string()
            .starts_with("request `bad url` (GET http://[::1) is invalid: invalid URL"),
        "{e}"
    );
    let e = a
        .get("/health")
        .header("bad header", "x")
        .send()
        .await
        .unwrap_err();
    ensure!(
        e.to_string()
            .contains("is invalid: invalid header `bad header: x`"),
        "{e}"
    );
    let e = a
        .get("/health")
        .name("health")
        .send()
        .await?
        .json::<Vec<u32>>()
        .unwrap_err();
    ensure!(
        e.to_string()
            .starts_with("response to `health` (status 200) is not the expected JSON: "),
        "{e}"
    );
    let e = a
        .get("/products/1")
        .name("p1")
        .send()
        .await?
        .expect_status(201)
        .unwrap_err();
    ensure!(
        e.to_string()
            .starts_with("check `p1: status 201` failed: expected status 201, got 200"),
        "{e}"
    );
    Ok(())
}

#[tokio::test]
async fn invalid_requests_and_bodies_are_errors_naming_the_request() {
    let shop = shop().await;
    let report = Scenario::new("bad")
        .target(shop.url())
        .agents([bad_requests])
        .iterations(1)
        .run()
        .await
        .unwrap();
    let it = &report.iterations[0];
    assert_eq!((it.completed, it.failed), (1, 0), "{:?}", it.failures);
    // Invalid requests were never sent, but are counted: failed, of kind `invalid`, with no
    // latency.
    let bad = report
        .request("bad url")
        .expect("the invalid request is recorded");
    assert_eq!((bad.count, bad.failed), (1, 1));
    assert_eq!(bad.errors[0].kind, "invalid");
    assert_eq!(bad.latency_ms.max, 0.0);
    let header = report
        .request("GET /health")
        .expect("recorded under its default name");
    assert_eq!(header.errors[0].kind, "invalid");
    assert!(
        header.errors[0].samples[0].contains("invalid header `bad header: x`"),
        "{:?}",
        header.errors
    );
    assert_eq!(
        report
            .checks
            .iter()
            .find(|c| c.name == "p1: status 201")
            .unwrap()
            .failed,
        1
    );
}

#[agent]
async fn counter(a: &mut Agent) -> Result<()> {
    let n = a.vars().get("n").and_then(|v| v.as_u64()).unwrap_or(0);
    a.vars().set("n", n + 1);
    if a.iteration() == 4 {
        let n = a.vars().get("n").and_then(|v| v.as_u64());
        a.check("vars persist", n == Some(5));
    }
    Ok(())
}

#[tokio::test]
async fn variables_persist_across_an_agents_iterations() {
    let shop = shop().await;
    let report = Scenario::new("vars")
        .target(shop.url())
        .agents([counter])
        .users(3)
        .iterations(5)
        .run()
        .await
        .unwrap();
    let check = report
        .checks
        .iter()
        .find(|c| c.name == "vars persist")
        .unwrap();
    assert_eq!((check.passed, check.failed), (3, 0));
}

#[tokio::test]
async fn configurations_that_cannot_run_are_errors_naming_the_setting() {
    let err = |s: Scenario| async move { s.run().await.unwrap_err() };
    let e = err(Scenario::new("x")
        .target("http://127.0.0.1:9")
        .iterations(1))
    .await;
    assert!(matches!(e, ScenarioError::NoAgents(_)));
    assert_eq!(
        e.to_string(),
        "scenario `x` has no agents: add some with `.agents([..])`"
    );
    let e = err(Scenario::new("x")
        .target("http://127.0.0.1:9")
        .agents([counter])
        .users(0)
        .iterations(1))
    .await;
    assert_eq!(
        e.to_string(),
        "scenario `x`: invalid load: `users` must be at least 1"
    );
    let e = err(Scenario::new("x")
        .target("http://127.0.0.1:9")
        .agents([counter])
        .iterations(0))
    .await;
    assert_eq!(
        e.to_string(),
        "scenario `x`: invalid load: `iterations` must be above zero"
    );
    let e = err(Scenario::new("x")
        .target("http://127.0.0.1:9")
        .agents([counter])
        .ramp_up(secs(5))
        .duration(secs(2)))
    .await;
    assert_eq!(
        e.to_string(),
        "scenario `x`: invalid load: `ramp_up` 5s is longer than the duration (2s)"
    );
    let e = err(Scenario::new("x")
        .target("http://127.0.0.1:9")
        .agents([counter])
        .duration(secs(2))
        .load(Load::rate(per_sec(10)).duration(secs(2))))
    .await;
    assert!(
        e.to_string()
            .starts_with("scenario `x`: invalid load: `duration` is set in place and a load model"),
        "{e}"
    );
    let e = err(Scenario::new("x")
        .target("http://127.0.0.1:9")
        .agents([counter])
        .load(Load::ramping_rate([
            stage(secs(1), per_sec(10)),
            stage(secs(1), per_sec(-3)),
        ])))
    .await;
    assert!(
        e.to_string().starts_with(
            "scenario `x`: invalid load: `stages[1].target` must be a number at least 0"
        ),
        "{e}"
    );
    let e = err(Scenario::new("x")
        .target("http://127.0.0.1:9")
        .agents([counter])
        .load(Load::ramping_rate([
            stage(secs(1), per_sec(10)).named("warm")
        ]))
        .slo(p99(ALL).below(ms(100)).during("peak")))
    .await;
    assert_eq!(
        e.to_string(),
        "scenario `x`: objective `p99 latency below 100 ms during `peak``: the scenario has no \
         stage or turbulence phase named `peak` (it has: stage `warm`)"
    );
    let e = err(Scenario::new("x")
        .target("http://127.0.0.1:9")
        .agents([counter])
        .duration(secs(1))
        .slo(p99(ALL).from_intended_start().below(ms(100))))
    .await;
    assert!(
        e.to_string()
            .contains("a closed model has no intended start"),
        "{e}"
    );
    let e = err(Scenario::new("x")
        .target("ftp://127.0.0.1")
        .agents([counter])
        .iterations(1))
    .await;
    assert!(
        e.to_string().starts_with(
            "scenario `x`: invalid target `ftp://127.0.0.1`: expected an absolute http(s) URL"
        ),
        "{e}"
    );
}

#[test]
#[should_panic(expected = "agent `counter`: a weight must be at least 1")]
fn a_zero_weight_is_a_programming_error() {
    let _ = counter.with_weight(0);
}

/// Races a slow request against a short sleep (the request loses and is dropped mid-flight),
/// then sends fast ones: the abandoned request holds nothing the next ones need.
#[agent]
async fn abandons_a_request(a: &mut Agent) -> Result<()> {
    let slow = a.get("/slow?ms=2000").name("slow").send();
    tokio::select! {
        r = slow => bail!("the slow request finished first: {:?}", r.map(|r| r.status())),
        () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
    }
    for _ in 0..3 {
        a.get("/health")
            .name("health")
            .send()
            .await?
            .expect_status(200)?;
    }
    Ok(())
}

#[tokio::test]
async fn a_request_dropped_mid_flight_does_not_hold_up_the_next_ones() {
    let shop = shop().await;
    let report = Scenario::new("abandoned")
        .target(shop.url())
        .agents([abandons_a_request])
        .iterations(2)
        .run()
        .await
        .unwrap();
    assert_eq!(report.iterations[0].completed, 2, "{:?}", report.iterations);
    assert_eq!(report.request("health").unwrap().count, 6);
    // A request dropped before it completed is recorded as unfinished, with the time it
    // waited (about 50 ms) as a lower bound of its latency.
    let slow = report
        .request("slow")
        .expect("the abandoned request is recorded");
    assert_eq!((slow.count, slow.failed), (2, 2));
    assert_eq!(slow.errors[0].kind, "unfinished");
    assert!(slow.latency_ms.min >= 45.0, "{:?}", slow.latency_ms);
}
