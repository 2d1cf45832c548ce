//! Load models against the demo shop on loopback: the open model's rate accuracy, coordinated
//! omission (a stalling SUT shows in the open model's intended-start latency, not in the closed
//! model's service time), objectives scoped to a stage, abort on a lost objective, and the
//! capacity search. These run real load for seconds, so they take turns (one lock).

use std::time::Duration;

use demo_shop::{Pauses, ShopConfig};
use windtunnel::Rate;
use windtunnel::ScenarioError;
use windtunnel::prelude::*;
use windtunnel::report::StopReason;

/// One load at a time: they measure timing, and two at once on 2 cores would skew each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[agent]
async fn browse(a: &mut Agent) -> Result<()> {
    a.get("/products")
        .name("list")
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

#[agent]
async fn report_page(a: &mut Agent) -> Result<()> {
    a.get("/serial")
        .name("report")
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

#[agent]
async fn buy(a: &mut Agent) -> Result<()> {
    a.post("/checkout").name("checkout").send().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constant_rate_starts_500_iterations_per_second() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let shop = demo_shop::spawn(ShopConfig::instant()).await.unwrap();
    let report = Scenario::new("rate")
        .seed(1)
        .target(shop.url())
        .agents([browse])
        .load(Load::rate(per_sec(500)).duration(secs(10)).pool(20, 500))
        .run()
        .await
        .unwrap();
    let schedule = report
        .schedule
        .as_ref()
        .expect("an open model reports its schedule");
    assert_eq!(schedule.dropped, 0);
    assert_eq!(schedule.started, 5000);
    assert_eq!(report.total.count, 5000);
    // The steady state: every whole second but the first and the last.
    let points = &report.series.points;
    assert_eq!(report.series.interval_s, 1.0);
    let steady: Vec<u64> = points
        .iter()
        .filter(|p| (1.0..9.0).contains(&p.t_s))
        .map(|p| p.started.unwrap())
        .collect();
    assert_eq!(steady.len(), 8, "{points:?}");
    for started in &steady {
        assert!(
            (495..=505).contains(started),
            "started per second: {steady:?}"
        );
    }
    // Both latencies are reported; the intended-start one can only be longer.
    let list = report.request("list").unwrap();
    let intended = list.intended_latency_ms.as_ref().unwrap();
    assert!(intended.p99 >= list.latency_ms.p99 * 0.99, "{list:?}");
    assert!(schedule.start_lateness_ms.max >= schedule.start_lateness_ms.p99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_sut_shows_in_the_open_models_latency_but_not_in_the_closed_models() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut config = ShopConfig::instant();
    // Every response stalls for 1 s once every 5 s: the pause hits 5 s to 6 s of the runs.
    config.pauses = Some(Pauses {
        every: secs(5),
        length: secs(1),
    });
    let shop = demo_shop::spawn(config.clone()).await.unwrap();
    let open = Scenario::new("open")
        .seed(1)
        .target(shop.url())
        .agents([browse])
        .load(Load::rate(per_sec(200)).duration(secs(7)).pool(50, 400))
        .slo(p99(ALL).below(ms(900)))
        .run()
        .await
        .unwrap();
    let p99_intended = open.total.intended_latency_ms.as_ref().unwrap().p99;
    assert!(
        p99_intended >= 900.0,
        "open model, intended p99: {p99_intended} ms"
    );
    assert_eq!(open.schedule.as_ref().unwrap().dropped, 0);
    // The objective judged the intended-start latency, and failed.
    assert_eq!(open.objectives[0].latency.as_deref(), Some("intended"));
    assert!(!open.objectives[0].passed);

    let shop = demo_shop::spawn(config).await.unwrap();
    let closed = Scenario::new("closed")
        .seed(1)
        .target(shop.url())
        .agents([browse])
        .users(10)
        .duration(secs(7))
        .slo(p99(ALL).below(ms(900)))
        .run()
        .await
        .unwrap();
    let p99_service = closed.total.latency_ms.p99;
    // The ten stalled requests drown among the tens of thousands the users sent meanwhile.
    assert!(
        p99_service < 900.0,
        "closed model, service p99: {p99_service} ms"
    );
    assert!(closed.total.latency_ms.max >= 500.0, "the stall did happen");
    assert!(closed.objectives[0].passed);
    assert_eq!(closed.objectives[0].latency.as_deref(), Some("service"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objectives_scoped_to_a_stage_judge_only_that_stage() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut config = ShopConfig::instant();
    config.pauses = Some(Pauses {
        every: secs(2),
        length: ms(500),
    });
    let shop = demo_shop::spawn(config).await.unwrap();
    let report = Scenario::new("stages")
        .seed(1)
        .target(shop.url())
        .agents([browse])
        .load(
            Load::ramping_rate([
                stage(ms(1500), per_sec(100)).named("before"),
                stage(ms(1500), per_sec(100)).named("pause"),
            ])
            .start(per_sec(100))
            // The ticker thread's path; the other tests use tokio's timer.
            .precise_starts(),
        )
        .slo(p99(ALL).below(ms(100)).during("before"))
        .slo(p99(ALL).below(ms(100)).during("pause"))
        .slo(max_latency(ALL).below(ms(100)).between(ms(0), ms(1900)))
        .run()
        .await
        .unwrap();
    let [before, pause, window] = &report.objectives[..] else {
        panic!("{:?}", report.objectives)
    };
    assert!(before.passed, "{before:?}");
    assert!(!pause.passed, "{pause:?}");
    assert_eq!(
        pause.window.as_ref().unwrap().stage.as_deref(),
        Some("pause")
    );
    assert_eq!(pause.window.as_ref().unwrap().from_s, 1.5);
    assert!(window.passed, "{window:?}");
    assert_eq!(report.config.stages.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_objective_marked_abort_on_fail_ends_the_run_early() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut config = ShopConfig::instant();
    config.checkout_error_rate = 1.0;
    let shop = demo_shop::spawn(config).await.unwrap();
    let started = std::time::Instant::now();
    let report = Scenario::new("abort")
        .seed(1)
        .target(shop.url())
        .agents([buy])
        .load(Load::rate(per_sec(50)).duration(secs(60)))
        .slo(error_rate().below(0.1).abort_on_fail())
        .run()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(15), "not aborted");
    assert_eq!(report.stop.reason, StopReason::ObjectiveLost);
    let detail = report.stop.detail.as_deref().unwrap();
    assert!(
        detail.contains("objective lost at 5.") && detail.contains("error rate below 10%"),
        "{detail}"
    );
    assert!(!report.objectives[0].passed);
}

/// A capacity search on `/serial`, which serves one request at a time for 5 ms (at most ~200/s,
/// less with timer slack): from `start` by 50/s, 1 s steps, one bisection, each rate `repeats`
/// times, judged by p99 below 100 ms.
async fn search_serial(name: &str, start: Rate, repeats: u32) -> windtunnel::report::LoadReport {
    let shop = demo_shop::spawn(ShopConfig::instant()).await.unwrap();
    Scenario::new(name)
        .seed(1)
        .target(shop.url())
        .agents([report_page])
        .load(
            Load::capacity(start)
                .step(per_sec(50))
                .hold(secs(1))
                .max(per_sec(400))
                .bisections(1)
                .repeats(repeats)
                .pool(20, 400),
        )
        .graceful_stop(ms(200))
        .slo(p99("report").below(ms(100)))
        .run()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capacity_search_finds_the_knee_of_a_single_connection_backend() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let report = search_serial("capacity", per_sec(50), 1).await;
    let c = report.capacity.as_ref().unwrap();
    let rate = c.rate.expect("50/s is well within capacity");
    assert!((50.0..250.0).contains(&rate), "capacity {rate}/s: {c:?}");
    assert_eq!(c.curve[0].rate, 50.0);
    assert!(c.curve[0].passed);
    let first_fail = c
        .curve
        .iter()
        .position(|s| !s.passed)
        .expect("a step failed");
    // Stepwise until the first failure, then one bisection step between.
    assert!(c.curve[..first_fail].iter().all(|s| s.passed));
    assert_eq!(c.curve.len(), first_fail + 2, "{c:?}");
    let bisect = &c.curve[first_fail + 1];
    assert_eq!(bisect.rate, c.curve[first_fail].rate - 25.0);
    assert_eq!(
        c.broke_first.as_deref(),
        Some("p99 latency of `report` below 100 ms")
    );
    // The objectives are reported as they held at the capacity found.
    assert!(report.objectives[0].passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_capacity_search_gives_an_interval_and_shows_the_knee_step() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let report = search_serial("capacity-repeats", per_sec(100), 2).await;
    let c = report.capacity.as_ref().unwrap();
    assert_eq!(c.repeats, 2);
    // Each rate ran twice, one repeat after the other.
    for pair in c.curve.chunks(2) {
        assert_eq!(pair.len(), 2, "{c:?}");
        assert_eq!((pair[0].rate, pair[0].repeat), (pair[1].rate, 1), "{c:?}");
        assert_eq!(pair[1].repeat, 2, "{c:?}");
    }
    let rate = c.rate.expect("100/s is within capacity");
    let [lo, hi] = c.interval.expect("a rate above the knee failed");
    assert!(lo <= rate && rate < hi, "{c:?}");
    assert!(!c.at_least && c.generator_bound_from.is_none(), "{c:?}");
    // The tables are the knee step's (one second at its rate), not the sum of every step.
    let started: u64 = c.curve.iter().map(|s| s.started).sum();
    let shown = report.total.count as f64;
    assert!(shown < started as f64 / 2.0, "{shown} of {started}");
    assert!(
        (shown - rate).abs() <= rate * 0.3 + 5.0,
        "{shown} at {rate}/s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capacity_search_that_reaches_its_maximum_says_at_least() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let shop = demo_shop::spawn(ShopConfig::instant()).await.unwrap();
    let report = Scenario::new("capacity-max")
        .seed(1)
        .target(shop.url())
        .agents([browse])
        .load(
            Load::capacity(per_sec(20))
                .step(per_sec(20))
                .hold(ms(500))
                .max(per_sec(40)),
        )
        .slo(p99(ALL).below(secs(1)))
        .run()
        .await
        .unwrap();
    let c = report.capacity.as_ref().unwrap();
    assert_eq!(c.rate, Some(40.0), "{c:?}");
    assert!(
        c.at_least && c.interval.is_none() && c.broke_first.is_none(),
        "{c:?}"
    );
}

/// Agent code that blocks its thread: the generator, not the SUT, is then what is slow.
#[agent]
async fn blocks_its_thread(a: &mut Agent) -> Result<()> {
    std::thread::sleep(Duration::from_millis(40));
    a.get("/products")
        .name("list")
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capacity_step_limited_by_the_generator_is_not_a_knee() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let shop = demo_shop::spawn(ShopConfig::instant()).await.unwrap();
    let report = Scenario::new("capacity-generator")
        .seed(1)
        .target(shop.url())
        .agents([blocks_its_thread])
        .load(
            Load::capacity(per_sec(200))
                .hold(secs(1))
                .max(per_sec(1000))
                .pool(50, 200),
        )
        .graceful_stop(ms(500))
        .slo(p99(ALL).below(ms(50)))
        .run()
        .await
        .unwrap();
    let c = report.capacity.as_ref().unwrap();
    assert_eq!(c.curve.len(), 1, "the search stops at the bound: {c:?}");
    let why = c.curve[0].generator_bound.as_deref().expect("bound");
    assert!(why.contains("started late"), "{why}");
    assert_eq!(c.generator_bound_from, Some(200.0));
    assert_eq!(c.rate, None);
    assert!(
        c.broke_first.is_none(),
        "a bound step breaks nothing: {c:?}"
    );
}

#[tokio::test]
async fn a_capacity_search_without_an_objective_is_an_error() {
    let err = Scenario::new("capacity-blind")
        .target("http://127.0.0.1:9")
        .agents([browse])
        .load(Load::capacity(per_sec(10)))
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(err, ScenarioError::InvalidObjective { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("a capacity search needs at least one objective"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_load_settings_fail_before_any_request_naming_the_field() {
    let err = |load: Load| async move {
        Scenario::new("bad")
            .target("http://127.0.0.1:9")
            .agents([browse])
            .load(load)
            .run()
            .await
            .unwrap_err()
    };
    for (load, want) in [
        (
            Load::rate(per_sec(0)).duration(secs(1)).into(),
            "`rate` must be a number above 0",
        ),
        (Load::ramping_rate([]).into(), "`stages` is empty"),
        (
            Load::ramping_users([stage(Duration::ZERO, 5)]).into(),
            "`stages[0].duration` must be above zero",
        ),
        (
            Load::rate(per_sec(10)).duration(secs(1)).pool(0, 0).into(),
            "`pool.max` must be at least 1 agent",
        ),
        (
            Load::rate(per_sec(2_000_000)).duration(secs(1)).into(),
            "more than any agent pool can sustain",
        ),
        (
            Load::capacity(per_sec(10)).repeats(0).into(),
            "`repeats` 0 is not between 1 and 100",
        ),
    ] {
        let e = err(load).await;
        assert!(matches!(e, ScenarioError::InvalidLoad { .. }), "{e:?}");
        assert!(e.to_string().contains(want), "{e} (wanted: {want})");
    }
}
