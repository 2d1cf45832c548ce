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

/// Checks the whole report in `dir` against the published schema.
fn assert_schema_valid(dir: &Path) {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../windtunnel/schemas/report.v8.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("reports/latest/report.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// The step of `s`'s report named `name`.
fn step<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["load"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no step `{name}` in {:#}", s["load"]["steps"]))
}

#[test]
fn the_orders_workflow_retries_checkout_and_waits_for_shipping() {
    // Orders ship 600 ms after their checkout; a fifth of the checkouts answer 503.
    let mut config = demo_shop::ShopConfig::instant();
    config.order_states = (
        std::time::Duration::from_millis(200),
        std::time::Duration::from_millis(600),
    );
    config.checkout_error_rate = 0.2;
    let shop = common::shop_with(config);
    let payments = common::payments();
    let dir = scratch("orders");
    // The example plan, with the payment provider started here.
    let plan = std::fs::read_to_string(example("orders.toml"))
        .unwrap()
        .replace("http://127.0.0.1:8081", &payments.handle.url());
    std::fs::write(dir.join("orders.toml"), plan).unwrap();
    std::fs::copy(example("order.schema.json"), dir.join("order.schema.json")).unwrap();
    let plan = dir.join("orders.toml").to_string_lossy().into_owned();
    let r = run(
        &dir,
        &[&plan, "--target", &shop.handle.url(), "--duration", "2s"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = scenario(&dir);
    assert_eq!(s["outcome"], "passed", "{s:#}");
    // Every poll is a request; the wait is counted apart, with its attempts.
    let wait = step(&s, "order shipped");
    assert_eq!(wait["kind"], "wait");
    let runs = wait["runs"].as_u64().unwrap();
    assert!(runs >= 5, "{wait:#}");
    assert_eq!(wait["gave_up"], 0, "{wait:#}");
    assert_eq!(wait["attempts"].as_u64().unwrap(), count(&s, "get order"));
    // The order ships 600 ms after its checkout; the wait for it starts once the payment is
    // captured (300 ms after), so polls at 0, 200 and 400 ms see it on the third.
    assert!(wait["max_attempts"].as_u64().unwrap() <= 4, "{wait:#}");
    assert!(wait["attempts"].as_u64().unwrap() >= 3 * runs, "{wait:#}");
    let took = &wait["operation"]["latency_ms"];
    let p50 = took["p50"].as_f64().unwrap();
    assert!(
        (390.0..700.0).contains(&p50),
        "the wait took {p50} ms at p50"
    );
    // The wait is not a request: the total counts the requests only.
    let requests: u64 = s["load"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(s["load"]["total"]["count"].as_u64().unwrap(), requests);
    assert!(
        s["load"]["requests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "order shipped")
    );
    // The objective on the wait was judged on it.
    let o = s["load"]["objectives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["scope"] == "order shipped" && o["metric"] == "p95")
        .unwrap_or_else(|| panic!("{:#}", s["load"]["objectives"]));
    assert!(
        o["passed"].as_bool().unwrap() && o["actual"].as_f64().unwrap() > 390.0,
        "{o:#}"
    );
    // Every checkout attempt is a request; the 503s were retried (a fifth fail, so with
    // several checkouts some needed a second attempt).
    let retry = step(&s, "checkout");
    assert_eq!(retry["kind"], "retry");
    assert_eq!(retry["attempts"].as_u64().unwrap(), count(&s, "checkout"));
    assert_eq!(retry["runs"].as_u64().unwrap(), count(&s, "add to cart"));
    assert!(retry["later_attempt"].as_u64().unwrap() > 0, "{retry:#}");
    assert_schema_valid(&dir);
    assert!(r.stdout.contains("wait `order shipped`: "), "{}", r.stdout);
    assert!(r.stdout.contains("retry `checkout`: "), "{}", r.stdout);
    // Across two services: the payment was polled until captured, and each service's
    // requests are totalled apart.
    let captured = step(&s, "payment captured");
    assert_eq!(captured["gave_up"], 0, "{captured:#}");
    assert_eq!(
        captured["attempts"].as_u64().unwrap(),
        count(&s, "get payment")
    );
    let services: Vec<(&str, u64)> = s["load"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["name"].as_str().unwrap(),
                x["total"]["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let on_payments = count(&s, "pay") + count(&s, "get payment");
    assert_eq!(
        services,
        [
            (
                "target",
                s["load"]["total"]["count"].as_u64().unwrap() - on_payments
            ),
            ("payments", on_payments)
        ]
    );
    assert_eq!(s["load"]["services"][1]["url"], payments.handle.url());
}

#[test]
fn a_wait_that_times_out_a_retry_that_gives_up_and_a_failed_assertion_fail_the_run() {
    // Orders take 10 s to ship; every checkout answers 503.
    let mut config = demo_shop::ShopConfig::instant();
    config.order_states = (
        std::time::Duration::from_secs(5),
        std::time::Duration::from_secs(10),
    );
    let shop = common::shop_with(config.clone());
    let url = shop.handle.url();
    let dir = scratch("wait-times-out");
    let plan = plan_file(
        &dir,
        &format!(
            r#"name = "slow shipping"
target = "{url}"
[load]
users = 2
iterations = 2
[[flows]]
name = "tracker"
[[flows.steps]]
name = "add"
method = "POST"
path = "/cart"
json = {{ product_id = 1, quantity = 1 }}
[[flows.steps]]
name = "checkout"
method = "POST"
path = "/checkout"
extract = {{ order = "/order_id" }}
[[flows.steps]]
name = "get order"
path = "/orders/{{{{order}}}}"
wait = {{ name = "order shipped", timeout = "300ms", every = "100ms", until = [{{ json = "/status", equals = "shipped" }}] }}
"#
        ),
    );
    let r = run(&dir, &[&plan]);
    assert_eq!(r.code, 101, "{}\n{}", r.stdout, r.stderr);
    let s = scenario(&dir);
    let wait = step(&s, "order shipped");
    assert_eq!(
        (wait["runs"].as_u64(), wait["gave_up"].as_u64()),
        (Some(4), Some(4))
    );
    // Polls at 0, 100, 200 and 300 ms.
    assert_eq!(wait["max_attempts"], 4, "{wait:#}");
    let why = wait["samples"][0].as_str().unwrap();
    assert!(
        why.starts_with("not met within 300ms (4 attempt(s)); the last: expected `/status` equals \"shipped\", got \"pending\""),
        "{why}"
    );
    // The wait's failure is a timeout of the operation; the iteration failed on the step.
    let errors = &wait["operation"]["errors"][0];
    assert_eq!(
        (errors["kind"].as_str(), errors["count"].as_u64()),
        (Some("timeout"), Some(4))
    );
    let failures = &s["load"]["iterations"][0]["failures"][0];
    assert_eq!(failures["kind"], "step", "{failures:#}");
    assert!(
        r.stdout.contains("! wait `order shipped`: 4 of 4 gave up"),
        "{}",
        r.stdout
    );
    assert_schema_valid(&dir);

    // A retry that runs out of attempts.
    config.checkout_error_rate = 1.0;
    let busy = common::shop_with(config);
    let dir = scratch("retry-gives-up");
    let plan = plan_file(
        &dir,
        &format!(
            r#"name = "busy payments"
target = "{}"
[load]
users = 1
iterations = 2
[[flows]]
name = "buyer"
[[flows.steps]]
name = "add"
method = "POST"
path = "/cart"
json = {{ product_id = 1, quantity = 1 }}
[[flows.steps]]
name = "checkout"
method = "POST"
path = "/checkout"
retry = {{ attempts = 3, on_status = [503], delay = "10ms" }}
"#,
            busy.handle.url()
        ),
    );
    let r = run(&dir, &[&plan]);
    assert_eq!(r.code, 101, "{}\n{}", r.stdout, r.stderr);
    let s = scenario(&dir);
    assert_eq!(
        count(&s, "checkout"),
        6,
        "3 attempts in each of 2 iterations"
    );
    let retry = step(&s, "checkout");
    assert_eq!(
        (retry["gave_up"].as_u64(), retry["attempts"].as_u64()),
        (Some(2), Some(6))
    );
    assert!(
        retry["samples"][0]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempt(s); the last: status 503"),
        "{retry:#}"
    );
    assert_schema_valid(&dir);

    // A 200 whose body misses its assertion is a failed request, with the expectation and
    // the actual value as its error sample.
    let dir = scratch("assertion");
    let plan = plan_file(
        &dir,
        &format!(
            r#"name = "wrong body"
target = "{url}"
[load]
users = 1
iterations = 3
[[endpoints]]
name = "product"
path = "/products/3"
assert = [{{ json = "/name", matches = "^Gadget" }}]
"#
        ),
    );
    let r = run(&dir, &[&plan]);
    assert_eq!(r.code, 101, "{}\n{}", r.stdout, r.stderr);
    let s = scenario(&dir);
    let product = &s["load"]["requests"][0];
    assert_eq!(
        (product["count"].as_u64(), product["failed"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(product["statuses"]["200"], 3);
    let e = &product["errors"][0];
    assert_eq!(e["kind"], "assertion");
    let sample = e["samples"][0].as_str().unwrap();
    assert!(
        sample.starts_with("status 200: expected `/name` matches `^Gadget`, got \""),
        "{sample}"
    );
    assert!(
        r.stdout
            .contains("product: 3 × assertion — status 200: expected `/name`"),
        "{}",
        r.stdout
    );
}

#[test]
fn toggles_conditions_repeats_and_journey_bounds() {
    let shop = shop();
    let dir = scratch("journeys");
    let plan = plan_file(
        &dir,
        &format!(
            r#"name = "journeys"
target = "{}"
seed = 11
[load]
users = 1
iterations = 40
[vars]
coupon = {{ chance = 0.3 }}
size = {{ pick = ["S", "M"] }}
[[flows]]
name = "buyer"
continue_on_failure = true
[[flows.steps]]
name = "add"
method = "POST"
path = "/cart"
json = {{ product_id = 2, quantity = 1 }}
repeat = 3
[[flows.steps]]
name = "coupon page"
path = "/products/999"
if = "coupon"
expect = 200
[[flows.steps]]
name = "size page"
path = "/products/1"
if = {{ var = "size", equals = "M" }}
[[flows.steps]]
name = "list"
path = "/products"
repeat = {{ max = 4, until = [{{ json = "/0/id", equals = 1 }}] }}
[[flows.steps]]
name = "checkout"
method = "POST"
path = "/checkout"
expect = 201
"#,
            shop.handle.url()
        ),
    );
    let r = run(&dir, &[&plan]);
    // The coupon page answers 404: those journeys fail, and go on to check out. (No objective
    // says how many may fail, and some succeeded: the run passes.)
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = scenario(&dir);
    assert_schema_valid(&dir);
    let variations = &s["load"]["variations"];
    let value = |name: &str, v: &str| -> (u64, u64) {
        let var = variations
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("{variations:#}"));
        let x = var["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["value"] == v)
            .unwrap_or_else(|| panic!("{var:#}"));
        (
            x["iterations"].as_u64().unwrap(),
            x["failed"].as_u64().unwrap(),
        )
    };
    let (with_coupon, failed_with) = value("coupon", "true");
    let (without, failed_without) = value("coupon", "false");
    assert_eq!(with_coupon + without, 40);
    // Exactly the journeys with a coupon failed (on its 404), and only they.
    assert_eq!((failed_with, failed_without), (with_coupon, 0));
    assert!(
        (4..=20).contains(&with_coupon),
        "{with_coupon} of 40 at 0.3"
    );
    assert_eq!(count(&s, "coupon page"), with_coupon);
    let (m, _) = value("size", "M");
    let (small, _) = value("size", "S");
    assert_eq!(m + small, 40);
    assert_eq!(count(&s, "size page"), m);
    // Three adds per journey; the list was met at once (its first product is 1).
    assert_eq!(count(&s, "add"), 120);
    assert_eq!(count(&s, "list"), 40);
    // Going on past the failure: every journey checked out.
    assert_eq!(count(&s, "checkout"), 40);
    let failures = &s["load"]["iterations"][0]["failures"][0];
    let sample = failures["samples"][0].as_str().unwrap();
    assert!(
        sample.ends_with("[coupon=true, size=S]") || sample.ends_with("[coupon=true, size=M]"),
        "{sample}"
    );
    assert!(
        r.stdout.contains("variation `coupon`: false "),
        "{}",
        r.stdout
    );

    // A bound on the journey's steps, and a repeat whose condition never holds.
    let dir = scratch("journey-bounds");
    let plan = plan_file(
        &dir,
        &format!(
            r#"name = "bounded"
target = "{}"
[load]
users = 1
iterations = 2
[[flows]]
name = "looper"
max_steps = 5
[[flows.steps]]
name = "list"
path = "/products"
repeat = {{ max = 3, until = [{{ json = "/0/id", equals = 99 }}] }}
[[flows.steps]]
name = "health"
path = "/health"
repeat = 10
"#,
            shop.handle.url()
        ),
    );
    let r = run(&dir, &[&plan]);
    assert_eq!(r.code, 101, "{}\n{}", r.stdout, r.stderr);
    let s = scenario(&dir);
    assert_eq!(count(&s, "list"), 6, "3 repeats in each of 2 iterations");
    let failures = &s["load"]["iterations"][0]["failures"][0];
    assert!(
        failures["samples"][0].as_str().unwrap().starts_with(
            "step `list`: not met after 3 repeat(s): expected `/0/id` equals 99, got 1"
        ),
        "{failures:#}"
    );
    assert!(
        s["load"]["requests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != "health")
    );

    let plan = plan_file(
        &dir,
        &format!(
            r#"name = "bounded"
target = "{}"
[load]
users = 1
iterations = 2
[[flows]]
name = "looper"
max_steps = 5
[[flows.steps]]
name = "health"
path = "/health"
repeat = 10
"#,
            shop.handle.url()
        ),
    );
    let r = run(&dir, &[&plan]);
    assert_eq!(r.code, 101, "{}\n{}", r.stdout, r.stderr);
    let s = scenario(&dir);
    assert_eq!(count(&s, "health"), 10, "5 steps in each of 2 iterations");
    let sample = s["load"]["iterations"][0]["failures"][0]["samples"][0]
        .as_str()
        .unwrap();
    assert!(
        sample.contains("reached its bound of 5 step(s) (`max_steps`) at step `health`"),
        "{sample}"
    );
}
