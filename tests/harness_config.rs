//! Settings from a file, the environment and flags, end to end: precedence with the source of
//! each value in the report, the targets catalog, `--check-config` (which sends no request),
//! and clear errors, before any request, for every kind of bad input.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{FIXTURE, command, out_dir};
use serde_json::Value;

/// A directory for one test, holding `windtunnel.toml` with `toml`.
fn with_settings(test: &str, toml: &str) -> PathBuf {
    let dir = out_dir(test);
    std::fs::write(dir.join("windtunnel.toml"), toml).unwrap();
    dir
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    out: PathBuf,
}

/// Runs the fixture in `dir` (so it finds `dir/windtunnel.toml`), reports in `dir/reports`.
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = dir.join("reports");
    let mut cmd = command(FIXTURE, &out);
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run the fixture");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        out,
    }
}

/// A minimal HTTP server on loopback that answers every request `200 []` and keeps the head
/// of each request it saw.
fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || serve(stream, &log));
        }
    });
    (url, seen)
}

fn serve(stream: TcpStream, log: &Mutex<Vec<String>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        log.lock().unwrap().push(head);
        if writer
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n[]",
            )
            .is_err()
        {
            return;
        }
    }
}

fn setting<'a>(scenario: &'a Value, name: &str) -> &'a Value {
    scenario["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no setting `{name}` in {scenario:#}"))
}

fn scenario(run: &Run, name: &str) -> Value {
    let report = common::read_json(&run.out.join("latest").join("report.json"));
    common::assert_schema_valid(&report);
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no scenario `{name}`"))
}

const CATALOG: &str = r#"
[targets.shop]
headers = { x-team = "shop" }

[targets.shop.environments.local]
url = "URL"

[targets.shop.environments.staging]
headers = { x-team = "shop-staging" }
[targets.shop.environments.staging.regions.eu]
url = "URL"
"#;

#[test]
fn file_environment_and_flags_layer_and_the_report_says_where_each_value_came_from() {
    let (url, seen) = recording_server();
    let toml = format!(
        "target = \"shop/local\"\nseed = 5\n{}\n[scenarios.passes]\nusers = 4\niterations = 3\n\
         objectives = [{{ error_rate = \"1%\" }}]\n",
        CATALOG.replace("URL", &url)
    );
    let dir = with_settings("config-layers", &toml);
    let run = run_in(
        &dir,
        &[
            "--exact",
            "passes",
            "--users",
            "2",
            "--target",
            "staging/eu",
        ],
        &[("WINDTUNNEL_ITERATIONS", "5"), ("WINDTUNNEL_USERS", "9")],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let s = scenario(&run, "passes");
    // 2 users (flag over env over file) × 5 iterations (env over file over code).
    assert_eq!(s["load"]["total"]["count"], 10, "{s:#}");
    assert_eq!(setting(&s, "users")["value"], "2");
    assert_eq!(setting(&s, "users")["source"], "flag --users");
    assert_eq!(setting(&s, "iterations")["value"], "5");
    assert_eq!(
        setting(&s, "iterations")["source"],
        "env WINDTUNNEL_ITERATIONS"
    );
    assert_eq!(setting(&s, "seed")["value"], "5");
    assert_eq!(setting(&s, "seed")["source"], "windtunnel.toml seed");
    assert_eq!(
        setting(&s, "objectives")["source"],
        "windtunnel.toml scenarios.passes.objectives"
    );
    assert_eq!(setting(&s, "objectives")["value"], "error rate below 1%");
    assert_eq!(setting(&s, "model")["source"], "code");
    assert_eq!(
        setting(&s, "target")["value"],
        format!("shop/staging/eu ({url})")
    );
    assert_eq!(setting(&s, "target")["source"], "flag --target");
    assert_eq!(
        setting(&s, "settings_file")["source"],
        "found in the working directory"
    );
    // The environment's headers, nearer level first, went with every request.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 10);
    assert!(
        seen.iter().all(|h| h.contains("x-team: shop-staging\r\n")),
        "{seen:?}"
    );
    // The replay command repeats what came from flags and the environment.
    let replay = s["replay"].as_str().unwrap();
    assert!(
        replay.contains("--target staging/eu")
            && replay.contains("--users 2")
            && replay.contains("--iterations 5"),
        "{replay}"
    );
}

#[test]
fn check_config_prints_every_setting_with_its_source_and_sends_no_request() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let toml = format!(
        "{}\n[scenarios.passes]\nusers = 4\nduration = \"1m\"\n",
        CATALOG.replace("URL", &url)
    );
    let dir = with_settings("config-check", &toml);
    let run = run_in(
        &dir,
        &[
            "--check-config",
            "--tag",
            "quick",
            "--target",
            "shop/local",
            "--seed",
            "3",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(
        out.contains("targets catalog: shop/local, shop/staging/eu"),
        "{out}"
    );
    assert!(out.contains("\npasses\n"), "{out}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{out}"))
            .to_owned()
    };
    assert!(
        line("users").ends_with("windtunnel.toml scenarios.passes.users"),
        "{out}"
    );
    assert!(line("duration").contains("1m"), "{out}");
    assert!(line("seed").ends_with("flag --seed"), "{out}");
    assert!(line("target").contains("shop/local ("), "{out}");
    assert!(line("objectives").ends_with("code"), "{out}");
    assert!(out.contains("no request was sent"), "{out}");
    // Nothing connected, and no report was written.
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "--check-config connected to the target"
    );
    assert!(!run.out.join("latest").exists());
}

