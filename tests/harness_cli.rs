//! The harness's command line: listing, selection by name and tag, windtunnel's own flags, and
//! clear errors for what it does not accept.

mod common;

use common::{DUPLICATES, fixture, run_bin};

fn listed(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .collect()
}

#[test]
fn list_prints_only_name_lines_sorted_including_library_scenarios() {
    // nextest lists with exactly these flags and accepts nothing but `NAME: test` lines.
    let run = fixture("list", &["--list", "--format", "terse"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let names = listed(&run.stdout);
    assert_eq!(
        names.len(),
        run.stdout.lines().count(),
        "only `NAME: test` lines:\n{}",
        run.stdout
    );
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for expected in ["passes", "slo_fails", "refused", "long", "smoke::health"] {
        assert!(
            names.contains(&expected),
            "`{expected}` not listed: {names:?}"
        );
    }
    // No report is written for a listing.
    assert!(!run.out.join("latest").exists());
}

#[test]
fn ignored_listing_shows_only_ignored_scenarios() {
    let run = fixture(
        "list-ignored",
        &["--list", "--format", "terse", "--ignored"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(listed(&run.stdout), ["ignored", "long"]);
}

#[test]
fn filters_exact_and_skip_select_by_name() {
    let run = fixture("filter", &["--list", "--format", "terse", "body_"]);
    assert_eq!(listed(&run.stdout), ["body_errors", "body_panics"]);
    let run = fixture(
        "exact",
        &["--list", "--format", "terse", "--exact", "smoke::health"],
    );
    assert_eq!(listed(&run.stdout), ["smoke::health"]);
    let run = fixture(
        "skip",
        &["--list", "--format", "terse", "body_", "--skip", "panics"],
    );
    assert_eq!(listed(&run.stdout), ["body_errors"]);
}

#[test]
fn tags_select_scenarios_from_flags_and_environment() {
    let run = fixture("tags", &["--list", "--format", "terse", "--tag", "smoke"]);
    assert_eq!(listed(&run.stdout), ["smoke::health", "tagged_smoke"]);
    let run = fixture(
        "tags-two",
        &[
            "--list",
            "--format",
            "terse",
            "--tag=smoke",
            "--tag",
            "quick",
        ],
    );
    assert_eq!(
        listed(&run.stdout),
        ["passes", "smoke::health", "tagged_smoke"]
    );
    let out = common::out_dir("tags-env");
    let run = common::fixture_in(
        &out,
        &["--list", "--format", "terse"],
        &[("WINDTUNNEL_TAGS", "quick")],
    );
    assert_eq!(listed(&run.stdout), ["passes"]);
}

#[test]
fn unknown_flags_are_an_error_listing_what_is_accepted() {
    let run = fixture("unknown-flag", &["--usres", "5"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("error: unknown flag `--usres` (did you mean `--users`?)"),
        "{}",
        run.stderr
    );
    for flag in [
        "--seed <N>",
        "--target <URL>",
        "--tag <TAG>",
        "--out <DIR>",
        "--exact",
        "--skip",
    ] {
        assert!(
            run.stderr.contains(flag),
            "`{flag}` missing from:\n{}",
            run.stderr
        );
    }
    assert!(run.stdout.is_empty(), "nothing ran: {}", run.stdout);
}

#[test]
fn bad_values_name_the_flag_or_variable() {
    let run = fixture("bad-seed", &["--seed", "seven"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("invalid value `seven` for flag `--seed`"),
        "{}",
        run.stderr
    );
    let out = common::out_dir("bad-target-env");
    let run = common::fixture_in(
        &out,
        &["--exact", "passes"],
        &[("WINDTUNNEL_TARGET", "127.0.0.1:80")],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("invalid value `127.0.0.1:80` for environment variable `WINDTUNNEL_TARGET`"),
        "{}",
        run.stderr
    );
    let run = fixture(
        "bad-turbulence",
        &["--turbulence", "brownout@10s..20s: delay=300ms p=1.5"],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "invalid value `brownout@10s..20s: delay=300ms p=1.5` for flag `--turbulence`: \
             phase 1 (`brownout@10s..20s: delay=300ms p=1.5`): rule 1 (`delay=300ms p=1.5`): \
             probability 1.5 is outside 0..=1"
        ),
        "{}",
        run.stderr
    );
    let out = common::out_dir("bad-turbulence-env");
    let run = common::fixture_in(
        &out,
        &["--exact", "passes"],
        &[("WINDTUNNEL_TURBULENCE", "x: wobble")],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("for environment variable `WINDTUNNEL_TURBULENCE`: phase 1 (`x: wobble`): rule 1 (`wobble`): unknown fault or toxic `wobble`"),
        "{}",
        run.stderr
    );
    let run = fixture("missing-value", &["--target"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("flag `--target` needs a value"),
        "{}",
        run.stderr
    );
}

#[test]
fn help_shows_windtunnel_flags_too() {
    let run = fixture("help", &["--help"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("--include-ignored") && run.stdout.contains("--seed <N>"),
        "{}",
        run.stdout
    );
}

#[test]
fn duplicate_scenario_names_stop_the_run_before_anything_runs() {
    let run = run_bin(DUPLICATES, "duplicates", &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("two scenarios are named `other::x`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("fixtures/duplicates.rs:"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains("running"), "{}", run.stdout);
}

#[test]
fn logs_go_to_stderr_only_when_asked() {
    let quiet = fixture("log-off", &["--exact", "passes"]);
    assert_eq!(quiet.code, 0);
    assert!(!quiet.stderr.contains("load starting"), "{}", quiet.stderr);
    let loud = fixture(
        "log-on",
        &["--exact", "passes", "--log", "windtunnel=debug"],
    );
    assert_eq!(loud.code, 0, "{}", loud.stderr);
    assert!(loud.stderr.contains("load starting"), "{}", loud.stderr);
    assert!(
        loud.stderr.contains("scenario{name=passes"),
        "the scenario span: {}",
        loud.stderr
    );
    assert!(
        !loud.stdout.contains("load starting"),
        "logs stay off stdout"
    );
}

#[test]
fn json_output_is_only_json_and_the_summary_goes_to_stderr() {
    for (name, code) in [("passes", 0), ("body_errors", 101)] {
        let run = fixture(
            &format!("json-{name}"),
            &["--exact", name, "--format", "json"],
        );
        assert_eq!(run.code, code, "{}\n{}", run.stdout, run.stderr);
        let lines: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert!(!lines.is_empty(), "libtest's events: {}", run.stderr);
        for line in lines {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object a line ({e}): {line:?}"));
            assert!(event.get("type").is_some(), "{line}");
        }
        assert!(
            run.stderr.contains(&format!("── {name} ──")),
            "the summary: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("windtunnel: reports in"),
            "{}",
            run.stderr
        );
    }
}
