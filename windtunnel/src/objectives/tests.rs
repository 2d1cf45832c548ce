use super::*;
use crate::metrics::{Outcome, Recorder};
use crate::ms;

fn snapshot() -> MetricsSnapshot {
    let rec = Recorder::new();
    // 99 fast requests at 10 ms and one slow at 900 ms, plus one failure.
    for _ in 0..99 {
        let ok = Outcome::Response {
            status: 200,
            accepted: true,
            detail: &String::new,
        };
        rec.record("list", Duration::from_millis(10), ok);
    }
    let slow = Outcome::Response {
        status: 503,
        accepted: false,
        detail: &|| "503".into(),
    };
    rec.record("checkout", Duration::from_millis(900), slow);
    rec.check("list: status 200", true, String::new);
    rec.check("list: status 200", true, String::new);
    rec.check("checkout: status 200", false, || "got 503".into());
    rec.snapshot()
}

#[test]
fn latency_objectives_compare_strictly_against_the_merged_histogram() {
    let snap = snapshot();
    let secs = Duration::from_secs(10);
    let r = p99(ALL)
        .below(Duration::from_millis(11))
        .evaluate(&snap, secs, None);
    assert!(r.passed, "{r:?}");
    assert!((r.actual.unwrap() - 10.0).abs() < 0.02);
    let r = max_latency("checkout")
        .below(Duration::from_millis(500))
        .evaluate(&snap, secs, None);
    assert!(!r.passed);
    assert!((r.actual.unwrap() - 900.0).abs() < 1.0);
    assert_eq!(r.metric, "max");
    assert_eq!(r.scope.as_deref(), Some("checkout"));
    let r = p999(ALL)
        .below(Duration::from_millis(100))
        .evaluate(&snap, secs, None);
    assert!(!r.passed);
    assert_eq!(r.metric, "p99.9");
}

#[test]
fn rates_and_throughput() {
    let snap = snapshot();
    let secs = Duration::from_secs(10);
    let r = error_rate().below(0.01).evaluate(&snap, secs, None);
    assert_eq!(r.actual, Some(0.01));
    assert!(!r.passed, "1% is not below 1%");
    assert!(
        error_rate()
            .of("list")
            .below(0.01)
            .evaluate(&snap, secs, None)
            .passed
    );
    let r = throughput().at_least(10.0).evaluate(&snap, secs, None);
    assert_eq!(r.actual, Some(10.0));
    assert!(r.passed);
    assert!(
        !throughput()
            .of("list")
            .at_least(10.0)
            .evaluate(&snap, secs, None)
            .passed
    );
    let r = check_pass_rate().at_least(0.6).evaluate(&snap, secs, None);
    assert!(r.passed);
    assert!((r.actual.unwrap() - 2.0 / 3.0).abs() < 1e-9);
}

#[test]
fn successful_throughput_counts_only_what_succeeded() {
    let snap = snapshot();
    let secs = Duration::from_secs(10);
    // 100 requests, 1 failed, over 10 s.
    let r = successful_throughput()
        .at_least(9.95)
        .evaluate(&snap, secs, None);
    assert_eq!(r.actual, Some(9.9));
    assert!(!r.passed);
    assert_eq!(r.metric, "successful_throughput");
    assert_eq!(
        successful_throughput().at_least(5.0).to_string(),
        "successful throughput at least 5 req/s"
    );
}

#[test]
fn iteration_failures_and_drops_are_judged_on_their_counts() {
    use crate::metrics::IterationOutcome;
    let rec = Recorder::new();
    for i in 0..10 {
        let outcome = if i < 3 {
            IterationOutcome::Failed {
                class: "error",
                message: "no total",
                injected: false,
            }
        } else {
            IterationOutcome::Completed
        };
        rec.iteration("buyer", outcome);
    }
    rec.iteration("lister", IterationOutcome::Completed);
    let now = tokio::time::Instant::now();
    for _ in 0..3 {
        rec.iteration_started(Duration::ZERO);
    }
    rec.iteration_dropped(now);
    let snap = rec.snapshot();
    let secs = Duration::from_secs(1);
    let r = iteration_failure_rate()
        .below(0.25)
        .evaluate(&snap, secs, None);
    assert!((r.actual.unwrap() - 3.0 / 11.0).abs() < 1e-9, "{r:?}");
    assert!(!r.passed);
    let r = iteration_failure_rate()
        .of("buyer")
        .below(0.31)
        .evaluate(&snap, secs, None);
    assert!(r.passed, "{r:?}");
    let r = iteration_failure_rate()
        .of("byuer")
        .below(0.5)
        .evaluate(&snap, secs, None);
    assert!(r.detail.unwrap().contains("recorded: buyer, lister"));
    let r = dropped_iterations().below(0.3).evaluate(&snap, secs, None);
    assert_eq!(r.actual, Some(0.25));
    assert!(r.passed);
    let r = dropped_iteration_count()
        .below(1.0)
        .evaluate(&snap, secs, None);
    assert_eq!((r.actual, r.passed), (Some(1.0), false));
    assert_eq!(r.unit, "iterations");
    let none = dropped_iterations()
        .below(0.5)
        .evaluate(&MetricsSnapshot::default(), secs, None);
    assert_eq!(none.detail.as_deref(), Some("no iteration was due"));
    assert!(!none.passed);
}

