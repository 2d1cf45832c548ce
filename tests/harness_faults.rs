//! Faults in the SUT, in agent code and in scenario bodies: each ends the scenario as it should,
//! is counted, and shows in the failure message and the report. Nothing hangs, nothing passes
//! silently, and the harness survives.

mod common;

use std::time::Instant;

use common::fixture;

#[test]
fn a_refused_target_fails_fast_with_the_address_and_error_count() {
    let started = Instant::now();
    let run = fixture("refused", &["--exact", "refused"]);
    assert_eq!(run.code, 101, "{}\n{}", run.stdout, run.stderr);
    // The scenario asks for 30 s of load; it must give up long before.
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        run.stdout
            .contains("the load was aborted: target http://127.0.0.1:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("connection errors and no response"),
        "{}",
        run.stdout
    );
    let s = run.scenario("refused");
    assert_eq!(s["outcome"], "failed");
    assert_eq!(s["load"]["stop"]["reason"], "aborted");
    let total = &s["load"]["total"];
    assert_eq!(total["count"], total["failed"]);
    assert_eq!(total["errors"][0]["kind"], "connect");
}

#[test]
fn a_hanging_sut_is_cut_by_the_request_timeout_and_reported() {
    let run = fixture("hangs", &["--exact", "hangs"]);
    assert_eq!(run.code, 101);
    let hang = &run.scenario("hangs")["load"]["requests"][0];
    assert_eq!(hang["name"], "hang");
    assert_eq!(hang["count"], 4);
    assert_eq!(hang["errors"][0]["kind"], "timeout");
    assert_eq!(hang["errors"][0]["count"], 4);
    // Latency includes the wait: about the 300 ms timeout, not zero.
    let p50 = hang["latency_ms"]["p50"].as_f64().unwrap();
    assert!((290.0..2000.0).contains(&p50), "p50 {p50}");
}

#[test]
fn the_scenario_timeout_ends_a_run_and_keeps_what_was_measured() {
    let run = fixture("times-out", &["--exact", "times_out"]);
    assert_eq!(run.code, 101);
    assert!(
        run.stdout.contains("the scenario timed out after 1s"),
        "{}",
        run.stdout
    );
    let s = run.scenario("times_out");
    assert_eq!(s["load"]["stop"]["reason"], "timed_out");
    assert!(
        s["load"]["requests"][0]["count"].as_u64().unwrap() > 0,
        "{s:#}"
    );
    let d = s["duration_s"].as_f64().unwrap();
    assert!((0.9..5.0).contains(&d), "duration {d}");
}

#[test]
fn agent_panics_are_caught_counted_with_ids_and_fail_the_scenario() {
    let run = fixture("agent-panics", &["--exact", "agent_panics"]);
    assert_eq!(
        run.code, 101,
        "the harness survived and reported: {}",
        run.stderr
    );
    assert!(
        run.stdout.contains("4 agent iteration(s) panicked"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("gave up (at fixtures/scenarios.rs:"),
        "{}",
        run.stdout
    );
    let it = &run.scenario("agent_panics")["load"]["iterations"][0];
    assert_eq!(it["agent"], "panicker");
    assert_eq!(it["panicked"], 4);
    assert_eq!(it["completed"], 8, "the run went on after the panics");
    let ids: Vec<u64> = it["panics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["agent_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap())
        })
        .collect();
    assert!(ids.contains(&0) && ids.contains(&1), "{it:#}");
    // The panic is a finding: a bug, high (not every iteration panicked).
    let findings = &run.scenario("agent_panics")["findings"];
    let panic = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "panic")
        .unwrap_or_else(|| panic!("no panic finding in {findings:#}"));
    assert_eq!(
        (&panic["type"], &panic["severity"]),
        (&"bug".into(), &"high".into())
    );
    assert_eq!(panic["evidence"]["count"], 4);
    assert_eq!(panic["evidence"]["total"], 12);
    // Caught panics do not spill backtraces onto stderr.
    assert!(!run.stderr.contains("gave up"), "{}", run.stderr);
}

#[test]
fn body_errors_and_panics_fail_with_their_message() {
    let run = fixture("body-errors", &["--exact", "body_errors"]);
    assert_eq!(run.code, 101);
    assert!(
        run.stdout
            .contains("the scenario returned an error: the SUT said no"),
        "{}",
        run.stdout
    );
    let run = fixture("body-panics", &["--exact", "body_panics"]);
    assert_eq!(run.code, 101);
    assert!(
        run.stdout
            .contains("the scenario panicked: scenario body panicked on purpose"),
        "{}",
        run.stdout
    );
    assert_eq!(run.scenario("body_panics")["outcome"], "failed");
}

#[test]
fn the_graceful_stop_is_bounded_and_cancelled_iterations_are_counted() {
    let started = Instant::now();
    let run = fixture("graceful", &["--exact", "graceful_cancel"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    // 300 ms of load + 200 ms of grace, not the 60 s the agents would sleep.
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    let load = &run.scenario("graceful_cancel")["load"];
    assert_eq!(load["cancelled_iterations"], 2);
    assert_eq!(load["stop"]["reason"], "duration");
    assert!(
        run.stdout.contains("2 in-flight iterations cancelled"),
        "{}",
        run.stdout
    );
}

#[test]
fn incomplete_configurations_fail_before_any_request() {
    let run = fixture("no-target", &["--exact", "no_target"]);
    assert_eq!(run.code, 101);
    assert!(
        run.stdout
            .contains("scenario `no_target` has no target: set one with `.target(url)`"),
        "{}",
        run.stdout
    );
    assert!(run.scenario("no_target")["load"].is_null());
    let run = fixture("unbounded", &["--exact", "unbounded"]);
    assert_eq!(run.code, 101);
    assert!(
        run.stdout
            .contains("invalid load: `duration` is not set, nor are iterations"),
        "{}",
        run.stdout
    );
}
