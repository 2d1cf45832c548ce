//! Helpers for the end-to-end tests: run a fixture binary as a subprocess with its reports in a
//! directory of the test's own, and read what it wrote.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// What a fixture run left behind.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub out: PathBuf,
}

impl Run {
    /// The combined `report.json` of the newest run.
    pub fn report(&self) -> Value {
        read_json(&self.out.join("latest").join("report.json"))
    }

    /// The `junit.xml` of the newest run.
    pub fn junit(&self) -> String {
        std::fs::read_to_string(self.out.join("latest").join("junit.xml")).expect("junit.xml")
    }

    /// One scenario of the report.
    pub fn scenario(&self, name: &str) -> Value {
        let report = self.report();
        report["scenarios"]
            .as_array()
            .expect("scenarios")
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no scenario `{name}` in {report:#}"))
            .clone()
    }
}

pub fn read_json(path: &Path) -> Value {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A fresh, empty directory for one test's reports.
pub fn out_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command for `bin` with the environment cleaned of windtunnel and nextest settings, and
/// reports going to `out`.
pub fn command(bin: &str, out: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("WINDTUNNEL_")
            || k.starts_with("NEXTEST")
            || k == "RUST_LOG"
            || k == "GITHUB_STEP_SUMMARY"
        {
            cmd.env_remove(&*k);
        }
    }
    cmd.env("WINDTUNNEL_OUT", out).env("RUST_BACKTRACE", "0");
    cmd
}

fn finish(output: Output, out: PathBuf) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        out,
    }
}

pub const FIXTURE: &str = env!("CARGO_BIN_EXE_wt-fixture");
pub const DUPLICATES: &str = env!("CARGO_BIN_EXE_wt-fixture-duplicates");

/// Runs the fixture binary with `args`, reports under a directory named after `test`.
pub fn fixture(test: &str, args: &[&str]) -> Run {
    run_bin(FIXTURE, test, args)
}

/// Runs the fixture with `args` and extra environment, reports in `out` (not cleared).
pub fn fixture_in(out: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(FIXTURE, out);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    finish(cmd.output().expect("run the fixture"), out.to_owned())
}

/// Runs any binary with `args`, reports under a directory named after `test`.
pub fn run_bin(bin: &str, test: &str, args: &[&str]) -> Run {
    let out = out_dir(test);
    let output = command(bin, &out)
        .args(args)
        .output()
        .expect("run the binary");
    finish(output, out)
}

/// Checks `report` against the published JSON Schema.
pub fn assert_schema_valid(report: &Value) {
    let schema_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("windtunnel/schemas/report.v8.schema.json");
    let schema = read_json(&schema_path);
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report.json does not match its schema:\n{}",
        errors.join("\n")
    );
}

/// Validates JUnit XML against `../shared/schemas/junit-10.xsd` with xmllint. Returns `false`
/// (after saying why) when the schema or xmllint is not available, as for users outside the
/// windtunnel workplace; CI installs both.
pub fn xmllint_validates(xml_path: &Path) -> bool {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas/junit-10.xsd");
    if !xsd.is_file() {
        eprintln!(
            "skipping XSD validation: {} not found (it lives outside the repository)",
            xsd.display()
        );
        return false;
    }
    let status = match Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(xml_path)
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            if std::env::var_os("CI").is_some() {
                panic!("xmllint is missing on CI: install libxml2-utils");
            }
            eprintln!("skipping XSD validation: xmllint not found (apt-get install libxml2-utils)");
            return false;
        }
    };
    assert!(
        status.status.success(),
        "{} is not valid against junit-10.xsd:\n{}",
        xml_path.display(),
        String::from_utf8_lossy(&status.stderr)
    );
    true
}

/// Runs `bin` with `args`, reports under a directory named after `test`, killed (and the test
/// failed) if it has not ended within `limit`.
pub fn run_bin_within(bin: &str, test: &str, args: &[&str], limit: std::time::Duration) -> Run {
    let out = out_dir(test);
    let mut cmd = command(bin, &out);
    cmd.args(args);
    run_within(cmd, limit, &out)
}

/// Runs `cmd` (its reports in `out`), killing it and failing the test if it has not ended
/// within `limit`: a test of something that could hang must not hang CI.
pub fn run_within(mut cmd: Command, limit: std::time::Duration, out: &Path) -> Run {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the binary") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the binary did not end within {limit:?}: killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    finish(
        Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        },
        out.to_owned(),
    )
}
