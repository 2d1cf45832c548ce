//! Reports: `report.json` matches its published schema, JUnit is valid and carries the failure
//! details, runs sharing a nextest run id merge into one report, the seed replays the run's
//! random decisions, and an interrupted run still leaves a report that says so.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{assert_schema_valid, fixture, fixture_in, out_dir, xmllint_validates};

#[test]
fn a_passing_run_writes_a_schema_valid_report_and_valid_junit() {
    let run = fixture("passing", &["--exact", "passes", "--seed", "7"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.report();
    assert_schema_valid(&report);
    assert_eq!(report["schema_version"], 8);
    assert_eq!(report["complete"], true);
    let s = run.scenario("passes");
    assert_eq!(s["outcome"], "passed");
    assert_eq!(s["seed"], 7);
    assert_eq!(s["tags"][0], "quick");
    assert!(
        s["replay"]
            .as_str()
            .unwrap()
            .ends_with("--exact passes --seed 7"),
        "{}",
        s["replay"]
    );
    let list = &s["load"]["requests"][0];
    assert_eq!(list["name"], "list");
    assert_eq!(list["count"], 60, "3 users × 20 iterations");
    assert_eq!(list["statuses"]["200"], 60);
    let l = &list["latency_ms"];
    let p = |k: &str| l[k].as_f64().unwrap();
    assert!(
        0.0 < p("min") && p("min") <= p("p50") && p("p50") <= p("p99") && p("p99") <= p("max"),
        "{l}"
    );
    assert_eq!(s["load"]["objectives"].as_array().unwrap().len(), 2);
    assert!(
        s["load"]["objectives"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["passed"] == true)
    );

    let xml = run.junit();
    assert!(
        xml.contains(r#"<testcase name="passes""#) && xml.contains(r#"classname="wt_fixture""#),
        "{xml}"
    );
    xmllint_validates(&run.out.join("latest").join("junit.xml"));
    // The summary table is printed after the run.
    assert!(run.stdout.contains("── passes ── passed"), "{}", run.stdout);
    // So is the page for people, with the scenario, its charts and no findings.
    let html = std::fs::read_to_string(run.out.join("latest").join("report.html")).unwrap();
    assert!(html.contains("<h2>passes <span class=\"badge passed\">passed</span></h2>"));
    assert_eq!(html.matches("<svg").count(), 4, "four charts");
    assert_eq!(s["findings"].as_array().unwrap().len(), 0);
    // No progress line: the output is not a terminal.
    assert!(!run.stderr.contains("req/s"), "{}", run.stderr);
}

#[test]
fn a_run_writes_a_markdown_summary_and_the_gitlab_load_performance_file() {
    let out = out_dir("markdown");
    let summary = out.join("github-summary.md");
    std::fs::write(&summary, "# earlier step\n").unwrap();
    let run = fixture_in(
        &out,
        &["--exact", "passes", "--seed", "7"],
        &[("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let md = std::fs::read_to_string(out.join("latest").join("report.md")).unwrap();
    assert!(md.starts_with("## windtunnel run "), "{md}");
    assert!(md.contains("1 passed, 0 failed, 0 inconclusive"), "{md}");
    assert!(md.contains("### ✅ passes passed"), "{md}");
    assert!(
        md.contains("| objective | expected | actual | verdict |"),
        "{md}"
    );
    assert!(md.contains("| list | 60 | 0 |"), "{md}");
    assert!(
        md.contains("Replay: ") && md.contains(r"\-\-seed 7"),
        "{md}"
    );
    // The job summary got the scenario's section, after what was there.
    let appended = std::fs::read_to_string(&summary).unwrap();
    assert!(
        appended.starts_with("# earlier step\n### ✅ passes passed"),
        "{appended}"
    );
    // What GitLab's Load Performance widget reads.
    let lp = common::read_json(&out.join("latest").join("load-performance.json"));
    let m = &lp["metrics"];
    let report = run.report();
    let load = &report["scenarios"][0]["load"];
    assert_eq!(m["http_reqs"]["count"], 60);
    assert_eq!(m["http_reqs"]["rate"], load["total"]["throughput_rps"]);
    for p in ["p(90)", "p(95)"] {
        assert!(m["http_req_waiting"][p].as_f64().unwrap() > 0.0, "{lp}");
    }
    assert_eq!(
        m["http_req_waiting"]["p(95)"],
        load["total"]["latency_ms"]["p95"]
    );
    assert_eq!(lp["windtunnel"]["scenarios"][0], "passes");
}

#[test]
fn an_open_model_reports_its_schedule_series_and_both_latencies() {
    let run = fixture("open-model", &["--exact", "open_model", "--seed", "3"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.report();
    assert_schema_valid(&report);
    let load = &run.scenario("open_model")["load"];
    let config = &load["config"];
    assert_eq!(config["model"], "ramping_rate");
    assert_eq!(config["open"], true);
    assert_eq!(config["pool"]["max"], 20);
    assert_eq!(config["stages"][1]["name"], "hold");
    assert_eq!(config["stages"][1]["from_s"], 0.5);
    // 40/s for 1 s.
    assert_eq!(load["schedule"]["started"], 40);
    assert_eq!(load["schedule"]["dropped"], 0);
    assert!(load["schedule"]["start_lateness_ms"]["p99"].is_number());
    let list = &load["requests"][0];
    assert!(
        list["intended_latency_ms"]["p99"].as_f64().unwrap() > 0.0,
        "{list}"
    );
    let points = load["series"]["points"].as_array().unwrap();
    let started: u64 = points.iter().map(|p| p["started"].as_u64().unwrap()).sum();
    assert_eq!(started, 40);
    let [staged, service] = &load["objectives"].as_array().unwrap()[..] else {
        panic!("{}", load["objectives"])
    };
    assert_eq!(staged["latency"], "intended");
    assert_eq!(staged["window"]["stage"], "hold");
    assert_eq!(staged["abort_on_fail"], true);
    assert_eq!(service["latency"], "service");
    assert_eq!(
        service["objective"],
        "p99 latency (service time) of `list` below 5000 ms"
    );
    assert!(
        run.stdout
            .contains("intended start · iterations: 40 started, 0 dropped"),
        "{}",
        run.stdout
    );
    // Every latency says which it is: the table, the objectives, the iteration durations.
    assert!(
        run.stdout
            .contains("(latency: from intended start = service time + start lateness)")
            && run.stdout.contains("[from intended start]: actual")
            && run.stdout.contains("40 iterations · duration p50"),
        "{}",
        run.stdout
    );
    let duration = &load["iterations"][0]["duration_ms"];
    assert!(duration["p95"].as_f64().unwrap() > 0.0, "{duration}");
    let html = std::fs::read_to_string(run.out.join("latest").join("report.html")).unwrap();
    assert!(
        html.contains("latency from intended start = service time + start lateness")
            && html.contains("duration p50 / p95 / max (from intended start)"),
        "the HTML says which latency it shows"
    );
}

#[test]
fn turbulence_is_reported_per_phase_with_every_injected_fault() {
    let run = fixture("turbulent", &["--exact", "turbulent", "--seed", "4"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.report();
    assert_schema_valid(&report);
    let t = &run.scenario("turbulent")["load"]["turbulence"];
    assert_eq!(t["overridden_by"], serde_json::Value::Null);
    let phase = &t["phases"][0];
    assert_eq!(phase["name"], "errors");
    assert_eq!(phase["requests"], 60);
    let aborts = phase["rules"][0]["injected"].as_u64().unwrap();
    assert!(aborts > 0, "{phase}");
    assert_eq!(phase["injected_failures"], aborts);
    assert_eq!(phase["sut_failures"], 0);
    // Each rule attributes the same injected 503s per request: the failed requests, the check
    // that judged them and the iterations the check ended are all `info`, never a `bug`.
    let s = run.scenario("turbulent");
    let load = &s["load"];
    assert_eq!(load["requests"][0]["errors"][0]["injected"], aborts);
    assert_eq!(load["checks"][0]["name"], "list: status 200");
    assert_eq!(load["checks"][0]["injected"], aborts);
    assert_eq!(load["iterations"][0]["failures"][0]["injected"], aborts);
    for rule in ["errors", "check", "iterations"] {
        let f = s["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == rule)
            .unwrap_or_else(|| panic!("no {rule} finding: {}", s["findings"]));
        assert_eq!(f["severity"], "info", "{f}");
        assert!(
            f["title"]
                .as_str()
                .unwrap()
                .ends_with("(all injected by turbulence)"),
            "{f}"
        );
    }
    assert_eq!(phase["toxics"][0]["proxy"], "target");
    assert_eq!(
        t["faults"].as_array().unwrap().len() as u64,
        aborts + phase["toxics"][0]["applied"].as_u64().unwrap()
    );
    assert_eq!(
        t["warnings"][0],
        "phase `errors`: rule `hang on `nothing by this name`` matched no request (request names: list)"
    );
    assert!(
        run.stdout.contains("turbulence `errors` (0–")
            && run.stdout.contains("warning: phase `errors`: rule `hang"),
        "{}",
        run.stdout
    );
    // The same seed injects into the same requests.
    let again = fixture("turbulent-again", &["--exact", "turbulent", "--seed", "4"]);
    let keyed = |t: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = t["faults"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "abort")
            .map(|f| format!("{} {} {}", f["agent"], f["iteration"], f["request_number"]))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        keyed(t),
        keyed(&again.scenario("turbulent")["load"]["turbulence"])
    );
}

#[test]
fn turbulence_from_outside_replaces_the_codes_and_is_in_the_replay_command() {
    // Named as the code's phase, so the code's objective scoped to it still applies.
    let spec = "errors: abort=500 p=1 name=list count=5";
    let run = fixture(
        "turbulence-override",
        &["--exact", "turbulent", "--seed", "2", "--turbulence", spec],
    );
    // 5 of 60 failed: the objective (below 60%) holds.
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let load = &run.scenario("turbulent")["load"];
    let t = &load["turbulence"];
    assert_eq!(t["overridden_by"], spec);
    assert_eq!(t["phases"].as_array().unwrap().len(), 1);
    assert_eq!(t["phases"][0]["rules"][0]["injected"], 5);
    assert_eq!(load["total"]["statuses"]["500"], 5);
    // The code's objective named the code's phase, which the override replaced.
    let bad = fixture(
        "turbulence-override-objective",
        &["--exact", "turbulent", "--turbulence", "off"],
    );
    assert_eq!(bad.code, 101, "{}", bad.stdout);
    assert!(
        bad.stdout
            .contains("no stage or turbulence phase named `errors` (it has: none; the turbulence from flag `--turbulence` replaced the code's phases)"),
        "{}",
        bad.stdout
    );
    let replay = run.scenario("turbulent")["replay"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        replay.contains("--turbulence 'errors: abort=500 p=1 name=list count=5'"),
        "{replay}"
    );
}

#[test]
fn a_failed_objective_names_expected_actual_seed_and_replay() {
    let run = fixture("slo-fails", &["--exact", "slo_fails", "--seed", "11"]);
    assert_eq!(run.code, 101);
    let out = &run.stdout;
    assert!(
        out.contains("scenario `slo_fails` failed (seed 11)"),
        "{out}"
    );
    assert!(
        out.contains("FAIL  p99 latency of `list` below 0.001 ms [service time]: actual "),
        "{out}"
    );
    assert!(out.contains("FAIL  p50 latency of `lsit` below 1000 ms [service time]: no requests named `lsit` were recorded (recorded: list)"), "{out}");
    assert!(
        out.contains("ok    error rate below 50%: actual 0%"),
        "{out}"
    );
    assert!(
        out.contains("replay: ") && out.contains("--exact slo_fails --seed 11"),
        "{out}"
    );

    let report = run.report();
    assert_schema_valid(&report);
    let s = run.scenario("slo_fails");
    assert_eq!(s["outcome"], "failed");
    let o = &s["load"]["objectives"][0];
    assert_eq!(
        (
            o["metric"].as_str(),
            o["scope"].as_str(),
            o["passed"].as_bool()
        ),
        (Some("p99"), Some("list"), Some(false))
    );
    assert_eq!(o["expected"], 0.001);
    assert!(o["actual"].as_f64().unwrap() > 0.001);

    let xml = run.junit();
    assert!(xml.contains(r#"<failure type="windtunnel.failure" message="objective not met: p99 latency of `list` below 0.001 ms">"#), "{xml}");
    // The failure carries a body (GitLab shows nothing without one) with the replay command.
    assert!(xml.contains("--exact slo_fails --seed 11"), "{xml}");
    xmllint_validates(&run.out.join("latest").join("junit.xml"));
}

#[test]
fn ignored_scenarios_are_skipped_in_the_reports_and_run_on_request() {
    let run = fixture("ignored", &["ignored"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("test ignored ... ignored"),
        "{}",
        run.stdout
    );
    assert_eq!(run.scenario("ignored")["outcome"], "skipped");
    assert!(run.junit().contains("<skipped"), "{}", run.junit());
    assert_schema_valid(&run.report());
    xmllint_validates(&run.out.join("latest").join("junit.xml"));
    let run = fixture("ignored-run", &["--exact", "ignored", "--include-ignored"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.scenario("ignored")["outcome"], "passed");
}

#[test]
fn processes_of_one_nextest_run_merge_into_one_report() {
    let out = out_dir("nextest-merge");
    let env = [("NEXTEST_RUN_ID", "run-1234"), ("NEXTEST", "1")];
    let a = fixture_in(&out, &["--exact", "passes", "--nocapture"], &env);
    let b = fixture_in(&out, &["--exact", "slo_fails", "--nocapture"], &env);
    assert_eq!((a.code, b.code), (0, 101));
    let report = b.report();
    assert_schema_valid(&report);
    assert_eq!(report["run_id"], "run-1234");
    let names: Vec<&str> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["passes", "slo_fails"]);
    assert!(
        out.join("runs")
            .join("run-1234")
            .join("report.json")
            .is_file()
    );
    let xml = b.junit();
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert!(
        xml.contains(r#"tests="2""#) && xml.contains(r#"failures="1""#),
        "{xml}"
    );
}

fn draws(run: &common::Run) -> BTreeSet<String> {
    run.scenario("seeded")["load"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_same_seed_replays_the_same_random_decisions() {
    let a = fixture("seed-a", &["--exact", "seeded", "--seed", "5"]);
    let b = fixture("seed-b", &["--exact", "seeded", "--seed", "5"]);
    let c = fixture("seed-c", &["--exact", "seeded", "--seed", "6"]);
    assert_eq!((a.code, b.code, c.code), (0, 0, 0));
    assert_eq!(draws(&a).len(), 10, "2 users × 5 draws: {:?}", draws(&a));
    assert_eq!(draws(&a), draws(&b));
    assert_ne!(draws(&a), draws(&c));
    // And the seed from the environment works like the flag.
    let out = out_dir("seed-env");
    let d = fixture_in(&out, &["--exact", "seeded"], &[("WINDTUNNEL_SEED", "5")]);
    assert_eq!(draws(&d), draws(&a));
}

#[test]
fn an_interrupted_run_still_writes_a_report_marked_incomplete() {
    interrupt_with("-INT", 130, "interrupt");
}

/// SIGTERM is what CI runners, `timeout`, Kubernetes and `docker stop` send first.
#[test]
fn a_terminated_run_still_writes_a_report_marked_incomplete() {
    interrupt_with("-TERM", 143, "terminate");
}

fn interrupt_with(signal: &str, code: i32, test: &str) {
    let out = out_dir(test);
    let mut child = common::command(common::FIXTURE, &out)
        .args(["--exact", "long", "--include-ignored"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the scenario is running (its placeholder is in the report) and has load going.
    let report_path = out.join("latest").join("report.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !report_path.is_file() {
        assert!(
            Instant::now() < deadline,
            "the run never wrote its placeholder report"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let running = common::read_json(&report_path);
    assert_eq!(running["complete"], false);
    assert_eq!(running["scenarios"][0]["outcome"], "running");
    // Give the scenario time to install its Ctrl-C handler and start its load.
    std::thread::sleep(Duration::from_secs(1));
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let output = loop {
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the run did not stop after {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = common::read_json(&report_path);
    assert_schema_valid(&report);
    assert_eq!(report["complete"], false);
    let s = &report["scenarios"][0];
    assert_eq!(s["outcome"], "interrupted");
    assert_eq!(s["load"]["stop"]["reason"], "interrupted");
    assert!(s["load"]["total"]["count"].as_u64().unwrap() > 0);
}

#[test]
fn the_schema_rejects_what_the_model_never_writes() {
    let run = fixture("schema-strict", &["--exact", "passes"]);
    let good = run.report();
    assert_schema_valid(&good);
    let schema = common::read_json(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("windtunnel/schemas/report.v8.schema.json"),
    );
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut unknown_field = good.clone();
    unknown_field["scenarios"][0]["surprise"] = serde_json::json!(1);
    let mut bad_outcome = good.clone();
    bad_outcome["scenarios"][0]["outcome"] = serde_json::json!("sort of");
    let mut missing = good.clone();
    missing["scenarios"][0]["load"]["total"]
        .as_object_mut()
        .unwrap()
        .remove("latency_ms");
    let mut newer = good;
    newer["schema_version"] = serde_json::json!(9);
    for (what, report) in [
        ("unknown field", unknown_field),
        ("bad outcome", bad_outcome),
        ("missing latency", missing),
        ("newer version", newer),
    ] {
        assert!(
            !validator.is_valid(&report),
            "the schema accepted a report with a {what}"
        );
    }
}

#[test]
fn an_unwritable_report_directory_is_an_error_naming_it() {
    let out = out_dir("unwritable");
    // A file where the report root should be: nothing can be created below it.
    let root = out.join("not-a-directory");
    std::fs::write(&root, b"x").unwrap();
    let run = fixture_in(
        &out,
        &["--exact", "passes", "--out", root.to_str().unwrap()],
        &[],
    );
    // Found before the load, not after it: no request is sent for a run that cannot report.
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!run.stdout.contains("test passes ..."), "{}", run.stdout);
    assert!(run.stderr.contains("; nothing ran"), "{}", run.stderr);
    assert!(
        run.stderr.contains("error: cannot create directory `"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("not-a-directory"), "{}", run.stderr);
}

#[test]
fn a_corrupt_scenario_file_in_the_run_is_an_error_naming_the_file() {
    let out = out_dir("corrupt");
    let scenarios = out.join("runs").join("run-corrupt").join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("other--broken.json"), b"{ truncated").unwrap();
    let run = fixture_in(
        &out,
        &["--exact", "passes"],
        &[("NEXTEST_RUN_ID", "run-corrupt")],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("other--broken.json` is not a valid scenario report"),
        "{}",
        run.stderr
    );
    // This process's own scenario was still written.
    assert!(scenarios.join("wt-fixture--passes.json").is_file());
}

#[test]
fn runs_are_named_by_windtunnel_run_id_and_old_ones_pruned() {
    let out = out_dir("retention");
    let args = ["--exact", "passes", "--keep-runs", "2"];
    for id in ["first", "second", "third"] {
        let run = fixture_in(&out, &args, &[("WINDTUNNEL_RUN_ID", id)]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(out.join("runs").join(id).join("report.json").is_file());
        assert_eq!(run.report()["run_id"], id);
    }
    // Keeping 2: the first run went when the third ended, and the harness said so.
    let mut left: Vec<String> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["second", "third"]);
    // A bad value stops the run before it starts, naming the setting.
    let run = fixture_in(
        &out,
        &["--exact", "passes"],
        &[("WINDTUNNEL_RUN_ID", "../up")],
    );
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("`WINDTUNNEL_RUN_ID`") && run.stderr.contains("directory name"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_segment_replays_its_own_tape_with_its_cut_fault_budget() {
    // A fault with a budget (`count=6`) in segment 1 of 2: the segment's share is cut to 3,
    // and its tape names the rule as cut. Replayed from that tape, the segment finds the same
    // rules, fires the same 3 faults, and names the tape it replayed.
    let spec = "errors: abort=500 p=1 name=list count=6";
    let args = [
        "--exact",
        "turbulent",
        "--seed",
        "3",
        "--segment",
        "1/2",
        "--turbulence",
        spec,
    ];
    let run = fixture("tape-segment", &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let t = &run.scenario("turbulent")["load"]["turbulence"];
    assert_eq!(t["phases"][0]["rules"][0]["injected"], 3, "{t}");
    let tape = run
        .out
        .join("latest")
        .join(t["tape"]["file"].as_str().unwrap());
    let tape = tape.to_str().unwrap();
    let mut again = args.to_vec();
    again.extend(["--tape", tape]);
    let replay = fixture("tape-segment-replay", &again);
    assert_eq!(replay.code, 0, "{}\n{}", replay.stdout, replay.stderr);
    let r = &replay.scenario("turbulent")["load"]["turbulence"];
    assert_eq!(r["replayed_tape"], t["tape"]["sha256"], "{r}");
    let requests = |run: &common::Run, t: &serde_json::Value| {
        let path = run
            .out
            .join("latest")
            .join(t["tape"]["file"].as_str().unwrap());
        common::read_json(&path)["requests"].clone()
    };
    let fired = requests(&run, t);
    assert_eq!(fired.as_array().unwrap().len(), 3, "{fired}");
    assert_eq!(requests(&replay, r), fired, "the same HTTP faults");
    assert!(
        replay.stdout.contains("this run replayed tape "),
        "{}",
        replay.stdout
    );
}