#[test]
fn check_config_fails_when_a_setting_does_not_fit_a_scenario() {
    let dir = with_settings("config-check-fails", "[scenarios.open_model]\nusers = 4\n");
    let run = run_in(&dir, &["--check-config", "--tag", "open"], &[]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "invalid load: `users` (from `scenarios.open_model.users` in windtunnel.toml)"
        ) && run
            .stdout
            .contains("a ramping arrival rate, which has no `users`"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("do not hold for 1 of 1"),
        "{}",
        run.stderr
    );
}

/// Each bad input: exit 2, a message naming the place and what was expected, nothing run.
#[test]
fn bad_input_is_an_error_before_any_request() {
    /// Name, windtunnel.toml, flags, environment, what stderr says.
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [&'a str],
        &'a [(&'a str, &'a str)],
        &'a [&'a str],
    );
    let cases: &[Case<'_>] = &[
        (
            "unknown-key",
            "[scenarios.passes]\nusres = 3\n",
            &[],
            &[],
            &[
                "windtunnel.toml:2:1: `scenarios.passes.usres`: unknown key `usres` (did you mean `users`?)",
            ],
        ),
        (
            "wrong-type",
            "[scenarios.passes]\nusers = \"many\"\n",
            &[],
            &[],
            &["windtunnel.toml:2:9: `scenarios.passes.users`", "u32"],
        ),
        (
            "no-unit",
            "[scenarios.passes]\nduration = 30\n",
            &[],
            &[],
            &[
                "windtunnel.toml:2:12: `scenarios.passes.duration`",
                "needs a unit",
            ],
        ),
        (
            "negative",
            "[scenarios.passes]\niterations = -1\n",
            &[],
            &[],
            &["windtunnel.toml:2:14: `scenarios.passes.iterations`"],
        ),
        (
            "missing-field",
            "[scenarios.passes]\nstages = [{ users = 3 }]\n",
            &[],
            &[],
            &["`scenarios.passes.stages[0]`", "missing field `duration`"],
        ),
        (
            "bad-url",
            "[targets.shop.environments.local]\nurl = \"localhost:8080\"\n",
            &[],
            &[],
            &[
                "windtunnel.toml:2:7: `targets.shop.environments.local.url`",
                "absolute http(s) URL",
            ],
        ),
        (
            "unknown-scenario",
            "[scenarios.pases]\nusers = 3\n",
            &[],
            &[],
            &["`scenarios.pases`: there is no scenario named `pases` (did you mean `passes`?)"],
        ),
        (
            "missing-combination",
            "[targets.shop.environments.local]\nurl = \"http://127.0.0.1:9\"\n",
            &["--target", "shop/prod"],
            &[],
            &["flag `--target`", "no environment `prod` of app `shop`"],
        ),
        (
            "bad-env",
            "",
            &[],
            &[("WINDTUNNEL_RATE", "fast")],
            &["environment variable `WINDTUNNEL_RATE`", "like `100/s`"],
        ),
        (
            "bad-flag",
            "",
            &["--duration", "10"],
            &[],
            &["flag `--duration`", "`10s`"],
        ),
    ];
    for (name, toml, args, env, expected) in cases {
        let dir = with_settings(&format!("config-bad-{name}"), toml);
        let mut all = vec!["--exact", "passes"];
        all.extend_from_slice(args);
        let run = run_in(&dir, &all, env);
        assert_eq!(run.code, 2, "{name}: {}\n{}", run.stdout, run.stderr);
        for e in *expected {
            assert!(
                run.stderr.contains(e),
                "{name}: `{e}` not in:\n{}",
                run.stderr
            );
        }
        assert!(!run.out.exists(), "{name}: something ran");
    }
}

#[test]
fn a_segment_runs_its_users_reports_its_source_and_leaves_objectives_to_the_merge() {
    let dir = out_dir("segment");
    // 3 users × 20 iterations: segment 2 of 3 runs user 1 alone.
    let run = run_in(
        &dir,
        &["--exact", "passes", "--seed", "7", "--segment", "2/3"],
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let s = scenario(&run, "passes");
    let load = &s["load"];
    assert_eq!(load["config"]["segment"], "2/3");
    assert_eq!(load["config"]["users"], 3);
    assert_eq!(load["total"]["count"], 20);
    assert!(load["exact"]["requests"]["list"]["histogram"].is_string());
    let setting = s["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "segment")
        .expect("a segment setting");
    assert_eq!(setting["source"], "flag --segment");
    assert!(s["replay"].as_str().unwrap().contains("--segment 2/3"));
    assert!(
        run.stdout.contains("segment 2/3 of 3 users"),
        "{}",
        run.stdout
    );

    // A segment does not judge objectives: `slo_fails` misses its objective in one process,
    // and passes as a segment (the merge judges it).
    let run = run_in(
        &dir,
        &["--exact", "slo_fails", "--seed", "7", "--segment", "1/2"],
        &[],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("objectives on segment 1/2 alone"),
        "{}",
        run.stdout
    );
    let s = scenario(&run, "slo_fails");
    assert_eq!(s["outcome"], "passed");
    let objective = &s["load"]["objectives"][0];
    assert_eq!(objective["passed"], false, "{objective}");
    let what = objective["objective"].as_str().unwrap();
    assert!(
        !s["findings"].to_string().contains(what),
        "a segment's objective became a finding: {}",
        s["findings"]
    );
}
