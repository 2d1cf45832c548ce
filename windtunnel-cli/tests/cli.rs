//! The `windtunnel` command end to end, on reports written by real runs (`tests/fixtures`: the
//! harness's `passes`, `slo_fails` and `hangs` fixture scenarios) and copies of them changed the
//! way a regression or a broken file would change them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.json"))
}

fn read(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

fn scratch(test: &str) -> PathBuf {
    common::scratch("cli", test)
}

/// Stores `report` as run `id` under `root` (the harness's layout).
fn store(root: &Path, id: &str, mut report: Value) -> PathBuf {
    report["run_id"] = json!(id);
    let dir = root.join("runs").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    path
}

fn windtunnel(args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_windtunnel"))
        .args(args)
        .env_remove("WINDTUNNEL_OUT")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("the windtunnel binary runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_command_has_help() {
    for cmd in [
        &["--help"][..],
        &["report", "--help"],
        &["runs", "--help"],
        &["findings", "--help"],
        &["compare", "--help"],
        &["replay", "--help"],
    ] {
        let (code, out, err) = windtunnel(cmd);
        assert_eq!(code, 0, "{cmd:?}: {err}");
        assert!(out.contains("Usage: windtunnel"), "{cmd:?}: {out}");
    }
}

#[test]
fn report_prints_the_summary_and_writes_the_html_again() {
    let root = scratch("report");
    let path = store(&root, "r1", read("slo-fails"));
    let (code, out, err) = windtunnel(&["--root", s(&root), "report", "r1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("── slo_fails ── FAILED"), "{out}");
    assert!(
        out.contains("FAIL  p99 latency of `list` below 0.001 ms"),
        "{out}"
    );
    let html = std::fs::read_to_string(path.with_file_name("report.html")).unwrap();
    assert!(html.contains("<h2>slo_fails <span class=\"badge failed\">failed</span></h2>"));
    // `latest`, a path to the file and --json work too.
    std::os::unix::fs::symlink("runs/r1", root.join("latest")).unwrap();
    let (code, out, _) = windtunnel(&["--root", s(&root), "report", "latest", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["run_id"], "r1");
    assert_eq!(v["scenarios"][0]["findings"][0]["type"], "performance");
    let (code, _, _) = windtunnel(&["report", s(&path)]);
    assert_eq!(code, 0);
}

#[test]
fn broken_missing_and_newer_reports_are_clear_errors() {
    let root = scratch("bad-input");
    let good = std::fs::read_to_string(fixture("passing")).unwrap();
    let truncated = root.join("truncated.json");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let (code, _, err) = windtunnel(&["report", s(&truncated)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("truncated.json` is not valid JSON (line") && err.contains("EOF"),
        "{err}"
    );
    let mut newer = read("passing");
    newer["schema_version"] = json!(99);
    let newer_path = root.join("newer.json");
    std::fs::write(&newer_path, newer.to_string()).unwrap();
    let (code, _, err) = windtunnel(&["report", s(&newer_path)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("has report schema 99, newer than this windtunnel reads (3 to 8)"),
        "{err}"
    );
    let not_a_report = root.join("other.json");
    std::fs::write(&not_a_report, r#"{"schema_version": 4, "hello": 1}"#).unwrap();
    let (code, _, err) = windtunnel(&["report", s(&not_a_report)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("other.json` is not a windtunnel report: missing field"),
        "{err}"
    );
    let (code, _, err) = windtunnel(&["--root", s(&root), "report", "no-such-run"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no run `no-such-run`") && err.contains("windtunnel runs"),
        "{err}"
    );
    let (code, _, err) = windtunnel(&["compare", "--latency-tolerance", "-5", "a", "b"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn runs_are_listed_newest_first_and_pruned_on_request() {
    let root = scratch("runs");
    let mut old = read("passing");
    old["started_at"] = json!("2026-01-01T00:00:00Z");
    store(&root, "old", old);
    store(&root, "newer", read("slo-fails"));
    store(&root, "newest", read("passing"));
    std::fs::create_dir_all(root.join("runs/broken")).unwrap();
    std::fs::write(root.join("runs/broken/report.json"), "{").unwrap();
    let (code, out, err) = windtunnel(&["--root", s(&root), "runs"]);
    assert_eq!(code, 0, "{err}");
    let order: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(order, ["newest", "newer", "old", "broken"], "{out}");
    assert!(out.contains("newer") && out.contains("failed"), "{out}");
    assert!(
        out.contains("broken") && out.contains("unreadable"),
        "{out}"
    );
    let (code, out, _) = windtunnel(&["--root", s(&root), "runs", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["id"], "newest");
    assert_eq!(v[0]["scenarios"][0]["seed"], 7);
    // Keep 2: the oldest readable run goes; the broken one looks like a run still being written
    // (incomplete, just changed) and stays.
    let (code, _, err) = windtunnel(&["--root", s(&root), "runs", "--keep", "2"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("deleted") && err.contains("old"), "{err}");
    assert!(!root.join("runs/old").exists());
    assert!(root.join("runs/newer").exists() && root.join("runs/broken").exists());
}

#[test]
fn findings_of_many_runs_are_grouped_with_first_and_last_seen() {
    let root = scratch("findings");
    let mut first = read("slo-fails");
    first["started_at"] = json!("2026-11-01T00:00:00Z");
    store(&root, "a", first);
    store(&root, "b", read("slo-fails"));
    let hangs = store(&root.join("elsewhere"), "c", read("hangs"));
    let (code, out, err) = windtunnel(&["findings", s(&root), s(&hangs), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runs"], 3);
    let rows = v["findings"].as_array().unwrap();
    let slo: Vec<&Value> = rows
        .iter()
        .filter(|r| r["scenario"] == "slo_fails")
        .collect();
    assert!(!slo.is_empty(), "{out}");
    for r in &slo {
        assert_eq!(r["runs"], 2, "{r}");
        assert_eq!(r["first_seen"], "2026-11-01T00:00:00Z");
        assert_eq!(r["last_run"], "b");
    }
    let hang = rows
        .iter()
        .find(|r| r["scenario"] == "hangs" && r["rule"] == "errors")
        .unwrap();
    assert_eq!(
        (&hang["type"], &hang["severity"]),
        (&json!("performance"), &json!("critical"))
    );
    // Worst first.
    let severities: Vec<&str> = rows
        .iter()
        .map(|r| r["severity"].as_str().unwrap())
        .collect();
    let rank = |s: &str| {
        ["critical", "high", "medium", "low", "info"]
            .iter()
            .position(|x| *x == s)
    };
    assert!(
        severities.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
        "{severities:?}"
    );
    let (code, table, _) = windtunnel(&["findings", s(&root)]);
    assert_eq!(code, 0);
    assert!(
        table.starts_with(&format!("{} finding(s) in 2 run(s)", slo.len())),
        "{table}"
    );
    let (code, _, err) = windtunnel(&["findings", "/nonexistent/runs"]);
    assert_eq!(code, 2);
    assert!(err.contains("`/nonexistent/runs` does not exist"), "{err}");
}

#[test]
fn compare_never_judges_raw_deltas_but_counts_a_lost_objective() {
    // These fixtures predate exact histograms: their requests have no noise to judge by.
    let root = scratch("compare");
    let base = store(&root, "base", read("passing"));
    let same = store(&root, "same", read("passing"));
    let (code, out, err) = windtunnel(&["compare", s(&base), s(&same)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("no exact histograms") && out.contains("raw deltas"),
        "{out}"
    );
    assert!(out.contains("no regression"), "{out}");

    // p99 three times slower: not judged without histograms; an objective lost: a regression.
    let mut worse = read("passing");
    let load = &mut worse["scenarios"][0]["load"];
    let r = load.pointer_mut("/total").unwrap();
    let p99 = r["latency_ms"]["p99"].as_f64().unwrap();
    r["latency_ms"]["p99"] = json!(p99 * 3.0 + 10.0);
    load["objectives"][0]["passed"] = json!(false);
    let worse = store(&root, "worse", worse);
    let (code, out, _) = windtunnel(&["compare", s(&base), s(&worse), "--json"]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["regressions"], 1, "{out}");
    let lost: Vec<&Value> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["verdict"] == "regression")
        .collect();
    assert_eq!(lost[0]["metric"], "objective", "{out}");
}

#[test]
fn compare_between_different_scenarios_says_so() {
    let root = scratch("compare-different");
    let a = store(&root, "a", read("passing"));
    let b = store(&root, "b", read("hangs"));
    let (code, _, err) = windtunnel(&["compare", s(&a), s(&b)]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the runs ran different scenarios (base: passes; new: hangs)"),
        "{err}"
    );
}

/// A stand-in for the test binary `wt-fixture`, inside the target directory as a real one is:
/// it records its arguments and writes `report` where windtunnel tells it (WINDTUNNEL_OUT,
/// WINDTUNNEL_RUN_ID), as a run would.
fn fake_binary(dir: &Path, name: &str, report: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let bin = dir.join(name);
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{args}'\nmkdir -p \"$WINDTUNNEL_OUT/runs/$WINDTUNNEL_RUN_ID\" \
             && cp '{report}' \"$WINDTUNNEL_OUT/runs/$WINDTUNNEL_RUN_ID/report.json\"\n",
            args = dir.join(format!("{name}.args")).display(),
            report = report.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// The `passing` fixture, replayed by `bin` with `flags`.
fn replayable(bin: &Path, flags: Value) -> Value {
    let mut r = read("passing");
    r["scenarios"][0]["rerun"] = json!({
        "runner": { "kind": "binary", "path": bin },
        "scenario": "passes",
        "seed": 7,
        "flags": flags,
    });
    r
}

#[test]
fn replay_runs_the_rebuilt_command_and_says_where_the_new_run_differs() {
    let root = scratch("replay");
    let bin = fake_binary(&root, "wt-fixture", &fixture("passing"));
    let same = store(
        &root,
        "same",
        replayable(&bin, json!(["--users", "2; touch x"])),
    );
    let (code, out, err) = windtunnel(&["--root", s(&root), "replay", s(&same)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("passes: the replay matches (seed 7)"), "{out}");
    // Each field is one argument: nothing went through a shell.
    let args = std::fs::read_to_string(root.join("wt-fixture.args")).unwrap();
    assert_eq!(
        args, "--exact\npasses\n--seed\n7\n--users\n2; touch x\n",
        "{args}"
    );
    assert!(!Path::new("x").exists());

    // The replay fails an objective the stored run held.
    let worse = {
        let mut w = read("passing");
        w["scenarios"][0]["outcome"] = json!("failed");
        w["scenarios"][0]["load"]["objectives"][0]["passed"] = json!(false);
        let path = root.join("worse.json");
        std::fs::write(&path, w.to_string()).unwrap();
        path
    };
    let worse_bin = fake_binary(&root.join("worse"), "wt-fixture", &worse);
    let differs = store(&root, "differs", replayable(&worse_bin, json!([])));
    let (code, out, _) = windtunnel(&["--root", s(&root), "replay", s(&differs)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("passes: the replay differs (seed 7):"),
        "{out}"
    );
    assert!(out.contains("outcome: Passed → Failed"), "{out}");
    assert!(
        out.contains("objective error rate below 1%: held → failed"),
        "{out}"
    );

    // --dry-run prints the rebuilt command, runs nothing; an unknown scenario is an error.
    let (code, out, _) = windtunnel(&["--root", s(&root), "replay", s(&differs), "--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("$ {} --exact passes --seed 7", worse_bin.display()),
        "{out}"
    );
    let (code, _, err) = windtunnel(&["replay", s(&same), "--scenario", "nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("has no scenario `nope` (it has: passes)"),
        "{err}"
    );
    // A command that writes no report: the error says where to run it from.
    let silent = root.join("silent");
    let quiet_bin = fake_binary(&silent, "wt-fixture", &root.join("no-such-report.json"));
    let broken = store(&root, "broken", replayable(&quiet_bin, json!([])));
    let (code, _, err) = windtunnel(&["--root", s(&root), "replay", s(&broken)]);
    assert_eq!(code, 2);
    assert!(err.contains("wrote no readable report"), "{err}");
}

#[test]
fn replay_never_runs_text_or_untrusted_fields_from_a_report() {
    let root = scratch("replay-hostile");
    let planted = root.join("planted");
    let touch = format!("touch {}", planted.display());
    let bin = fake_binary(&root, "wt-fixture", &fixture("passing"));
    let refused = |name: &str, report: Value, expected: &str| {
        let run_id = report["run_id"].clone();
        let path = store(&root, name, report);
        if run_id == json!("../../escape") {
            let mut r: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            r["run_id"] = run_id;
            std::fs::write(&path, r.to_string()).unwrap();
        }
        let (code, out, err) = windtunnel(&["--root", s(&root), "replay", s(&path)]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(!planted.exists(), "{name} ran a command");
        assert!(
            !root.join("wt-fixture.args").exists(),
            "{name} ran the binary"
        );
    };
    // The replay text alone is never run.
    let mut text_only = read("passing");
    text_only["scenarios"][0]["replay"] = json!(touch);
    refused("text-only", text_only, "runs no command text from a report");
    // Every field is checked.
    let mut bad = replayable(&bin, json!(["--exec", touch]));
    refused(
        "unknown-flag",
        bad.clone(),
        "`--exec` is not a flag a replay repeats",
    );
    bad = replayable(&bin, json!([]));
    bad["scenarios"][0]["rerun"]["runner"] =
        json!({ "kind": "cargo_test", "package": format!("x; {touch}"), "target": "load" });
    refused("package", bad, "rerun.runner.package");
    bad = replayable(Path::new("/bin/sh"), json!([]));
    refused(
        "system-binary",
        bad,
        "is not named after the report's test target",
    );
    let elsewhere = std::env::temp_dir().join(format!("wt-replay-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).unwrap();
    let outside = fake_binary(&elsewhere, "wt-fixture", &fixture("passing"));
    refused(
        "outside-target",
        replayable(&outside, json!([])),
        "is not inside a cargo target directory",
    );
    let _ = std::fs::remove_dir_all(&elsewhere);
    bad = replayable(&bin, json!([]));
    bad["run_id"] = json!("../../escape");
    refused("run-id", bad, "which is not a directory name");
}

#[test]
fn runs_trend_marks_where_a_metric_shifted() {
    let root = scratch("trend");
    for i in 0..12u32 {
        let mut r = read("passing");
        r["started_at"] = json!(format!("2026-11-01T00:{i:02}:00Z"));
        let total = &mut r["scenarios"][0]["load"]["total"];
        let p99 = total["latency_ms"]["p99"].as_f64().unwrap();
        // ±2% of wobble, and from the seventh run on, 40% slower.
        let wobble = 1.0 + 0.02 * f64::from(i % 3) - 0.02;
        let step = if i < 6 { 1.0 } else { 1.4 };
        total["latency_ms"]["p99"] = json!(p99 * wobble * step);
        store(&root, &format!("run-{i:02}"), r);
    }
    let (code, out, err) = windtunnel(&["--root", s(&root), "runs", "--trend", "passes", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 12);
    assert_eq!(v["runs"][0]["id"], "run-00", "oldest first");
    let shifts = v["shifts"].as_array().unwrap();
    assert_eq!(shifts.len(), 1, "{out}");
    assert_eq!(shifts[0]["run"], "run-06");
    let change = shifts[0]["change"].as_f64().unwrap();
    assert!((change - 0.4).abs() < 0.05, "{change}");
    let (code, table, _) = windtunnel(&["--root", s(&root), "runs", "--trend", "passes"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("run-06") && table.contains("← shift +"),
        "{table}"
    );
    let (code, _, err) = windtunnel(&["--root", s(&root), "runs", "--trend", "nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no stored run under") && err.contains("`nope`"),
        "{err}"
    );
    let (code, _, err) = windtunnel(&["--root", s(&root), "runs", "--metric", "p50"]);
    assert_eq!(code, 2, "{err}");
}
