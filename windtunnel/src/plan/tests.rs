//! Reading plans: what a good plan becomes, and an error naming the place for each bad input.

use std::path::{Path, PathBuf};

use super::*;

fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("windtunnel-plan-{}", std::process::id()))
        .join(test);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read(test: &str, file: &str, text: &str) -> Result<Plan, String> {
    let d = dir(test);
    std::fs::write(d.join("users.csv"), "name,pass\nada,x\nbob,y\n").unwrap();
    std::fs::write(d.join("bad.csv"), "name,pass\nada,x\nbob\n").unwrap();
    let path = d.join(file);
    std::fs::write(&path, text).unwrap();
    Plan::read(&path, &Catalog::default()).map_err(|e| e.to_string())
}

fn err(test: &str, text: &str) -> String {
    match read(test, "plan.toml", text) {
        Ok(_) => panic!("{test}: the plan was accepted"),
        Err(e) => e,
    }
}

const GOOD: &str = r#"
name = "shop"
target = "http://127.0.0.1:8080"
objectives = [{ p99 = "250ms" }]

[load]
users = 2
iterations = 3

[data.users]
file = "users.csv"

[vars]
id = { int = [1, 20] }

[[endpoints]]
path = "/products/{{id}}"
weight = 2

[[flows]]
name = "buyer"
[[flows.steps]]
name = "login"
method = "post"
path = "/login"
json = { user = "{{users.name}}", password = "{{users.pass}}" }
expect = 200
extract = { token = "/token" }
[[flows.steps]]
path = "/account"
headers = { authorization = "Bearer {{token}}" }
expect = [200, 204]
"#;

#[test]
fn a_good_plan_becomes_agents_and_a_load() {
    let plan = read("good", "plan.toml", GOOD).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.name, "shop");
    let names: Vec<(&str, u32)> = plan.agents.iter().map(|a| (a.name(), a.weight())).collect();
    assert_eq!(names, [("endpoints", 1), ("buyer", 1)]);
    assert_eq!(plan.load.describe()[1], ("users", "2".to_owned()));
    assert_eq!(plan.objectives.len(), 1);
    assert_eq!(plan.target.as_ref().unwrap().url, "http://127.0.0.1:8080");
}

#[test]
fn each_bad_input_names_its_place() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "unknown-key",
            "users = 2",
            "usres = 2",
            &["plan.toml:", "unknown key `usres` (did you mean `users`?)"],
        ),
        (
            "wrong-type",
            "users = 2",
            "users = \"two\"",
            &["`load.users`"],
        ),
        (
            "no-unit",
            "iterations = 3",
            "duration = 3",
            &["`load.duration`", "needs a unit"],
        ),
        (
            "negative",
            "iterations = 3",
            "iterations = -3",
            &["`load.iterations`"],
        ),
        (
            "missing-name",
            "name = \"shop\"\n",
            "",
            &["missing field `name`"],
        ),
        (
            "unknown-var",
            "Bearer {{token}}",
            "Bearer {{tokn}}",
            &[
                "`flows[0].steps[1].headers.authorization`",
                "unknown variable `{{tokn}}` (did you mean `{{token}}`?)",
            ],
        ),
        (
            "later-var",
            "path = \"/login\"",
            "path = \"/login/{{token}}\"",
            &["`flows[0].steps[0].path`", "`{{token}}`"],
        ),
        (
            "bad-csv",
            "file = \"users.csv\"",
            "file = \"bad.csv\"",
            &["`data.users.file`", "bad.csv: line 3: a malformed row"],
        ),
        (
            "bad-url",
            "target = \"http://127.0.0.1:8080\"",
            "target = \"127.0.0.1:8080\"",
            &["plan.toml:3:10: `target`", "not a URL"],
        ),
        (
            "bad-pointer",
            "\"/token\"",
            "\"token\"",
            &["`flows[0].steps[0].extract.token`", "JSON pointer"],
        ),
        (
            "bad-status",
            "expect = 200",
            "expect = 20",
            &["`flows[0].steps[0].expect`", "from 100 to 599"],
        ),
        (
            "two-models",
            "users = 2",
            "users = 2\nrate = \"5/s\"",
            &["`load`", "`users` and `rate`"],
        ),
        (
            "no-bound",
            "iterations = 3",
            "",
            &["`load`", "need a `duration`"],
        ),
        (
            "method",
            "method = \"post\"",
            "method = \"FETCH\"",
            &["`flows[0].steps[0].method`", "unknown method `FETCH`"],
        ),
        (
            "path",
            "path = \"/account\"",
            "path = \"account\"",
            &["`flows[0].steps[1].path`", "starts with `/`"],
        ),
        (
            "weight",
            "weight = 2",
            "weight = 0",
            &["`endpoints[0].weight`", "at least 1"],
        ),
        (
            "objective",
            "{ p99 = \"250ms\" }",
            "{ of = \"x\" }",
            &["`objectives[0]`", "needs one metric"],
        ),
    ];
    for (test, from, to, expected) in cases {
        assert!(GOOD.contains(from), "{test}: `{from}` is not in the plan");
        let e = err(test, &GOOD.replacen(from, to, 1));
        for x in *expected {
            assert!(e.contains(x), "{test}: `{x}` not in: {e}");
        }
    }
}

