//! Workflows in code, against the demo shop on loopback (`Scenario::new`, no harness): a wait
//! polls until the order has shipped, a retry sends the checkout again on 503, an expectation
//! makes a 200 with the wrong body a failed request; and each bad input is an error that names
//! the step and sends nothing.

use std::time::Duration;

use demo_shop::ShopConfig;
use windtunnel::prelude::*;
use windtunnel::{ErrorKind, StepError};

async fn shop(config: ShopConfig) -> demo_shop::ShopHandle {
    demo_shop::spawn(config).await.expect("the shop starts")
}

/// Orders that are paid after 100 ms and ship after 400 ms.
fn quick_shipping() -> ShopConfig {
    let mut c = ShopConfig::instant();
    c.order_states = (Duration::from_millis(100), Duration::from_millis(400));
    c
}

async fn place_order(a: &mut Agent) -> Result<String> {
    a.post("/cart")
        .json(&serde_json::json!({ "product_id": 2, "quantity": 1 }))
        .name("add")
        .send()
        .await?
        .expect_status(201)?;
    let order: serde_json::Value = a
        .post("/checkout")
        .name("checkout")
        .send()
        .await?
        .expect_status(201)?
        .json()?;
    Ok(format!("/orders/{}", order["order_id"]))
}

#[agent]
async fn waits_for_shipping(a: &mut Agent) -> Result<()> {
    let path = place_order(a).await?;
    let shipped = Wait::up_to(secs(5))
        .every(ms(100))
        .until(Expect::json("/status").equals("shipped"))
        .until(Expect::header("content-type").contains("json"));
    let r = a
        .wait("order shipped", &shipped, |a| {
            a.get(&path).name("get order")
        })
        .await?;
    ensure!(r.text().contains("shipped"), "{}", r.text());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_polls_until_the_state_is_reached_and_is_its_own_operation() {
    let shop = shop(quick_shipping()).await;
    let report = Scenario::new("wait")
        .target(shop.url())
        .agents([waits_for_shipping])
        .users(2)
        .iterations(2)
        .slo(p95("order shipped").below(secs(2)))
        .run()
        .await
        .unwrap();
    assert_eq!(report.iterations[0].completed, 4, "{:?}", report.iterations);
    let wait = report
        .steps
        .iter()
        .find(|s| s.name == "order shipped")
        .unwrap();
    assert_eq!(
        (wait.kind.as_str(), wait.runs, wait.gave_up),
        ("wait", 4, 0)
    );
    // Polls at 0, 100, 200, 300, 400 ms: the fifth sees `shipped` (a sixth if the clock is
    // a little late).
    assert!((5..=6).contains(&wait.max_attempts), "{wait:?}");
    let polls = report.request("get order").unwrap();
    assert_eq!(polls.count, wait.attempts);
    assert_eq!(polls.failed, 0, "a poll that sees `paid` is a good request");
    let took = &wait.operation.as_ref().unwrap().latency_ms;
    assert!((390.0..1000.0).contains(&took.p50), "{took:?}");
    // Not a request: the total counts the requests only.
    assert!(report.request("order shipped").is_none());
    assert_eq!(report.total.count, 4 * 2 + polls.count);
    assert!(report.objectives[0].passed, "{:?}", report.objectives[0]);
}

#[agent]
async fn waits_too_little(a: &mut Agent) -> Result<()> {
    let path = place_order(a).await?;
    let shipped = Wait::up_to(ms(250))
        .every(ms(100))
        .until(Expect::json("/status").equals("shipped"));
    match a
        .wait("order shipped", &shipped, |a| {
            a.get(&path).name("get order")
        })
        .await
    {
        Err(StepError::TimedOut { attempts, last, .. }) => {
            ensure!(attempts == 4, "{attempts} attempts in 250 ms every 100 ms");
            ensure!(
                last.contains("got \"paid\"") || last.contains("got \"pending\""),
                "{last}"
            );
            Err(anyhow!("gave up as expected"))
        }
        other => bail!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_times_out_fails_its_operation_and_the_iteration() {
    let shop = shop(quick_shipping()).await;
    let report = Scenario::new("wait-timeout")
        .target(shop.url())
        .agents([waits_too_little])
        .iterations(2)
        .slo(error_rate().of("order shipped").below(0.5))
        .run()
        .await
        .unwrap();
    let wait = &report.steps[0];
    assert_eq!(
        (wait.runs, wait.gave_up, wait.max_attempts),
        (2, 2, 4),
        "{wait:?}"
    );
    assert!(
        wait.samples[0].starts_with(
            "not met within 250ms (4 attempt(s)); the last: expected `/status` equals \"shipped\""
        ),
        "{:?}",
        wait.samples
    );
    let op = wait.operation.as_ref().unwrap();
    assert_eq!((op.count, op.failed), (2, 2));
    assert_eq!(op.errors[0].kind, ErrorKind::Timeout.as_str());
    // Each timed-out wait took its 250 ms (the last poll is at the deadline).
    assert!(op.latency_ms.p50 >= 250.0, "{:?}", op.latency_ms);
    assert!(
        !report.objectives[0].passed,
        "judged on the wait: {:?}",
        report.objectives[0]
    );
    assert_eq!(report.iterations[0].failed, 2);
}

#[agent]
async fn retries_checkout(a: &mut Agent) -> Result<()> {
    a.post("/cart")
        .json(&serde_json::json!({ "product_id": 2, "quantity": 1 }))
        .name("add")
        .send()
        .await?;
    let policy = Retry::attempts(3)
        .on_status([503])
        .backoff(Backoff::exponential(ms(5), ms(20)).jitter(0.5));
    a.retry(&policy, |a| a.post("/checkout").name("checkout"))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_sends_again_on_purpose_and_counts_every_attempt() {
    // Half the checkouts answer 503.
    let mut config = ShopConfig::instant();
    config.checkout_error_rate = 0.5;
    let shop = shop(config).await;
    let report = Scenario::new("retry")
        .target(shop.url())
        .agents([retries_checkout])
        .users(4)
        .iterations(10)
        .seed(3)
        .run()
        .await
        .unwrap();
    let retry = &report.steps[0];
    assert_eq!(
        (retry.name.as_str(), retry.kind.as_str(), retry.runs),
        ("checkout", "retry", 40)
    );
    let checkout = report.request("checkout").unwrap();
    assert_eq!(checkout.count, retry.attempts, "every attempt is a request");
    assert_eq!(checkout.failed, checkout.statuses["503"]);
    assert_eq!(
        retry.first_attempt + retry.later_attempt + retry.gave_up,
        40
    );
    // At 50% per attempt, 40 runs of 3 attempts: some retried, few gave up (1 in 8).
    assert!(retry.later_attempt > 5 && retry.gave_up < 15, "{retry:?}");
    assert!(retry.max_attempts == 3);
    assert_eq!(report.iterations[0].failed, retry.gave_up);
    if retry.gave_up > 0 {
        assert!(retry.samples[0].contains("gave up after 3 attempt(s); the last: status 503"));
        let f = &report.iterations[0].failures[0];
        assert_eq!(f.kind, "step", "{f:?}");
    }
}

#[agent]
async fn expects_the_wrong_body(a: &mut Agent) -> Result<()> {
    let e = a
        .get("/products/3")
        .name("product")
        .expect(Expect::json("/price_cents").equals(1))
        .send()
        .await
        .unwrap_err();
    ensure!(
        e.to_string()
            == "response to `product` (status 200) failed its assertion: expected `/price_cents` equals 1, got 750",
        "{e}"
    );
    // A soft check on the same expectation counts a check, not a failed request.
    let r = a.get("/products/3").name("product, checked").send().await?;
    ensure!(
        r.expect(&Expect::json("/id").equals(4)).is_err(),
        "the check holds"
    );
    Ok(())
}

#[tokio::test]
async fn a_response_that_misses_its_expectation_is_a_failed_request() {
    let shop = shop(ShopConfig::instant()).await;
    let report = Scenario::new("assertion")
        .target(shop.url())
        .agents([expects_the_wrong_body])
        .iterations(2)
        .run()
        .await
        .unwrap();
    assert_eq!(report.iterations[0].completed, 2, "{:?}", report.iterations);
    let r = report.request("product").unwrap();
    assert_eq!((r.count, r.failed, r.statuses["200"]), (2, 2, 2));
    assert_eq!(r.errors[0].kind, ErrorKind::Assertion.as_str());
    assert_eq!(
        r.errors[0].samples,
        ["status 200: expected `/price_cents` equals 1, got 750"]
    );
    let checked = report.request("product, checked").unwrap();
    assert_eq!(checked.failed, 0);
    let c = &report.checks[0];
    assert_eq!(
        (c.name.as_str(), c.failed),
        ("product, checked: `/id` equals 4", 2)
    );
    assert_eq!(c.samples, ["expected `/id` equals 4, got 3"]);
}

#[agent]
async fn bad_workflows(a: &mut Agent) -> Result<()> {
    let invalid = |e: StepError| match e {
        StepError::Invalid { reason, .. } => reason,
        StepError::Http(windtunnel::HttpError::Invalid { reason, .. }) => reason,
        other => panic!("not invalid: {other:?}"),
    };
    let until = Expect::json("/status").equals("shipped");
    let r = a
        .wait(
            "no timeout",
            &Wait::up_to(Duration::ZERO).until(until.clone()),
            |a| a.get("/health"),
        )
        .await;
    ensure!(invalid(r.unwrap_err()).contains("needs a timeout above zero"));
    let busy = Wait::up_to(secs(1))
        .every(Duration::ZERO)
        .until(until.clone());
    let r = a.wait("busy loop", &busy, |a| a.get("/health")).await;
    ensure!(invalid(r.unwrap_err()).contains("polls at most every millisecond"));
    let r = a
        .wait("no condition", &Wait::up_to(secs(1)), |a| a.get("/health"))
        .await;
    ensure!(invalid(r.unwrap_err()).contains("needs a condition"));
    let r = a
        .wait(
            "GET /health",
            &Wait::up_to(secs(1)).until(until.clone()),
            |a| a.get("/health"),
        )
        .await;
    ensure!(invalid(r.unwrap_err()).contains("both named `GET /health`"));
    let bad_pointer = Wait::up_to(secs(1)).until(Expect::json("status").exists());
    let r = a
        .wait("bad pointer", &bad_pointer, |a| a.get("/health"))
        .await;
    ensure!(invalid(r.unwrap_err()).contains("is not a JSON pointer"));
    let r = a
        .retry(&Retry::attempts(0), |a| a.get("/health").name("zero"))
        .await;
    ensure!(invalid(r.unwrap_err()).contains("at least 1 attempt"));
    // On a request, a bad expectation makes it invalid: recorded, never sent.
    let e = a
        .get("/health")
        .name("no schema")
        .expect(Expect::schema_file("/nonexistent/order.schema.json"))
        .send()
        .await
        .unwrap_err();
    ensure!(e.to_string().contains("cannot read the JSON Schema"), "{e}");
    Ok(())
}

#[tokio::test]
async fn bad_waits_retries_and_expectations_send_nothing_and_say_why() {
    let shop = shop(ShopConfig::instant()).await;
    let report = Scenario::new("bad")
        .target(shop.url())
        .agents([bad_workflows])
        .iterations(1)
        .run()
        .await
        .unwrap();
    assert_eq!(report.iterations[0].completed, 1, "{:?}", report.iterations);
    // Nothing reached the shop: the only request is the invalid one, never sent.
    assert_eq!(report.total.count, 1, "{:?}", report.requests);
    let r = report.request("no schema").unwrap();
    assert_eq!(r.errors[0].kind, ErrorKind::Invalid.as_str());
    assert!(report.steps.is_empty(), "{:?}", report.steps);
}

#[agent]
async fn pays(a: &mut Agent) -> Result<()> {
    let payment: serde_json::Value = a
        .service("payments")
        .post("/payments")
        .json(&serde_json::json!({ "order_id": 1, "amount_cents": 250 }))
        .name("pay")
        .send()
        .await?
        .expect_status(201)?
        .json()?;
    let path = format!("/payments/{}", payment["payment_id"]);
    let captured = Wait::up_to(secs(2))
        .every(ms(50))
        .until(Expect::json("/status").equals("captured"));
    a.wait("captured", &captured, |a| {
        a.service("payments").get(&path).name("get payment")
    })
    .await?;
    a.get("/health")
        .name("health")
        .send()
        .await?
        .expect_status(200)?;
    // A service the scenario does not have: an invalid request, never sent.
    let e = a
        .service("paymnts")
        .get("/payments/1")
        .send()
        .await
        .unwrap_err();
    ensure!(
        e.to_string().contains(
            "no service `paymnts` (did you mean `payments`?); the scenario has `payments`"
        ),
        "{e}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_reach_several_services_and_each_is_totalled_apart() {
    let shop = shop(ShopConfig::instant()).await;
    let payments = demo_shop::spawn_payments(demo_shop::PaymentsConfig {
        capture_after: Duration::from_millis(120),
    })
    .await
    .unwrap();
    let report = Scenario::new("services")
        .target(shop.url())
        .service("payments", Service::new(payments.url()).timeout(secs(2)))
        .agents([pays])
        .iterations(3)
        .run()
        .await
        .unwrap();
    assert_eq!(report.iterations[0].completed, 3, "{:?}", report.iterations);
    let names: Vec<(&str, u64)> = report
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.total.count))
        .collect();
    let polls = report.request("get payment").unwrap().count;
    // The invalid request is the target's (it names no service that exists).
    assert_eq!(names, [("target", 3 + 3), ("payments", 3 + polls)]);
    assert_eq!(report.services[1].url, payments.url());
    assert!(
        polls >= 3 * 3,
        "captured after 120 ms, polled every 50 ms: {polls}"
    );
    let invalid = report.request("GET /payments/1").unwrap();
    assert_eq!(invalid.errors[0].kind, ErrorKind::Invalid.as_str());
}

#[tokio::test]
async fn bad_services_are_errors_before_any_request() {
    let shop = shop(ShopConfig::instant()).await;
    for (service, target, says) in [
        ("pay ments", "http://127.0.0.1:1", "letters, digits"),
        (
            "target",
            "http://127.0.0.1:1",
            "the scenario's target itself",
        ),
        ("payments", "127.0.0.1:9090", "not a URL"),
        ("payments", "payments/staging", "no targets catalog"),
    ] {
        let e = Scenario::new("bad-service")
            .target(shop.url())
            .service(service, target)
            .agents([pays])
            .iterations(1)
            .run()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("scenario `bad-service`: service `{service}`: "))
                && e.contains(says),
            "{service} {target}: {e}"
        );
    }
    let e = Scenario::new("twice")
        .target(shop.url())
        .service("payments", "http://127.0.0.1:1")
        .service("payments", "http://127.0.0.1:2")
        .agents([pays])
        .iterations(1)
        .run()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("names it twice"), "{e}");
    let e = Scenario::new("bad-header")
        .target(shop.url())
        .service(
            "payments",
            Service::new("http://127.0.0.1:1").header("x-api-key", "secret\nx"),
        )
        .agents([pays])
        .iterations(1)
        .run()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "service `payments`: the value of header `x-api-key` is not a valid header value"
        ) && !e.contains("secret"),
        "{e}"
    );
}

