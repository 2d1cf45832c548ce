//! `windtunnel compare` end to end on real runs of one plan against the demo shop on loopback:
//! two runs of the same plan, and one whose `list` requests are 20 ms slower (a turbulence
//! delay). The statistics themselves are tested on synthetic histograms in the library
//! (`windtunnel::compare`); here: the verdicts, the exit codes, `--last`, the JSON, the Markdown
//! and the flags' errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::shop;

/// Open model, so that the runs do not race each other for the CPU: 80 iterations a second for
/// 5 s, two requests each.
const PLAN: &str = r#"
name = "compared"
seed = 3
objectives = [{ error_rate = "5%" }]

[load]
rate = "80/s"
duration = "5s"

[[endpoints]]
name = "list"
path = "/products"
expect = 200

[[endpoints]]
name = "one"
path = "/products/1"
expect = 200
"#;

fn windtunnel(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_windtunnel"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("WINDTUNNEL_") || k == "GITHUB_STEP_SUMMARY" {
            cmd.env_remove(&*k);
        }
    }
    let o = cmd
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs the plan (with `extra` flags) and returns its run id.
fn run_plan(dir: &Path, target: &str, id: &str, extra: &[&str]) -> String {
    let root = dir.join("runs-root");
    let mut args = vec![
        "--root",
        root.to_str().unwrap(),
        "run",
        "plan.toml",
        "--target",
        target,
        "--run-id",
        id,
    ];
    args.extend(extra);
    let (code, out, err) = windtunnel(dir, &args, &[]);
    assert_eq!(code, 0, "{out}{err}");
    id.to_owned()
}

fn compare(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let root = dir.join("runs-root");
    let mut all = vec!["--root", root.to_str().unwrap(), "compare"];
    all.extend(args);
    windtunnel(dir, &all, env)
}

fn line<'v>(v: &'v Value, subject: &str, metric: &str) -> &'v Value {
    v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["subject"] == subject && l["metric"] == metric)
        .unwrap_or_else(|| panic!("no line {subject} {metric} in {v}"))
}

#[test]
fn compare_flags_a_real_slowdown_and_not_a_rerun() {
    let dir: PathBuf = common::scratch("compare", "real-runs");
    std::fs::write(dir.join("plan.toml"), PLAN).unwrap();
    let shop = shop();
    let url = shop.handle.url();
    let a1 = run_plan(&dir, &url, "a1", &[]);
    let a2 = run_plan(&dir, &url, "a2", &[]);
    let slow = run_plan(
        &dir,
        &url,
        "slow",
        &["--turbulence", r#"slow: delay=20ms name="list""#],
    );

    // A rerun of the same plan: nothing beyond the tolerance (generous here, for a busy CI
    // machine; the default tolerances are measured by scripts/compare-bench.sh).
    let (code, out, err) = compare(
        &dir,
        &[
            &a1,
            &a2,
            "--latency-tolerance",
            "300%",
            "--throughput-tolerance",
            "50%",
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no regression"), "{out}");
    assert!(out.contains("intervals at "), "{out}");

    // 20 ms more on every `list`: a regression, with its interval, and a warning that the two
    // runs did not have the same turbulence.
    let (code, out, err) = compare(&dir, &[&a1, &slow, "--json"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let p50 = line(&v, "list", "p50");
    assert_eq!(p50["verdict"], "regression", "{p50}");
    let [lo, hi] = [
        p50["interval"][0].as_f64().unwrap(),
        p50["interval"][1].as_f64().unwrap(),
    ];
    assert!(0.0 < lo && lo < hi, "{p50}");
    assert!(
        p50["sentence"]
            .as_str()
            .unwrap()
            .starts_with("p50 of `list` +"),
        "{p50}"
    );
    assert_ne!(line(&v, "one", "p50")["verdict"], "regression");
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("the turbulence differs")),
        "{}",
        v["warnings"]
    );
    assert!(v["regressions"].as_u64().unwrap() >= 1);

    // The stored history as the baseline: the two runs before `slow`.
    let (code, out, _) = compare(&dir, &["--last", "2", &slow, "--json"], &[]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["baselines"], serde_json::json!(["a2", "a1"]));

    // Markdown, to a file and to the GitHub job summary.
    let summary = dir.join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let md = dir.join("compare.md");
    let (code, _, _) = compare(
        &dir,
        &[&a1, &slow, "--markdown", md.to_str().unwrap()],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(code, 1);
    let text = std::fs::read_to_string(&md).unwrap();
    assert!(text.starts_with("### ❌ windtunnel compare:"), "{text}");
    assert!(
        text.contains("| scenario | request / objective |"),
        "{text}"
    );
    assert!(text.contains("**regression**"), "{text}");
    let appended = std::fs::read_to_string(&summary).unwrap();
    assert!(appended.starts_with("earlier step\n### ❌"), "{appended}");
}

#[test]
fn compare_flags_are_checked() {
    let dir = common::scratch("compare", "flags");
    for (args, expected) in [
        (
            &["--latency-tolerance", "10", "a", "b"][..],
            "would be 1000%: write a share as `0.1` or `10%`",
        ),
        (&["--latency-slack", "1", "a", "b"][..], "needs a unit"),
        (
            &["--confidence", "100%", "a", "b"][..],
            "between 50% and 100%",
        ),
        (&["a"][..], "no run `a`"),
    ] {
        let (code, _, err) = compare(&dir, args, &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}