#[test]
fn json_plans_name_the_line_and_key_too() {
    let e = read(
        "json",
        "plan.json",
        "{\n  \"name\": \"x\",\n  \"load\": {\"users\": 1, \"iterations\": 1},\n  \"endpoints\": [{\"path\": \"/\", \"wieght\": 2}]\n}",
    )
    .err()
    .unwrap();
    assert!(
        e.contains("plan.json:4:")
            && e.contains("`endpoints[0].wieght`")
            && e.contains("did you mean `weight`?"),
        "{e}"
    );
    let e = read(
        "json-none",
        "plan.json",
        "{\"name\": \"x\", \"load\": {\"users\": 1, \"iterations\": 1}}",
    )
    .err()
    .unwrap();
    assert!(e.contains("needs `endpoints`"), "{e}");
    let e = Plan::read(Path::new("/nonexistent/plan.toml"), &Catalog::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("cannot read the file"), "{e}");
}

/// A flow that buys, retries the checkout and waits for shipping, with content assertions.
const WORKFLOW: &str = r#"
name = "orders"
target = "http://127.0.0.1:8080"

[services]
payments = { target = "http://127.0.0.1:8081", headers = { x-api-key = "k" }, timeout = "2s" }
search = "http://127.0.0.1:8082"

[vars]
coupon = { chance = 0.3 }

[load]
users = 1
iterations = 1

[[flows]]
name = "tracker"
max_steps = 10
continue_on_failure = true
[[flows.steps]]
name = "checkout"
method = "post"
path = "/checkout"
expect = 201
assert = [{ json = "/order_id" }, { header = "content-type", contains = "json" }, { schema = "order.schema.json" }]
retry = { attempts = 3, on_status = [503], on_errors = ["timeout", "connect"], delay = "20ms", exponential = true, max_delay = "200ms", jitter = 0.5 }
extract = { order = "/order_id" }
[[flows.steps]]
name = "pay"
service = "payments"
method = "post"
path = "/payments"
if = "coupon"
repeat = 2
[[flows.steps]]
name = "get order"
path = "/orders/{{order}}"
wait = { name = "order shipped", timeout = "5s", every = "100ms", until = [{ json = "/status", equals = "shipped" }, { json = "/order_id", equals = "{{order}}" }] }
"#;

fn read_workflow(test: &str, text: &str) -> Result<Plan, String> {
    let d = dir(test);
    std::fs::write(
        d.join("order.schema.json"),
        r#"{"type": "object", "required": ["order_id"]}"#,
    )
    .unwrap();
    std::fs::write(d.join("broken.schema.json"), "{ not json").unwrap();
    let path = d.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    Plan::read(&path, &Catalog::default()).map_err(|e| e.to_string())
}

#[test]
fn a_workflow_plan_reads_its_assertions_retries_and_waits() {
    let plan = read_workflow("workflow", WORKFLOW).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.agents.len(), 1);
}