#[agent]
async fn varied_journey(a: &mut Agent) -> Result<()> {
    let size = *a.vary("size", &["S", "M", "L"]).unwrap();
    let quantity = a.vary_in("quantity", 1..3);
    if a.toggle("gift", 0.5) {
        // The gift page does not exist: journeys with a gift fail.
        a.get("/products/999")
            .name("gift page")
            .send()
            .await?
            .expect_status(200)?;
    }
    ensure!(["S", "M", "L"].contains(&size) && (1..3).contains(&quantity));
    Ok(())
}

#[tokio::test]
async fn variations_are_seeded_counted_per_value_and_name_a_failing_journey() {
    let shop = shop(ShopConfig::instant()).await;
    let run = || {
        Scenario::new("variations")
            .target(shop.url())
            .agents([varied_journey])
            .users(2)
            .iterations(30)
            .seed(5)
            .run()
    };
    let report = run().await.unwrap();
    let by_name = |r: &windtunnel::report::LoadReport, name: &str| {
        r.variations
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("{:?}", r.variations))
            .values
            .iter()
            .map(|x| (x.value.clone(), x.iterations, x.failed))
            .collect::<Vec<_>>()
    };
    let gift = by_name(&report, "gift");
    assert_eq!(gift.len(), 2, "{gift:?}");
    let (f, t) = (&gift[0], &gift[1]);
    assert_eq!((f.0.as_str(), t.0.as_str()), ("false", "true"));
    assert_eq!(f.1 + t.1, 60);
    // Exactly the journeys with a gift failed.
    assert_eq!((f.2, t.2), (0, t.1));
    assert_eq!(report.request("gift page").unwrap().count, t.1);
    let sizes = by_name(&report, "size");
    assert_eq!(sizes.iter().map(|s| s.1).sum::<u64>(), 60);
    assert!(
        sizes
            .iter()
            .all(|s| ["S", "M", "L"].contains(&s.0.as_str()))
    );
    let quantities = by_name(&report, "quantity");
    assert!(
        quantities.iter().all(|q| q.0 == "1" || q.0 == "2"),
        "{quantities:?}"
    );
    let sample = &report.iterations[0].failures[0].samples[0];
    assert!(
        sample.contains("[size=") && sample.contains(", gift=true]"),
        "{sample}"
    );
    // The same seed takes the same paths.
    let again = run().await.unwrap();
    assert_eq!(by_name(&again, "gift"), gift);
    assert_eq!(by_name(&again, "size"), sizes);
}