#[test]
fn iteration_durations_are_judged_per_agent_or_overall() {
    use crate::metrics::IterationOutcome;
    let rec = Recorder::new();
    for ms in 1..=100u64 {
        rec.iteration_ended(
            "buyer",
            IterationOutcome::Completed,
            Duration::from_millis(ms * 10),
        );
    }
    rec.iteration_ended(
        "lister",
        IterationOutcome::Completed,
        Duration::from_millis(5),
    );
    let snap = rec.snapshot();
    let secs = Duration::from_secs(1);
    let r = iteration_p95("buyer")
        .below(Duration::from_millis(900))
        .evaluate(&snap, secs, None);
    assert!((r.actual.unwrap() - 950.0).abs() < 1.0, "{r:?}");
    assert!(!r.passed);
    assert_eq!(
        (r.metric.as_str(), r.unit.as_str()),
        ("iteration_p95", "ms")
    );
    let r = iteration_max(ALL)
        .below(Duration::from_secs(2))
        .evaluate(&snap, secs, None);
    assert!(r.passed, "{r:?}");
    let r = iteration_p50("nobody")
        .below(Duration::from_secs(1))
        .evaluate(&snap, secs, None);
    assert!(r.detail.unwrap().contains("recorded: buyer, lister"));
    assert_eq!(
        iteration_max(ALL).below(Duration::from_secs(1)).to_string(),
        "max iteration duration below 1000 ms"
    );
}

#[test]
fn unknown_names_fail_with_the_names_that_exist() {
    let r = p99("add to kart").below(Duration::from_secs(1)).evaluate(
        &snapshot(),
        Duration::from_secs(1),
        None,
    );
    assert!(!r.passed);
    assert_eq!(r.actual, None);
    let detail = r.detail.unwrap();
    assert!(
        detail.contains("no requests named `add to kart`"),
        "{detail}"
    );
    assert!(detail.contains("checkout, list"), "{detail}");
    let empty = MetricsSnapshot::default();
    let r = error_rate()
        .below(0.5)
        .evaluate(&empty, Duration::from_secs(1), None);
    assert_eq!(r.detail.as_deref(), Some("no requests were recorded"));
}

#[test]
fn objectives_that_cannot_be_judged_say_why() {
    let problem = |o: Objective, open: bool| o.problem(open).unwrap_or_default();
    assert!(
        problem(p99(ALL).from_intended_start().below(ms(5)), false)
            .contains("a closed model has no intended start")
    );
    assert_eq!(
        problem(p99(ALL).from_intended_start().below(ms(5)), true),
        ""
    );
    assert!(
        problem(check_pass_rate().at_least(0.9).during("peak"), true)
            .contains("check pass rates cannot be scoped to a window")
    );
    assert!(
        problem(error_rate().below(0.1).between(ms(500), ms(100)), true)
            .contains("the window ends before it starts")
    );
    assert!(
        problem(dropped_iterations().below(0.1), false)
            .contains("a closed model drops no iterations")
    );
    assert!(
        problem(iteration_failure_rate().below(0.1).during("peak"), true)
            .contains("iteration failure rates cannot be scoped to a window")
    );
    assert!(
        problem(error_rate().below(-0.1), true)
            .contains("the threshold must be a number of at least 0")
    );
}

#[test]
fn labels_read_well() {
    assert_eq!(
        p999(ALL).below(Duration::from_micros(1500)).to_string(),
        "p99.9 latency below 1.5 ms"
    );
    assert_eq!(
        throughput().of("list").at_least(50.0).to_string(),
        "throughput (failed requests included) of `list` at least 50 req/s"
    );
    assert_eq!(
        check_pass_rate().at_least(0.995).to_string(),
        "check pass rate at least 99.5%"
    );
    assert_eq!(
        max_latency("x").below(Duration::from_secs(2)).to_string(),
        "max latency of `x` below 2000 ms"
    );
}