#[test]
fn each_bad_workflow_input_names_its_place() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "wait-no-timeout",
            "timeout = \"5s\", ",
            "",
            &[
                "plan.toml:",
                "`flows[0].steps[2].wait`",
                "a wait needs a `timeout`",
            ],
        ),
        (
            "wait-no-condition",
            "until = [{ json = \"/status\", equals = \"shipped\" }, { json = \"/order_id\", equals = \"{{order}}\" }]",
            "until = []",
            &["`flows[0].steps[2].wait.until`", "a wait needs a condition"],
        ),
        (
            "wait-every",
            "every = \"100ms\"",
            "every = \"0ms\"",
            &[
                "`flows[0].steps[2].wait.every`",
                "at most every millisecond",
            ],
        ),
        (
            "wait-same-name",
            "name = \"order shipped\"",
            "name = \"get order\"",
            &["`flows[0].steps[2].wait.name`", "both named `get order`"],
        ),
        (
            "retry-zero",
            "attempts = 3",
            "attempts = 0",
            &["`flows[0].steps[0].retry.attempts`", "at least 1 attempt"],
        ),
        (
            "retry-no-attempts",
            "attempts = 3, ",
            "",
            &["`flows[0].steps[0].retry`", "needs `attempts`"],
        ),
        (
            "retry-kind",
            "\"timeout\", \"connect\"",
            "\"timeout\", \"conect\"",
            &[
                "`flows[0].steps[0].retry.on_errors[1]`",
                "unknown error kind `conect` (did you mean `connect`?)",
            ],
        ),
        (
            "retry-status",
            "\"timeout\", \"connect\"",
            "\"timeout\", \"status\"",
            &[
                "`flows[0].steps[0].retry.on_errors[1]`",
                "retried by the statuses of `on_status`",
            ],
        ),
        (
            "retry-never",
            "\"timeout\", \"connect\"",
            "\"invalid\"",
            &["`flows[0].steps[0].retry.on_errors[0]`", "never retried"],
        ),
        (
            "retry-jitter",
            "jitter = 0.5",
            "jitter = 2",
            &["`flows[0].steps[0].retry.jitter`", "from 0 to 1"],
        ),
        (
            "retry-and-wait",
            "path = \"/orders/{{order}}\"",
            "path = \"/orders/{{order}}\"\nretry = { attempts = 2 }",
            &["`flows[0].steps[2].wait`", "waits or retries, not both"],
        ),
        (
            "pointer",
            "{ json = \"/order_id\" }",
            "{ json = \"order_id\" }",
            &[
                "`flows[0].steps[0].assert[0].json`",
                "is not a JSON pointer",
            ],
        ),
        (
            "regex",
            "{ json = \"/order_id\" }",
            "{ json = \"/order_id\", matches = \"(\" }",
            &[
                "`flows[0].steps[0].assert[0].matches`",
                "not a regular expression",
            ],
        ),
        (
            "two-subjects",
            "{ json = \"/order_id\" }",
            "{ json = \"/order_id\", status = 200 }",
            &["`flows[0].steps[0].assert[0]`", "`status` and `json`"],
        ),
        (
            "two-tests",
            "{ json = \"/order_id\" }",
            "{ json = \"/order_id\", equals = 1, contains = 1 }",
            &["`flows[0].steps[0].assert[0]`", "`equals` and `contains`"],
        ),
        (
            "test-on-status",
            "{ json = \"/order_id\" }",
            "{ status = 201, equals = 1 }",
            &["`flows[0].steps[0].assert[0].equals`", "not a `status`"],
        ),
        (
            "no-subject",
            "{ json = \"/order_id\" }",
            "{ equals = 1 }",
            &["`flows[0].steps[0].assert[0]`", "tests one of `status`"],
        ),
        (
            "typo",
            "{ json = \"/order_id\" }",
            "{ json = \"/order_id\", equal = 1 }",
            &["unknown key `equal` (did you mean `equals`?)"],
        ),
        (
            "schema-missing",
            "order.schema.json",
            "missing.schema.json",
            &[
                "`flows[0].steps[0].assert[2].schema`",
                "cannot read the JSON Schema `missing.schema.json`",
            ],
        ),
        (
            "schema-broken",
            "order.schema.json",
            "broken.schema.json",
            &["`flows[0].steps[0].assert[2].schema`", "is not JSON"],
        ),
        (
            "unknown-service",
            "service = \"payments\"",
            "service = \"paymnts\"",
            &[
                "`flows[0].steps[1].service`",
                "unknown service `paymnts` (did you mean `payments`?); the plan's services are `payments`, `search`",
            ],
        ),
        (
            "service-url",
            "search = \"http://127.0.0.1:8082\"",
            "search = \"127.0.0.1:8082\"",
            &["`services.search.target`", "not a URL"],
        ),
        (
            "service-key",
            "timeout = \"2s\"",
            "timout = \"2s\"",
            &["unknown key `timout` (did you mean `timeout`?)"],
        ),
        (
            "service-header-value",
            "x-api-key = \"k\"",
            "x-api-key = \"k\\nv\"",
            &[
                "`services.payments.headers.x-api-key`",
                "not a valid header value",
            ],
        ),
        (
            "service-target-name",
            "search = ",
            "target = ",
            &["`services.target`", "the plan's target itself"],
        ),
        (
            "service-header",
            "x-api-key = \"k\"",
            "\"x api\" = \"k\"",
            &[
                "`services.payments.headers.\"x api\"`",
                "not a valid header name",
            ],
        ),
        (
            "chance",
            "chance = 0.3",
            "chance = 1.5",
            &["`vars.coupon.chance`", "from 0 to 1, not 1.5"],
        ),
        (
            "if-unknown",
            "if = \"coupon\"",
            "if = \"cupon\"",
            &[
                "`flows[0].steps[1].if`",
                "unknown variable `cupon` (did you mean `coupon`?)",
            ],
        ),
        (
            "if-both",
            "if = \"coupon\"",
            "if = { var = \"coupon\", equals = true, not = false }",
            &["`flows[0].steps[1].if`", "`equals` or `not`, not both"],
        ),
        (
            "repeat-zero",
            "repeat = 2",
            "repeat = 0",
            &["`flows[0].steps[1].repeat`", "from 1 to 10000 times, not 0"],
        ),
        (
            "repeat-no-max",
            "repeat = 2",
            "repeat = { until = [{ status = 201 }] }",
            &["`flows[0].steps[1].repeat`", "needs a `max`"],
        ),
        (
            "repeat-and-wait",
            "path = \"/orders/{{order}}\"",
            "path = \"/orders/{{order}}\"\nrepeat = 2",
            &["`flows[0].steps[2].repeat`", "waits or repeats, not both"],
        ),
        (
            "max-steps",
            "max_steps = 10",
            "max_steps = 0",
            &["`flows[0].max_steps`", "at least 1 step"],
        ),
        (
            "template-unknown",
            "{ json = \"/order_id\" }",
            "{ json = \"/order_id\", equals = \"{{ordr}}\" }",
            &[
                "`flows[0].steps[0].assert[0].equals`",
                "unknown variable `{{ordr}}`",
            ],
        ),
        (
            "template-pointer",
            "{ json = \"/order_id\" }",
            "{ json = \"order_id\", equals = \"{{coupon}}\" }",
            &[
                "`flows[0].steps[0].assert[0].json`",
                "is not a JSON pointer",
            ],
        ),
        (
            "schema-outside",
            "order.schema.json",
            "/etc/passwd",
            &[
                "`flows[0].steps[0].assert[2].schema`",
                "outside the plan's directory",
            ],
        ),
    ];
    for (test, from, to, expected) in cases {
        assert!(
            WORKFLOW.contains(from),
            "{test}: `{from}` is not in the plan"
        );
        let e = match read_workflow(test, &WORKFLOW.replacen(from, to, 1)) {
            Ok(_) => panic!("{test}: the plan was accepted"),
            Err(e) => e,
        };
        for x in *expected {
            assert!(e.contains(x), "{test}: `{x}` not in: {e}");
        }
    }
}

#[test]
fn a_templated_expectation_is_built_from_the_iterations_values() {
    let d = dir("templated");
    let path = d.join("plan.toml");
    let spec: ExpectSpec = toml::from_str(
        r#"json = "/order_id"
equals = "{{order}}""#,
    )
    .unwrap();
    std::fs::write(&path, "name = \"x\"\n").unwrap();
    let doc = Document::read(&path).unwrap();
    let e = expectation(&doc, &KeyPath::root(), &spec, &["order".to_owned()]).unwrap();
    let mut vars = template::Vars::new();
    vars.insert("order".into(), Value::from(7));
    // One variable alone keeps its type: the number 7, not the text "7".
    assert_eq!(e.render(&vars).to_string(), "`/order_id` equals 7");
    vars.insert("order".into(), Value::from("A-1"));
    assert_eq!(e.render(&vars).to_string(), r#"`/order_id` equals "A-1""#);
    // Without a template, it is built once.
    let fixed: ExpectSpec = toml::from_str(
        r#"json = "/a"
equals = "{ not a template }""#,
    )
    .unwrap();
    assert!(matches!(
        expectation(&doc, &KeyPath::root(), &fixed, &[]).unwrap(),
        PlanExpect::Fixed(_)
    ));
}