#[agent]
async fn weighted_tasks(a: &mut Agent) -> Result<()> {
    match a.vary_weighted("task", &[(3, "browse"), (1, "buy"), (0, "never")]) {
        Some(&"browse") => {
            a.get("/products").name("browse").send().await?;
        }
        Some(&"buy") => {
            // Buying fails here (no cart): the report tells which task fails.
            a.post("/checkout")
                .name("buy")
                .send()
                .await?
                .expect_status(201)?;
        }
        other => bail!("drew {other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_tasks_within_one_agent_are_drawn_by_weight_and_counted() {
    let shop = shop(ShopConfig::instant()).await;
    let run = || {
        Scenario::new("tasks")
            .target(shop.url())
            .agents([weighted_tasks])
            .users(4)
            .iterations(100)
            .seed(9)
            .run()
    };
    let report = run().await.unwrap();
    let task = &report.variations[0];
    assert_eq!(task.name, "task");
    let counts: Vec<(&str, u64, u64)> = task
        .values
        .iter()
        .map(|v| (v.value.as_str(), v.iterations, v.failed))
        .collect();
    let (browse, buy) = match counts.as_slice() {
        [("browse", b, 0), ("buy", y, fy)] if y == fy => (*b, *y),
        other => panic!("{other:?}"),
    };
    assert_eq!(browse + buy, 400);
    // 3 to 1 of 400: 300 expected, a binomial sd of 8.7; 5 sd either way.
    assert!((256..=344).contains(&browse), "{browse} of 400");
    assert_eq!(report.request("browse").unwrap().count, browse);
    assert_eq!(report.request("buy").unwrap().count, buy);
    // The same seed, the same draws.
    let again = run().await.unwrap();
    assert_eq!(again.variations, report.variations);
}
