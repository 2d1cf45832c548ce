//! The demo: load tests of the demo shop (`examples/shop`), run with `cargo test --test load`.
//!
//! With no target from outside (`-- --target URL` or `WINDTUNNEL_TARGET`), each scenario starts
//! the shop in-process on 127.0.0.1 and points its load at it. Reports land in
//! `target/windtunnel/latest/`.

use demo_shop::{ShopConfig, ShopHandle};
use serde_json::{Value, json};
use windtunnel::prelude::*;

/// Starts the demo shop unless a target was given from outside. Keep the handle alive for the
/// whole scenario: dropping it stops the shop.
async fn with_shop(s: Scenario) -> Result<(Scenario, Option<ShopHandle>)> {
    if s.target_url().is_some() {
        return Ok((s, None));
    }
    let shop = demo_shop::spawn(ShopConfig::default()).await?;
    Ok((s.target(shop.url()), Some(shop)))
}

/// Browses the catalog: the list, then one product.
#[agent(weight = 3)]
async fn browser(a: &mut Agent) -> Result<()> {
    let products: Vec<Value> = a
        .get("/products")
        .name("list products")
        .send()
        .await?
        .expect_status(200)?
        .json()?;
    let id = a.rng().choose(&products).context("the catalog is empty")?["id"].clone();
    a.get(&format!("/products/{id}"))
        .name("view product")
        .send()
        .await?
        .expect_status(200)?;
    a.think(ms(5)..ms(20)).await;
    Ok(())
}

/// Puts something in the cart (the shop's session cookie keeps the cart) and checks out.
#[agent]
async fn buyer(a: &mut Agent) -> Result<()> {
    let product_id = a.rng().range(1..21);
    let quantity = a.rng().range(1..4);
    a.post("/cart")
        .json(&json!({ "product_id": product_id, "quantity": quantity }))
        .name("add to cart")
        .send()
        .await?
        .expect_status(201)?;
    let order: Value = a
        .post("/checkout")
        .name("checkout")
        .send()
        .await?
        .expect_status(201)?
        .json()?;
    let orders = a.vars().get("orders").and_then(Value::as_u64).unwrap_or(0);
    a.vars().set("orders", orders + 1);
    a.vars().set("last_order", order["order_id"].clone());
    a.think(ms(10)..ms(30)).await;
    Ok(())
}

/// Buys, pays, then follows the order until it has shipped, across two services: the checkout
/// is retried when the shop is busy (503); the payment is made at the payment provider (the
/// scenario's service `payments`) and polled until captured; the order is polled every 200 ms
/// until its status is `shipped`. Each wait is its own operation, with objectives like any
/// request.
#[agent]
async fn tracker(a: &mut Agent) -> Result<()> {
    let item = json!({ "product_id": a.rng().range(1..21), "quantity": 1 });
    a.post("/cart")
        .json(&item)
        .name("add to cart")
        .send()
        .await?
        .expect_status(201)?;
    let busy = Retry::attempts(3)
        .on_status([503])
        .backoff(Backoff::exponential(ms(20), ms(200)).jitter(0.5));
    let order: Value = a
        .retry(&busy, |a| {
            a.post("/checkout")
                .name("checkout")
                .expect(Expect::json("/order_id").exists())
        })
        .await?
        .expect_status(201)?
        .json()?;
    let payment: Value = a
        .service("payments")
        .post("/payments")
        .json(&json!({ "order_id": order["order_id"], "amount_cents": order["total_cents"] }))
        .name("pay")
        .expect(Expect::json("/status").equals("pending"))
        .send()
        .await?
        .json()?;
    let captured = Wait::up_to(secs(5))
        .every(ms(100))
        .until(Expect::json("/status").equals("captured"));
    let payment_path = format!("/payments/{}", payment["payment_id"]);
    a.wait("payment captured", &captured, |a| {
        a.service("payments").get(&payment_path).name("get payment")
    })
    .await?;
    let path = format!("/orders/{}", order["order_id"]);
    let shipped = Wait::up_to(secs(5))
        .every(ms(200))
        .until(Expect::json("/status").equals("shipped"));
    a.wait("order shipped", &shipped, |a| {
        a.get(&path).name("get order")
    })
    .await?;
    a.think(ms(10)..ms(30)).await;
    Ok(())
}

