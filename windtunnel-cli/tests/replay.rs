//! `windtunnel replay` with fault tapes, end to end: a plan with a timed, windowed phase runs
//! against the demo shop on loopback, and its replays inject exactly the taped faults, however
//! fast they run; a replay that cannot fire them says how many went missing; a changed tape, an
//! old report without one and a tape that does not fit are refused or said, never "matches".

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

const PLAN: &str = r#"
name = "windowed"
target = "http://127.0.0.1:9"
seed = 11
think = "1ms..4ms"
turbulence = "burst@0.6s..1.2s: abort=503 p=0.3 name=\"list products\"; delay=3ms p=0.4"
objectives = [{ error_rate = "60%" }]

[load]
users = 4
duration = "2s"

[[endpoints]]
name = "list products"
path = "/products"
expect = 200
"#;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `windtunnel ARGS` in `dir`, reports under `dir/reports`, killed (and the test failed) if it
/// has not ended within 60 s.
fn windtunnel(dir: &Path, args: &[&str]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_windtunnel"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("WINDTUNNEL_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .current_dir(dir)
        .args(["--root", "reports"])
        .args(args)
        .env("WINDTUNNEL_OUT", dir.join("reports"))
        .env("WINDTUNNEL_PROGRESS", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("`windtunnel {}` did not end within 60 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Runs the plan once; returns the run's report.json and its scenario's tape file.
fn original(dir: &Path, url: &str) -> (PathBuf, PathBuf) {
    std::fs::write(dir.join("plan.toml"), PLAN).unwrap();
    let r = windtunnel(dir, &["run", "plan.toml", "--target", url]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = std::fs::canonicalize(dir.join("reports/latest/report.json")).unwrap();
    let s = &read(&report)["scenarios"][0];
    let tape = &s["load"]["turbulence"]["tape"];
    assert_eq!(tape["complete"], true, "{tape}");
    assert!(tape["requests"].as_u64().unwrap() > 5, "{tape}");
    let file = report
        .parent()
        .unwrap()
        .join(tape["file"].as_str().unwrap());
    assert!(
        r.stdout
            .contains("fault tape tapes/plan--windowed.json (sha256 "),
        "{}",
        r.stdout
    );
    (report, file)
}

#[test]
fn a_replay_injects_exactly_the_taped_faults_and_compares_them() {
    let shop = common::shop();
    let dir = common::scratch("replay", "taped");
    let (report, tape) = original(&dir, &shop.handle.url());
    let taped = read(&tape)["requests"].as_array().unwrap().len();
    let line =
        format!("windowed: the faults match: all {taped} taped faults fired again, and no other");
    for _ in 0..3 {
        let r = windtunnel(&dir, &["replay", report.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains(&line), "{}", r.stdout);
        assert!(
            r.stdout
                .contains("windowed: the replay matches (seed 11, fault tape "),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains(&format!("--tape {}", tape.display())),
            "{}",
            r.stdout
        );
        // The replay names the tape it replayed.
        let again = read(&dir.join("reports/latest/report.json"));
        let t = &again["scenarios"][0]["load"]["turbulence"];
        assert_eq!(
            t["replayed_tape"],
            read(&report)["scenarios"][0]["load"]["turbulence"]["tape"]["sha256"]
        );
    }
}

#[test]
fn a_replay_that_cannot_fire_the_taped_faults_says_how_many_went_missing() {
    let shop = common::shop();
    let dir = common::scratch("replay", "missing");
    let (report, tape) = original(&dir, &shop.handle.url());
    let taped = read(&tape)["requests"].as_array().unwrap().len();
    // A replay cut to 0.9 s ends in the middle of the window: the taped faults after it cannot
    // fire. The replay's own fields are what a report may carry (`--duration` is a replay flag).
    let mut r = read(&report);
    let flags = r["scenarios"][0]["rerun"]["flags"].as_array_mut().unwrap();
    flags.extend([json!("--duration"), json!("900ms")]);
    std::fs::write(&report, r.to_string()).unwrap();
    let out = windtunnel(&dir, &["replay", report.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("windowed: the replay differs (seed 11, fault tape "),
        "{}",
        out.stdout
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("faults: "))
        .unwrap_or_else(|| panic!("no faults line: {}", out.stdout));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let [refired, of, missing, new] = numbers[..] else {
        panic!("{line}");
    };
    assert_eq!(of, taped, "{line}");
    assert_eq!(refired + missing, taped, "{line}");
    assert!(refired > 0 && missing > 0, "{line}");
    assert_eq!(
        new, 0,
        "a replay fires no fault its tape does not name: {line}"
    );
}

#[test]
fn a_changed_tape_an_old_report_and_a_tape_that_does_not_fit_are_never_a_match() {
    let shop = common::shop();
    let url = shop.handle.url();
    let dir = common::scratch("replay", "refused");
    let (report, tape) = original(&dir, &url);
    let path = report.to_str().unwrap();

    // A tape changed after the run: its hash is not the report's.
    let bytes = std::fs::read(&tape).unwrap();
    let mut t: Value = serde_json::from_slice(&bytes).unwrap();
    t["requests"].as_array_mut().unwrap().pop();
    std::fs::write(&tape, t.to_string()).unwrap();
    let r = windtunnel(&dir, &["replay", path]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("is not the one the report names"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("it was changed after the run"),
        "{}",
        r.stderr
    );
    std::fs::write(&tape, &bytes).unwrap();

    // A report that names a tape outside the run's `tapes/` directory.
    let mut hostile = read(&report);
    hostile["scenarios"][0]["load"]["turbulence"]["tape"]["file"] = json!("../../../etc/passwd");
    let hostile_path = dir.join("reports/runs/hostile/report.json");
    std::fs::create_dir_all(hostile_path.parent().unwrap()).unwrap();
    let mut h = hostile.clone();
    h["run_id"] = json!("hostile");
    std::fs::write(&hostile_path, h.to_string()).unwrap();
    let r = windtunnel(&dir, &["replay", hostile_path.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("not a file of the run's `tapes/` directory"),
        "{}",
        r.stderr
    );

    // An old report, without a tape: replayed from the seed, and it says the faults were not
    // compared.
    let mut old = read(&report);
    old["run_id"] = json!("old");
    old["scenarios"][0]["load"]["turbulence"]
        .as_object_mut()
        .unwrap()
        .remove("tape");
    let old_path = dir.join("reports/runs/old/report.json");
    std::fs::create_dir_all(old_path.parent().unwrap()).unwrap();
    std::fs::write(&old_path, old.to_string()).unwrap();
    let r = windtunnel(&dir, &["replay", old_path.to_str().unwrap()]);
    assert!(
        r.stdout.contains(
            "windowed: the report has no fault tape (it is from an older windtunnel, or merged \
             from segments not all with theirs): replayed from seed 11, and its faults are not \
             compared"
        ),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(!r.stdout.contains("the faults match"), "{}", r.stdout);

    // `--tape` by hand: another seed, other turbulence, a file that is not a tape. Each is an
    // error before any request, naming what does not fit.
    let tape_arg = tape.to_str().unwrap();
    let r = windtunnel(
        &dir,
        &[
            "run",
            "plan.toml",
            "--target",
            &url,
            "--tape",
            tape_arg,
            "--seed",
            "12",
        ],
    );
    // A failed scenario: libtest's exit code.
    assert_eq!(r.code, 101, "{}\n{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(
        all.contains("the tape was recorded with seed 11, and this run's seed is 12"),
        "{all}"
    );
    let r = windtunnel(
        &dir,
        &[
            "run",
            "plan.toml",
            "--target",
            &url,
            "--tape",
            tape_arg,
            "--turbulence",
            "burst@0.6s..1.2s: abort=500",
        ],
    );
    let all = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 101, "{all}");
    assert!(
        all.contains("its rules differ from the scenario's turbulence: rules 1 was"),
        "{all}"
    );
    std::fs::write(dir.join("junk.json"), "{\"format\": 1}").unwrap();
    let r = windtunnel(
        &dir,
        &["run", "plan.toml", "--target", &url, "--tape", "junk.json"],
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("not a fault tape"), "{}", r.stderr);
    assert!(r.stderr.contains("--tape"), "{}", r.stderr);
}
