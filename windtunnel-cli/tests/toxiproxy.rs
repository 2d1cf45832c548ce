//! `windtunnel proxy` driven by a real Toxiproxy client: toxiproxy-python from PyPI runs
//! `toxiproxy_client.py` against it (creating proxies and toxics, the error codes, disabling,
//! a seeded reset_peer checked against the fault tape, and 1,000 toxic changes while 50
//! connections stream). Skipped, with a message, when `python3` or the client is not installed
//! (`.ci/run` installs it: `pip install toxiproxy-python`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

fn client_present() -> bool {
    Command::new("python3")
        .args(["-c", "import toxiproxy, requests"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits for `child` to end, killing it (and failing) after `limit`.
fn wait(child: &mut std::process::Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_toxiproxy_client_drives_windtunnel_proxy_unchanged() {
    if !client_present() {
        eprintln!(
            "skipped: python3 with toxiproxy-python is not installed \
             (`pip install toxiproxy-python` to run this test)"
        );
        return;
    }
    let dir = common::scratch("toxiproxy", "client");
    let tape = dir.join("tape.json");
    let mut proxy = Command::new(env!("CARGO_BIN_EXE_windtunnel"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--seed", "9", "--tape"])
        .arg(&tape)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(proxy.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let port = first
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no API address in `{first}`"))
        .to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/toxiproxy_client.py");
    let mut client = Command::new("python3")
        .arg(&script)
        .arg(&port)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait(
        &mut client,
        Duration::from_secs(120),
        "the Toxiproxy client",
    );
    let output = client.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The figures, for the record (`--nocapture`).
    println!("{stdout}");
    // SIGTERM stops the proxy, which writes its tape.
    let _ = Command::new("kill").arg(proxy.id().to_string()).status();
    let stopped = wait(&mut proxy, Duration::from_secs(10), "windtunnel proxy");
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stopped.success(), "windtunnel proxy exited with {stopped}");
    let tape: serde_json::Value = serde_json::from_slice(&std::fs::read(&tape).unwrap()).unwrap();
    assert_eq!(tape["seed"], 9);
    let echo2 = &tape["proxies"]["echo2"];
    assert_eq!(echo2["format"], "windtunnel-fault-tape", "{tape}");
}

#[test]
fn the_api_binds_loopback_unless_told_otherwise() {
    let out = Command::new(env!("CARGO_BIN_EXE_windtunnel"))
        .args(["proxy", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a loopback address"), "{err}");
    assert!(err.contains("--allow-non-loopback"), "{err}");
}
