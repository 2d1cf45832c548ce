//! `windtunnel run PLAN` end to end against the demo shop (started here, on loopback): the
//! example plans run through the engine and write the reports a `#[scenario]` writes; a
//! settings file and flags change them; bad plans exit 2 before any request.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::shop;

fn scratch(test: &str) -> PathBuf {
    common::scratch("plans", test)
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/plans")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `windtunnel run` in `dir`, reports under `dir/reports`.
fn run(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_windtunnel"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("WINDTUNNEL_") {
            cmd.env_remove(k);
        }
    }
    let o = cmd
        .current_dir(dir)
        .arg("run")
        .args(args)
        .env("WINDTUNNEL_OUT", dir.join("reports"))
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn scenario(dir: &Path) -> Value {
    let path = dir.join("reports/latest/report.json");
    let report: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    report["scenarios"][0].clone()
}

fn count(s: &Value, request: &str) -> u64 {
    s["load"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == request)
        .unwrap_or_else(|| panic!("no request `{request}` in {s:#}"))["count"]
        .as_u64()
        .unwrap()
}

fn setting(s: &Value, name: &str) -> (String, String) {
    let v = s["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no setting `{name}`"));
    (
        v["value"].as_str().unwrap().to_owned(),
        v["source"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn the_shopper_workflow_logs_in_buys_and_reads_its_order() {
    let shop = shop();
    let dir = scratch("shopper");
    let url = shop.handle.url();
    let r = run(
        &dir,
        &[
            &example("shopper.toml"),
            "--target",
            &url,
            "--duration",
            "2s",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("plan shopper ... ok"), "{}", r.stdout);
    let s = scenario(&dir);
    assert_eq!(s["outcome"], "passed");
    assert_eq!(s["binary"], "plan");
    // Every step ran; the order read back is one checkout made (the id was extracted).
    let logins = count(&s, "login");
    assert!(logins >= 20, "{logins} logins in 2 s at 20/s");
    assert_eq!(count(&s, "account"), logins);
    assert!(count(&s, "view order") > 0);
    assert!(
        s["load"]["total"]["errors"].as_array().unwrap().is_empty(),
        "{s:#}"
    );
    assert_eq!(
        setting(&s, "duration"),
        ("2s".into(), "flag --duration".into())
    );
    assert_eq!(setting(&s, "rate"), ("20/s".into(), "plan".into()));
    assert_eq!(setting(&s, "seed"), ("42".into(), "plan".into()));
    assert!(s["replay"].as_str().unwrap().starts_with("windtunnel run "));
    for file in ["report.json", "junit.xml", "report.html"] {
        assert!(dir.join("reports/latest").join(file).is_file(), "{file}");
    }
}

#[test]
fn browse_and_a_json_plan_with_a_settings_file() {
    let shop = shop();
    let url = shop.handle.url();
    let dir = scratch("browse");
    let r = run(
        &dir,
        &[
            &example("browse.toml"),
            "--target",
            &url,
            "--duration",
            "1s",
            "--users",
            "3",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = scenario(&dir);
    assert!(count(&s, "view product") > count(&s, "health"));
    // A settings file in the working directory shortens the JSON plan's stages and names
    // the target from its catalog.
    let dir = scratch("spike");
    std::fs::write(
        dir.join("windtunnel.toml"),
        format!(
            "[targets.shop.environments.test]\nurl = \"{url}\"\n\n[scenarios.spike]\ntarget = \
             \"shop/test\"\nstages = [{{ duration = \"1s\", rate = \"20/s\" }}, {{ duration = \
             \"1s\", rate = \"50/s\", name = \"spike\" }}]\nturbulence = \"off\"\n"
        ),
    )
    .unwrap();
    let r = run(&dir, &[&example("spike.json")]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = scenario(&dir);
    assert_eq!(
        setting(&s, "stages"),
        (
            "1s to 20/s, 1s to 50/s (spike)".into(),
            "windtunnel.toml scenarios.spike.stages".into()
        )
    );
    assert_eq!(
        setting(&s, "target").1,
        "windtunnel.toml scenarios.spike.target"
    );
    assert_eq!(setting(&s, "turbulence").0, "none");
}

#[test]
fn a_failed_objective_exits_101_and_check_config_sends_nothing() {
    let shop = shop();
    let url = shop.handle.url();
    let dir = scratch("fails");
    std::fs::write(
        dir.join("plan.toml"),
        "name = \"too-fast\"\nobjectives = [{ throughput = \"100000/s\" }]\n[load]\nusers = 1\n\
         iterations = 5\n[[endpoints]]\npath = \"/health\"\nexpect = 200\n",
    )
    .unwrap();
    let r = run(&dir, &["plan.toml", "--target", &url]);
    assert_eq!(r.code, 101, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("plan too-fast ... FAILED"),
        "{}",
        r.stdout
    );
    assert_eq!(scenario(&dir)["outcome"], "failed");

    let dir = scratch("check");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let silent = format!("http://{}", listener.local_addr().unwrap());
    let r = run(
        &dir,
        &[
            &example("shopper.toml"),
            "--target",
            &silent,
            "--check-config",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("no request was sent"), "{}", r.stdout);
    assert!(matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock));
    assert!(!dir.join("reports").exists());
}

#[test]
fn bad_plans_and_flags_exit_2_before_any_request() {
    let dir = scratch("bad");
    std::fs::write(
        dir.join("plan.toml"),
        "name = \"x\"\ntarget = \"http://127.0.0.1:9\"\n[load]\nusers = 1\niterations = 1\n\
         [[endpoints]]\npath = \"/{{nope}}\"\n",
    )
    .unwrap();
    let r = run(&dir, &["plan.toml"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("plan.toml:7:8: `endpoints[0].path`: unknown variable `{{nope}}`"),
        "{}",
        r.stderr
    );
    let r = run(&dir, &["missing.toml"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("missing.toml: cannot read the file"),
        "{}",
        r.stderr
    );
    let r = run(&dir, &["plan.toml", "--exact", "x"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("takes a plan and windtunnel's flags"),
        "{}",
        r.stderr
    );
    std::fs::write(
        dir.join("untargeted.toml"),
        "name = \"x\"\n[load]\nusers = 1\niterations = 1\n[[endpoints]]\npath = \"/\"\n",
    )
    .unwrap();
    let r = run(&dir, &["untargeted.toml"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("the plan has no `target`"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("reports").exists());
}

#[test]
fn hostile_plans_cannot_read_devices_huge_files_or_files_outside_the_plan() {
    let dir = scratch("hostile");
    // A device is not a plan: refused without reading it.
    let r = run(&dir, &["/dev/zero"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("/dev/zero: not a regular file"),
        "{}",
        r.stderr
    );
    // A file over the bound is refused; the bound can be raised.
    std::fs::write(dir.join("big.toml"), vec![b'#'; 4096]).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_windtunnel"));
    let o = cmd
        .current_dir(&dir)
        .args(["run", "big.toml"])
        .env("WINDTUNNEL_MAX_FILE_SIZE", "1024")
        .env("WINDTUNNEL_OUT", dir.join("reports"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("larger than 1024 bytes"), "{stderr}");
    // Data files are read from inside the plan's directory only.
    let secret = std::env::temp_dir().join(format!("wt-outside-{}.csv", std::process::id()));
    std::fs::write(&secret, "name\nroot\n").unwrap();
    for file in [secret.display().to_string(), "../../outside.csv".into()] {
        std::fs::write(
            dir.join("data.toml"),
            format!(
                "name = \"x\"\ntarget = \"http://127.0.0.1:9\"\n[load]\nusers = 1\niterations = 1\n\
                 [data.people]\nfile = \"{file}\"\n[[endpoints]]\npath = \"/{{{{people.name}}}}\"\n"
            ),
        )
        .unwrap();
        if file.starts_with("..") {
            std::fs::write(dir.join("../../outside.csv"), "name\nroot\n").unwrap();
        }
        let r = run(&dir, &["data.toml"]);
        assert_eq!(r.code, 2, "{file}: {}", r.stderr);
        assert!(
            r.stderr.contains("is outside the plan's directory"),
            "{file}: {}",
            r.stderr
        );
    }
    let _ = std::fs::remove_file(&secret);
    assert!(!dir.join("reports").exists());
}

/// Writes `body` as `plan.toml` in `dir`.
fn plan_file(dir: &Path, body: &str) -> String {
    let path = dir.join("plan.toml");
    std::fs::write(&path, body).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_plan_whose_every_iteration_fails_at_an_extraction_fails() {
    let shop = shop();
    let dir = scratch("extraction-fails");
    let plan = plan_file(
        &dir,
        &format!(
            "name = \"extracts\"\ntarget = \"{}\"\n[load]\nusers = 2\niterations = 3\n\
             [[flows]]\nname = \"reader\"\n[[flows.steps]]\nname = \"health\"\npath = \
             \"/health\"\nextract = {{ token = \"/no/such/field\" }}\n",
            shop.handle.url()
        ),
    );
    let r = run(&dir, &[&plan]);
    assert_eq!(r.code, 101, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("no iteration succeeded: 6 of 6 failed (first: agent `reader`"),
        "{}",
        r.stdout
    );
    let s = scenario(&dir);
    assert_eq!(s["outcome"], "failed");
    assert_eq!(count(&s, "health"), 6);
}

#[test]
fn a_plan_header_with_a_crlf_is_an_invalid_request_not_a_pass() {
    let shop = shop();
    let dir = scratch("crlf-header");
    let plan = plan_file(
        &dir,
        &format!(
            "name = \"crlf\"\ntarget = \"{}\"\n[load]\nusers = 1\niterations = 2\n\
             [[endpoints]]\nname = \"list\"\npath = \"/products\"\n\
             headers = {{ x-note = \"a\\r\\nb\" }}\n",
            shop.handle.url()
        ),
    );
    let r = run(&dir, &[&plan]);
    assert_eq!(r.code, 101, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("no request was sent: all 2 request(s) were invalid"),
        "{}",
        r.stdout
    );
    let s = scenario(&dir);
    let list = &s["load"]["requests"][0];
    assert_eq!((&list["count"], &list["failed"]), (&2.into(), &2.into()));
    assert_eq!(list["errors"][0]["kind"], "invalid");
}
