//! The SUT, a settings file and the command line are hostile: the fixture `wt-fixture-hostile`
//! runs as a subprocess against small misbehaving servers on loopback, and each test checks the
//! exit code, the message and what was written. Every run has a hard time limit.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    Run, assert_schema_valid, command, out_dir, read_json, run_bin_within, run_within,
    xmllint_validates,
};

const HOSTILE: &str = env!("CARGO_BIN_EXE_wt-fixture-hostile");
const LIMIT: Duration = Duration::from_secs(120);

fn hostile(test: &str, args: &[&str]) -> Run {
    run_bin_within(HOSTILE, test, args, LIMIT)
}

/// Every file a run wrote, and what it printed, as text.
fn everything_written(run: &Run) -> String {
    let mut all = format!("{}\n{}\n", run.stdout, run.stderr);
    for f in ["report.json", "junit.xml", "report.html"] {
        if let Ok(t) = std::fs::read_to_string(run.out.join("latest").join(f)) {
            all.push_str(&t);
        }
    }
    all
}

/// Parses `path` with Python's `xml.etree` and returns the number of testcases and the text of
/// every failure and system-out, or `None` (after saying why) without python3.
fn python_parse(path: &Path) -> Option<(usize, String)> {
    let script = "import sys, xml.etree.ElementTree as E\n\
                  root = E.parse(sys.argv[1]).getroot()\n\
                  cases = root.findall('.//testcase')\n\
                  print(len(cases))\n\
                  for c in cases:\n\
                  \x20   for e in c:\n\
                  \x20       sys.stdout.write((e.text or '') + '\\n')\n";
    match Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
    {
        Ok(o) => {
            assert!(
                o.status.success(),
                "xml.etree cannot parse {}: {}",
                path.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            let text = String::from_utf8(o.stdout).unwrap();
            let (count, rest) = text.split_once('\n').unwrap();
            Some((count.trim().parse().unwrap(), rest.to_owned()))
        }
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("python3 is missing on CI: {e}");
            }
            eprintln!("skipping the xml.etree check: python3 not found ({e})");
            None
        }
    }
}

#[test]
fn a_sut_cannot_forge_junit_or_drive_the_terminal() {
    let run = hostile("forged-junit", &["--exact", "forged_junit"]);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    let junit_path = run.out.join("latest").join("junit.xml");
    let junit = run.junit();
    // No raw forbidden byte, no early end of a CDATA section, one testcase.
    assert!(!junit.contains('\u{1}') && !junit.contains('\u{1b}') && !junit.contains('\u{fffe}'));
    // The forged markup is there, as text inside a CDATA section that it could not close.
    assert!(
        junit.contains("]]]]><![CDATA[></system-out></testcase><testcase name=\"injected_by_sut\"")
    );
    xmllint_validates(&junit_path);
    if let Some((cases, text)) = python_parse(&junit_path) {
        assert_eq!(cases, 1, "the testcase count is the scenario count");
        // The SUT's text is all there, readable: `]]>` whole, forbidden bytes as escapes.
        assert!(
            text.contains("<system-out><![CDATA[y oops ]]> \\x01\\x1b[31mred\\x1b[0m \\x7f"),
            "{text}"
        );
    }
    // The terminal got escapes as text, never as control sequences.
    for stream in [&run.stdout, &run.stderr] {
        assert!(
            !stream.contains('\u{1b}') && !stream.contains('\u{1}') && !stream.contains('\u{7f}'),
            "{stream:?}"
        );
    }
    assert!(run.stdout.contains("\\x1b[31mred"), "{}", run.stdout);
    assert_schema_valid(&run.report());
}

#[test]
fn huge_and_endless_bodies_are_counted_not_kept() {
    // Every iteration fails (`.json()` on a cut body), so the scenario fails, saying why.
    let run = hostile("huge-bodies", &["--exact", "huge_bodies"]);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("no iteration succeeded: 8 of 8 failed"),
        "{}",
        run.stdout
    );
    let s = run.scenario("huge_bodies");
    let load = &s["load"];
    let checks = load["checks"].as_array().unwrap();
    for name in ["the body was cut", "the whole body was counted"] {
        let c = checks.iter().find(|c| c["name"] == name).expect(name);
        assert_eq!(
            (c["passed"].as_u64(), c["failed"].as_u64()),
            (Some(8), Some(0)),
            "{c}"
        );
    }
    let report = serde_json::to_string(&s).unwrap();
    assert!(
        report.contains("only the first 1048576 were kept"),
        "`.json()` on a truncated body says so: {report}"
    );

    let run = hostile("endless-body", &["--exact", "endless_body"]);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("peak RSS was"), "{}", run.stdout);
    let requests = &run.scenario("endless_body")["load"]["requests"][0];
    assert_eq!(requests["failed"], 2, "{requests}");
    assert_eq!(requests["errors"][0]["kind"], "timeout", "{requests}");
}

