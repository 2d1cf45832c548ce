//! A green run is earned: a scenario passes only if a load ran and some iteration succeeded; a
//! selection that selects nothing is an error; a load whose iterations never await still ends;
//! SIGTERM is handled like Ctrl-C (in `harness_reports.rs`). Each case runs the fixture binary
//! as a subprocess under a hard time limit.

mod common;

use std::time::Duration;

use common::{FIXTURE, Run, assert_schema_valid, run_bin_within};

fn fixture(test: &str, args: &[&str]) -> Run {
    run_bin_within(FIXTURE, test, args, Duration::from_secs(60))
}

#[test]
fn a_body_that_never_awaits_its_load_fails_and_says_why() {
    let run = fixture("never-awaited", &["--exact", "never_awaited"]);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("the body returned without running a load: no request was sent"),
        "{}",
        run.stdout
    );
    let s = run.scenario("never_awaited");
    assert_eq!(s["outcome"], "failed");
    assert!(
        run.junit()
            .contains("the body returned without running a load")
    );
    assert_schema_valid(&run.report());

    let run = fixture("no-load", &["--exact", "deliberately_no_load"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn a_load_in_which_no_iteration_succeeded_fails() {
    let run = fixture(
        "every-iteration-fails",
        &["--exact", "every_iteration_fails"],
    );
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    let expected = "no iteration succeeded: 10 of 10 failed (first: agent `bails`, error: a field \
                    `total` is missing from the answer)";
    assert!(run.stdout.contains(expected), "{}", run.stdout);
    assert!(run.junit().contains(expected));
    let s = run.scenario("every_iteration_fails");
    assert_eq!(s["problems"][0], expected);
    // Shown per agent, on the terminal, in JUnit and as a finding.
    let line = "agent `bails`: 10 of 10 iterations failed (error) — a field `total` is missing";
    assert!(run.stdout.contains(line), "{}", run.stdout);
    assert!(run.junit().contains(line));
    let finding = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "iterations")
        .expect("an iterations finding");
    assert_eq!(finding["severity"], "critical");
    assert_eq!(finding["subject"], "agent bails error");
    assert_schema_valid(&run.report());
}

#[test]
fn throughput_says_what_it_counts_and_the_successful_one_fails() {
    let run = fixture("refused-throughput", &["--exact", "refused_throughput"]);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    let s = run.scenario("refused_throughput");
    let objectives = s["load"]["objectives"].as_array().unwrap();
    assert_eq!(
        objectives[0]["objective"],
        "throughput (failed requests included) at least 1 req/s"
    );
    assert_eq!(objectives[0]["passed"], true);
    assert_eq!(
        objectives[1]["objective"],
        "successful throughput at least 1 req/s"
    );
    assert_eq!(objectives[1]["actual"], 0.0);
    assert_eq!(objectives[1]["passed"], false);
    assert!(
        run.stdout
            .contains("objective not met: successful throughput at least 1 req/s"),
        "{}",
        run.stdout
    );
}

#[test]
fn iterations_that_never_await_still_end_on_time() {
    let run = fixture("spins", &["--exact", "spins"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let s = run.scenario("spins");
    assert_eq!(s["load"]["stop"]["reason"], "duration");
    assert!(
        s["duration_s"].as_f64().unwrap() < 5.0,
        "{}",
        s["duration_s"]
    );
    let completed = s["load"]["iterations"][0]["completed"].as_u64().unwrap();
    assert!(completed > 0, "{completed}");
}

#[test]
fn a_selection_that_selects_nothing_is_an_error_naming_what_exists() {
    let run = fixture("tag-typo", &["--tag", "smok"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("no scenario has the tag `smok`")
            && run.stderr.contains("did you mean `smoke`?"),
        "{}",
        run.stderr
    );
    let run = fixture("tag-empty", &["--tag", ""]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("a tag cannot be empty"),
        "{}",
        run.stderr
    );
    let run = fixture("filter-typo", &["passs", "--exact"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("no scenario matches the selection `passs`")
            && run.stderr.contains("did you mean `passes`?"),
        "{}",
        run.stderr
    );
    // The same under `--list`, which nextest never filters.
    let run = fixture("list-typo", &["--list", "--tag", "smok"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn an_unreachable_target_fails_in_every_run() {
    for i in 0..20 {
        let run = fixture("unreachable", &["--exact", "ignores_refusals"]);
        assert_eq!(run.code, 101, "run {i}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains(
                "the target never answered: all 4 request(s) sent failed without a response (connect: \
                 4)"
            ),
            "run {i}: {}",
            run.stdout
        );
    }
}

#[test]
fn requests_that_were_never_sent_count_as_failed() {
    let run = fixture("invalid", &["--exact", "invalid_requests"]);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("no request was sent: all 6 request(s) were invalid (first: http://"),
        "{}",
        run.stdout
    );
    let s = run.scenario("invalid_requests");
    let list = &s["load"]["requests"][0];
    assert_eq!(list["name"], "list");
    assert_eq!(list["count"], 6);
    assert_eq!(list["failed"], 6);
    assert_eq!(list["errors"][0]["kind"], "invalid");
    let sample = list["errors"][0]["samples"][0].as_str().unwrap();
    assert!(sample.contains("invalid header `x-note: "), "{sample}");
    assert_eq!(list["latency_ms"]["max"], 0.0, "never sent: no latency");
    assert_schema_valid(&run.report());
}

#[test]
fn requests_in_flight_at_the_end_count_as_unanswered() {
    let run = fixture("black-hole", &["--exact", "never_answers"]);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "the target never answered: all 3 request(s) sent failed without a \
                             response (unfinished: 3)"
        ),
        "{}",
        run.stdout
    );
    let s = run.scenario("never_answers");
    let list = &s["load"]["requests"][0];
    assert_eq!(list["failed"], 3, "{list}");
    assert_eq!(list["errors"][0]["kind"], "unfinished");
    // Held from the start of the load until the end of the graceful stop: about 0.7 s.
    let max = list["latency_ms"]["max"].as_f64().unwrap();
    assert!(max >= 600.0, "{max}");
    assert_eq!(s["load"]["cancelled_iterations"], 3);
    assert_schema_valid(&run.report());
}

#[test]
fn every_iteration_due_is_started_or_dropped() {
    for i in 0..20 {
        let run = fixture("open-tail", &["--exact", "open_tail"]);
        let s = run.scenario("open_tail");
        let schedule = &s["load"]["schedule"];
        let started = schedule["started"].as_u64().unwrap();
        let dropped = schedule["dropped"].as_u64().unwrap();
        assert_eq!(
            started + dropped,
            2000,
            "run {i}: {started} started, {dropped} dropped"
        );
    }
}

#[test]
fn an_open_model_that_drops_most_iterations_fails() {
    let run = fixture("drops", &["--exact", "drops_most"]);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("the load did not run as planned: ")
            && run.stdout.contains("due iterations"),
        "{}",
        run.stdout
    );
    let s = run.scenario("drops_most");
    let dropped = s["load"]["schedule"]["dropped"].as_u64().unwrap();
    assert!(dropped >= 50, "{dropped}");
    let finding = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "dropped")
        .expect("a dropped finding");
    assert_eq!(finding["severity"], "high");
    assert_eq!(finding["evidence"]["count"], dropped);
    assert_schema_valid(&run.report());
}

#[test]
fn a_generator_that_starts_iterations_late_makes_the_run_inconclusive() {
    let run = fixture("generator-bound", &["--exact", "generator_bound"]);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("INCONCLUSIVE")
            && run
                .stdout
                .contains("iterations started late: start lateness p99")
            && run
                .stdout
                .contains("beyond 100.0 ms (the bound with no latency objective)"),
        "{}",
        run.stdout
    );
    let s = run.scenario("generator_bound");
    assert_eq!(s["outcome"], "inconclusive");
    assert!(
        s["problems"].as_array().unwrap().is_empty(),
        "{}",
        s["problems"]
    );
    assert!(
        s["doubts"][0]
            .as_str()
            .unwrap()
            .starts_with("iterations started late")
    );
    assert!(s["load"]["generator"]["cores"].as_u64().unwrap() >= 1);
    let finding = &s["findings"][0];
    assert_eq!(
        (&finding["rule"], &finding["subject"], &finding["severity"]),
        (
            &"inconclusive".into(),
            &"generator lateness".into(),
            &"critical".into()
        )
    );
    let junit = run.junit();
    assert!(junit.contains("type=\"inconclusive\""), "{junit}");
    assert!(junit.contains("message=\"inconclusive: iterations started late"));
    assert_schema_valid(&run.report());
    common::xmllint_validates(&run.out.join("latest").join("junit.xml"));

    // `--inconclusive warn`: it passes, with the doubt as a warning.
    let run = fixture(
        "generator-bound-warn",
        &["--exact", "generator_bound", "--inconclusive", "warn"],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("? warning: measurement in doubt: iterations started late"),
        "{}",
        run.stdout
    );
    let s = run.scenario("generator_bound");
    assert_eq!(s["outcome"], "passed");
    assert_eq!(s["doubts"].as_array().unwrap().len(), 1);
    assert!(!run.junit().contains("<failure"));
}

#[test]
fn running_out_of_file_descriptors_is_an_error_naming_the_limit() {
    // A hard limit of 64 open files, which windtunnel cannot raise: 100 connections do not fit.
    let out = common::out_dir("out-of-files");
    let mut cmd = common::command("sh", &out);
    cmd.args([
        "-c",
        "ulimit -n 64 && exec \"$0\" \"$@\"",
        FIXTURE,
        "--exact",
        "many_connections",
    ]);
    let run = common::run_within(cmd, Duration::from_secs(60), &out);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    let expected = "out of file descriptors: this process may open 64 files (the soft limit, \
                    raised to the hard limit at start); raise the hard limit";
    assert!(run.stdout.contains(expected), "{}", run.stdout);
    let s = run.scenario("many_connections");
    let errors = s["load"]["requests"][0]["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["kind"] == "connect"
                && e["samples"][0].as_str().unwrap().starts_with(expected)),
        "{errors:?}"
    );
}