/// A workflow, not only requests: buy, pay at the payment provider (a second service, started
/// here on loopback), then wait for shipping. The objectives judge the waits (how long until
/// captured, until shipped) beside the requests; the report totals each service apart.
#[scenario(tags = ["demo"], timeout = "1m")]
async fn order_tracking(s: Scenario) -> Result<()> {
    let (s, _shop) = with_shop(s).await?;
    let payments = demo_shop::spawn_payments(Default::default()).await?;
    s.service("payments", payments.url())
        .agents([tracker])
        .users(10)
        .duration(secs(4))
        .slo(p95("payment captured").below(secs(1)))
        .slo(p95("order shipped").below(secs(3)))
        .slo(error_rate().of("order shipped").below(0.01))
        .slo(error_rate().of("get order").below(0.01))
        .run()
        .await?;
    Ok(())
}

/// The main demo: browsers and buyers together, with objectives on the whole and on checkout.
#[scenario(tags = ["demo"], timeout = "1m")]
async fn browse_and_buy(s: Scenario) -> Result<()> {
    let (s, _shop) = with_shop(s).await?;
    s.agents([browser, buyer])
        .users(20)
        .ramp_up(secs(1))
        .duration(secs(5))
        .slo(p99("list products").below(ms(250)))
        .slo(p95(ALL).below(ms(200)))
        .slo(error_rate().below(0.05))
        .slo(error_rate().of("checkout").below(0.15))
        .slo(successful_throughput().at_least(50.0))
        .run()
        .await?;
    Ok(())
}

/// Resilience: the same users through a brownout (slow listings, some product pages failing
/// with 503 and `retry-after`) and a flaky network (a TCP proxy adding latency for 200 ms every
/// 2 s). The objectives say how bad the brownout may get and that the shop recovers after it.
/// `--seed` replays the same fault decisions; the report lists every injected fault.
#[scenario(tags = ["demo"], timeout = "1m")]
async fn brownout(s: Scenario) -> Result<()> {
    let (s, _shop) = with_shop(s).await?;
    s.agents([browser, buyer])
        .users(10)
        .duration(secs(6))
        .through_proxy()
        .turbulence(
            Phase::new("brownout")
                .during(secs(2)..secs(4))
                .fault(
                    Fault::delay(ms(150))
                        .jitter(ms(50))
                        .on("list products")
                        .probability(0.3),
                )
                .fault(
                    Fault::abort(503)
                        .header("retry-after", "1")
                        .on("view product")
                        .probability(0.05),
                ),
        )
        .turbulence(
            Phase::new("flaky network")
                .every(secs(2), ms(200))
                .toxic("target", Toxic::latency(ms(20)).jitter(ms(5))),
        )
        .slo(p99("list products").below(ms(400)).during("brownout"))
        .slo(error_rate().below(0.05).after("brownout", secs(1)))
        .run()
        .await?;
    Ok(())
}

/// An open-model spike: iterations arrive on a schedule whether or not the shop keeps up, so a
/// slowdown shows in the latency (measured from each iteration's intended start) instead of
/// slowing the load down. Objectives can be scoped to a stage, and can end the run early.
#[scenario(tags = ["demo"], timeout = "1m")]
async fn spike(s: Scenario) -> Result<()> {
    let (s, _shop) = with_shop(s).await?;
    s.agents([browser, buyer])
        .load(
            Load::ramping_rate([
                stage(secs(1), per_sec(50)),
                stage(secs(2), per_sec(200)).named("spike"),
                stage(secs(1), per_sec(50)),
            ])
            .start(per_sec(50))
            .pool(20, 200),
        )
        .slo(p99(ALL).below(ms(300)).during("spike"))
        .slo(error_rate().below(0.05).abort_on_fail())
        .run()
        .await?;
    Ok(())
}

/// A quick smoke test bounded by iterations, not time: 4 buyers, 5 checkouts each.
#[scenario(tags = ["demo", "smoke"], timeout = "30s")]
async fn checkout_smoke(s: Scenario) -> Result<()> {
    let (s, _shop) = with_shop(s).await?;
    let report = s
        .agents([buyer])
        .users(4)
        .iterations(5)
        .slo(check_pass_rate().at_least(0.8))
        .run()
        .await?;
    // The body can look at the numbers too.
    ensure!(
        report.request("checkout").is_some_and(|r| r.count == 20),
        "expected 20 checkouts"
    );
    Ok(())
}

/// A longer soak, for nightly runs: `cargo test --test load -- --ignored`.
#[scenario(tags = ["nightly"], ignore, timeout = "15m")]
async fn soak(s: Scenario) -> Result<()> {
    let (s, _shop) = with_shop(s).await?;
    s.agents([browser, buyer])
        .users(50)
        .ramp_up(secs(30))
        .duration(mins(10))
        .slo(p99(ALL).below(ms(300)))
        .slo(error_rate().below(0.02))
        .run()
        .await?;
    Ok(())
}

windtunnel::main!();