#[test]
fn distinct_panic_messages_are_bounded() {
    let run = hostile("many-panics", &["--exact", "many_panics"]);
    assert_eq!(run.code, 101, "{}{}", run.stdout, run.stderr);
    let s = run.scenario("many_panics");
    let it = &s["load"]["iterations"][0];
    let panics = it["panics"].as_array().unwrap();
    assert!(panics.len() <= 21, "{} panic entries", panics.len());
    let counted: u64 = panics.iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 2000, "every panic is counted");
    let size = std::fs::metadata(run.out.join("latest").join("report.json"))
        .unwrap()
        .len();
    assert!(size < 300_000, "report.json has {size} bytes");
    let lines = run
        .stdout
        .lines()
        .filter(|l| l.contains("panicked"))
        .count();
    assert!(lines <= 25, "{lines} terminal lines about panics");
}

#[test]
fn secrets_are_sent_or_refused_never_written() {
    let run = hostile("secrets", &["--exact", "secrets", "--log", "debug"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let all = everything_written(&run);
    for secret in ["QUERY-SECRET-1", "HEADER-SECRET-2"] {
        assert!(!all.contains(secret), "`{secret}` was written:\n{all}");
    }
    assert!(all.contains("access_token=[redacted]"), "{all}");
    // The name with a newline failed its request, and no raw newline reached a name.
    let requests = run.scenario("secrets")["load"]["requests"].clone();
    let names: Vec<&str> = requests
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.contains('\n')), "{names:?}");

    let run = hostile(
        "redirect",
        &["--exact", "redirect_referer", "--log", "debug"],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let checks = run.scenario("redirect_referer")["load"]["checks"].clone();
    assert_eq!(checks[0]["passed"], 2, "{checks}");
    assert_eq!(
        checks[0]["failed"], 0,
        "a Referer reached the other host: {checks}"
    );
    assert!(!everything_written(&run).contains("REDIRECT-SECRET-3"));
}

#[test]
fn secret_headers_of_the_settings_file_are_redacted_everywhere() {
    let out = out_dir("settings-secrets");
    let dir = out.join("workdir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("windtunnel.toml"),
        "target = \"shop/staging\"\nredact = [\"x-session\"]\n\
         [targets.shop.environments.staging]\nurl = \"http://127.0.0.1:9/?api_key=URL-SECRET\"\n\
         headers = { authorization = \"Bearer FILE-SECRET-1\", x-session = \"FILE-SECRET-2\", \
         x-team = \"shop\" }\n",
    )
    .unwrap();
    let check = {
        let mut cmd = command(HOSTILE, &out);
        cmd.current_dir(&dir)
            .args(["--exact", "configured", "--check-config"]);
        run_within(cmd, LIMIT, &out)
    };
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(check.stdout.contains("x-team: shop"), "{}", check.stdout);
    let run = {
        let mut cmd = command(HOSTILE, &out);
        cmd.current_dir(&dir).args(["--exact", "configured"]);
        run_within(cmd, LIMIT, &out)
    };
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let all = format!(
        "{}{}{}",
        check.stdout,
        check.stderr,
        everything_written(&run)
    );
    for secret in ["FILE-SECRET-1", "FILE-SECRET-2", "URL-SECRET"] {
        assert!(!all.contains(secret), "`{secret}` was written:\n{all}");
    }
    assert!(all.contains("authorization: [redacted]"), "{all}");
    assert_schema_valid(&read_json(&run.out.join("latest").join("report.json")));
}

#[test]
fn credentials_in_a_target_url_are_refused_without_being_echoed() {
    let run = hostile(
        "userinfo",
        &[
            "--exact",
            "configured",
            "--target",
            "http://me:hunter2@127.0.0.1:9",
        ],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("cannot hold credentials"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("hunter2") && !run.stdout.contains("hunter2"));
}

#[test]
fn bad_load_values_are_exit_2_before_any_request_naming_field_and_source() {
    for (args, expected) in [
        (
            &["--users", "0"][..],
            "for flag `--users`: must be at least 1 user",
        ),
        (&["--users", "5000000"][..], "at most 1000000 users"),
        (
            &["--duration", "0s"][..],
            "for flag `--duration`: must be above zero",
        ),
        (&["--duration", "1000y"][..], "longer than a load may run"),
        (&["--rate", "1e12/s"][..], "more than one process can start"),
        (
            &["--iterations", "0"][..],
            "for flag `--iterations`: must be at least 1",
        ),
    ] {
        let mut all = vec!["--exact", "configured", "--target", "http://127.0.0.1:9"];
        all.extend_from_slice(args);
        let run = hostile("load-values", &all);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    let out = out_dir("load-values-file");
    std::fs::write(
        out.join("windtunnel.toml"),
        "[scenarios.configured]\nusers = 0\n",
    )
    .unwrap();
    let mut cmd = command(HOSTILE, &out);
    cmd.current_dir(&out)
        .args(["--exact", "configured", "--target", "http://127.0.0.1:9"]);
    let run = run_within(cmd, LIMIT, &out);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("`scenarios.configured.users`: must be at least 1 user"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unwritable_report_root_fails_before_the_first_request() {
    let out = out_dir("unwritable");
    let blocker = out.join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let mut cmd = command(HOSTILE, &blocker.join("reports"));
    cmd.args(["--exact", "forged_junit"]);
    let run = run_within(cmd, LIMIT, &out);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("nothing ran"), "{}", run.stderr);
    assert!(!run.stdout.contains("forged_junit ... "), "{}", run.stdout);
}
