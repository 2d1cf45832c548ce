//! Declarative plans: a load test in a TOML or JSON file, with no Rust, run by
//! `windtunnel run plan.toml` through the same engine, reports and exit codes as a
//! `#[scenario]`. A plan has a target, a load, weighted `endpoints` (each iteration one
//! request) and/or `flows` (each iteration a sequence of steps, with values extracted from one
//! response used in the next), templated paths, headers and bodies (`{{name}}`), CSV data,
//! generated values, objectives and turbulence. Everything is checked when the file is read;
//! an error names the file, the line and column (TOML) and the key path.

mod data;
mod flow;
mod run;
mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

use crate::agent::AgentFn;
use crate::config::{
    Catalog, Document, Dur, FileError, KeyPath, ObjectiveSpec, RateText, StageSpec, Target,
    check_stages,
};
use crate::http::{Expect, Service};
use crate::load::{Load, per_sec};
use crate::metrics::ErrorKind;
use crate::objectives::Objective;
use crate::scenario::Scenario;
use crate::turbulence::Phase;
use crate::workflow::{Backoff, Retry, Wait};
use data::{DataSet, Order};
use flow::{Body, Condition, Flow, Generator, PlanExpect, Repeat, Shared, Step, Test};
use template::{JsonTemplate, Template};

pub(crate) use run::run;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanSpec {
    name: String,
    target: Option<String>,
    seed: Option<u64>,
    timeout: Option<Dur>,
    request_timeout: Option<Dur>,
    graceful_stop: Option<Dur>,
    think: Option<Think>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    services: BTreeMap<String, ServiceSpec>,
    load: LoadSpec,
    turbulence: Option<String>,
    #[serde(default)]
    objectives: Vec<ObjectiveSpec>,
    #[serde(default)]
    data: BTreeMap<String, DataSpec>,
    #[serde(default)]
    vars: BTreeMap<String, VarSpec>,
    #[serde(default)]
    endpoints: Vec<StepSpec>,
    /// The share of users on the endpoints, beside the flows' weights. (Default: 1.)
    endpoints_weight: Option<u32>,
    #[serde(default)]
    flows: Vec<FlowSpec>,
}

/// The agent that runs a plan's endpoints.
const ENDPOINTS: &str = "endpoints";

/// A service: `"http://127.0.0.1:9090"` (or a catalog combination), or a table with `target`,
/// `headers`, `timeout` and `insecure`.
#[derive(Debug)]
struct ServiceSpec(ServiceTable);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceTable {
    target: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    timeout: Option<Dur>,
    #[serde(default)]
    insecure: bool,
}

impl<'de> Deserialize<'de> for ServiceSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServiceSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL (or `app/environment/region`), or a table with `target`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ServiceSpec, E> {
                Ok(ServiceSpec(ServiceTable {
                    target: v.to_owned(),
                    headers: BTreeMap::new(),
                    timeout: None,
                    insecure: false,
                }))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<ServiceSpec, A::Error> {
                ServiceTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ServiceSpec)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadSpec {
    users: Option<u32>,
    rate: Option<RateText>,
    duration: Option<Dur>,
    ramp_up: Option<Dur>,
    iterations: Option<u64>,
    stages: Option<Vec<StageSpec>>,
    pool: Option<PoolSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolSpec {
    preallocated: u32,
    max: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataSpec {
    file: PathBuf,
    #[serde(default)]
    order: Order,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VarSpec {
    int: Option<[u64; 2]>,
    pick: Option<Vec<Value>>,
    /// A toggle: `true` with this probability.
    chance: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowSpec {
    name: String,
    weight: Option<u32>,
    /// Go on past a failed step (the iteration still fails, with the first failure).
    #[serde(default)]
    continue_on_failure: bool,
    /// The most steps (repeats included) one iteration runs.
    max_steps: Option<u32>,
    steps: Vec<StepSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    name: Option<String>,
    /// One of the plan's `services`; unset: the target.
    service: Option<String>,
    method: Option<String>,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    json: Option<Value>,
    expect: Option<Statuses>,
    /// Expectations whose miss makes the request fail (kind `assertion`).
    #[serde(default)]
    assert: Vec<ExpectSpec>,
    retry: Option<RetrySpec>,
    wait: Option<WaitSpec>,
    #[serde(default)]
    extract: BTreeMap<String, String>,
    /// Runs the step only when a variable holds: `if = "apply_coupon"`, or
    /// `if = { var = "status", equals = "paid" }` (or `not = ..`).
    #[serde(rename = "if")]
    when: Option<CondSpec>,
    /// Runs the step `n` times, or `{ max = n, until = [..] }` until its response meets the
    /// expectations.
    repeat: Option<RepeatSpec>,
    think: Option<Think>,
    weight: Option<u32>,
}

/// A step's condition: a variable's name (it holds when the value is true, a non-zero number,
/// a non-empty string, a non-empty list or object), or a table.
#[derive(Debug)]
enum CondSpec {
    Var(String),
    Table(CondTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CondTable {
    var: String,
    equals: Option<Value>,
    not: Option<Value>,
}

impl<'de> Deserialize<'de> for CondSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CondSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a variable's name, or `{ var = \"name\", equals = value }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CondSpec, E> {
                Ok(CondSpec::Var(v.to_owned()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<CondSpec, A::Error> {
                CondTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(CondSpec::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// A step's repetition: `3`, `{ times = 3 }`, or `{ max = 10, until = [..] }`.
#[derive(Debug)]
enum RepeatSpec {
    Times(i64),
    Table(RepeatTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepeatTable {
    times: Option<i64>,
    max: Option<i64>,
    #[serde(default)]
    until: Vec<ExpectSpec>,
}

impl<'de> Deserialize<'de> for RepeatSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RepeatSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count like 3, or `{ max = 10, until = [..] }`")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RepeatSpec, E> {
                Ok(RepeatSpec::Times(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RepeatSpec, E> {
                Ok(RepeatSpec::Times(v.min(i64::MAX as u64) as i64))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RepeatSpec, A::Error> {
                RepeatTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RepeatSpec::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// The most repeats of one step.
const MAX_REPEAT: i64 = 10_000;

/// An expectation: `{ status = 200 }`, `{ json = "/status", equals = "paid" }`,
/// `{ header = "content-type", contains = "json" }`, `{ schema = "order.schema.json" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectSpec {
    status: Option<Statuses>,
    json: Option<String>,
    header: Option<String>,
    schema: Option<PathBuf>,
    exists: Option<bool>,
    equals: Option<Value>,
    contains: Option<Value>,
    matches: Option<String>,
}

/// A retry policy: `{ attempts = 3, on_status = [503], delay = "100ms" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetrySpec {
    attempts: Option<u32>,
    on_status: Option<Vec<u16>>,
    on_errors: Option<Vec<String>>,
    delay: Option<Dur>,
    exponential: Option<bool>,
    max_delay: Option<Dur>,
    jitter: Option<f64>,
}

/// A wait: `{ timeout = "10s", every = "200ms", until = [{ json = "/status", equals = "shipped" }] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitSpec {
    name: Option<String>,
    timeout: Option<Dur>,
    every: Option<Dur>,
    #[serde(default)]
    until: Vec<ExpectSpec>,
}

/// Expected statuses: `200` or `[200, 201]`.
#[derive(Debug)]
struct Statuses(Vec<u16>);

impl<'de> Deserialize<'de> for Statuses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn status<E: de::Error>(v: i64) -> Result<u16, E> {
            if (100..=599).contains(&v) {
                Ok(v as u16)
            } else {
                Err(E::custom(format!(
                    "an HTTP status is from 100 to 599, not {v}"
                )))
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = Statuses;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status like 200, or a list like [200, 201]")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Statuses, E> {
                Ok(Statuses(vec![status(v)?]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Statuses, E> {
                self.visit_i64(v.min(i64::MAX as u64) as i64)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Statuses, A::Error> {
                let mut all = Vec::new();
                while let Some(v) = seq.next_element::<i64>()? {
                    all.push(status(v)?);
                }
                if all.is_empty() {
                    return Err(de::Error::custom("give at least one status"));
                }
                Ok(Statuses(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// A think time: `"20ms"` or `"10ms..30ms"`.
#[derive(Clone, Copy, Debug)]
struct Think(Duration, Duration);

impl<'de> Deserialize<'de> for Think {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parse = |t: &str| crate::config::parse_duration(t).map_err(de::Error::custom);
        match text.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (parse(a)?, parse(b)?);
                if b < a {
                    return Err(de::Error::custom(format!(
                        "`{text}`: the range ends before it starts"
                    )));
                }
                Ok(Think(a, b))
            }
            None => {
                let d = parse(&text)?;
                Ok(Think(d, d))
            }
        }
    }
}

/// A plan, read and checked, ready to run.
pub(crate) struct Plan {
    /// The scenario's name in reports.
    pub(crate) name: String,
    pub(crate) target: Option<Target>,
    pub(crate) timeout: Duration,
    seed: Option<u64>,
    request_timeout: Option<Duration>,
    graceful_stop: Option<Duration>,
    load: Load,
    objectives: Vec<Objective>,
    phases: Vec<Phase>,
    services: Vec<(String, Service)>,
    agents: Vec<AgentFn>,
}

/// Where a plan's data file (a CSV file, a JSON Schema) is: inside the plan's directory, unless
/// `WINDTUNNEL_ALLOW_DATA_OUTSIDE_PLAN=1` lets it be anywhere. A plan may come from someone
/// else; it must not read `/etc/passwd` or `~/.ssh` into requests.
fn data_path(plan_dir: &Path, file: &Path, what: &str) -> Result<PathBuf, String> {
    let path = plan_dir.join(file);
    if std::env::var(crate::settings::ALLOW_DATA_OUTSIDE_PLAN.env).is_ok_and(|v| v == "1") {
        return Ok(path);
    }
    let outside = || {
        format!(
            "`{}` is outside the plan's directory; give a path relative to the plan, or allow \
             this with `WINDTUNNEL_ALLOW_DATA_OUTSIDE_PLAN=1`",
            file.display()
        )
    };
    if file.is_absolute() {
        return Err(outside());
    }
    let dir = plan_dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve the plan's directory: {e}"))?;
    let resolved = path
        .canonicalize()
        .map_err(|e| format!("cannot read the {what} `{}`: {e}", file.display()))?;
    if resolved.starts_with(&dir) {
        Ok(resolved)
    } else {
        Err(outside())
    }
}

impl Plan {
    /// Reads and checks the plan at `path`; a catalog combination as its target is looked up
    /// in `catalog` (from `windtunnel.toml`).
    pub(crate) fn read(path: &Path, catalog: &Catalog) -> Result<Self, FileError> {
        let doc = Document::read(path)?;
        let spec: PlanSpec = doc.parse()?;
        let root = KeyPath::root();
        if spec.name.trim().is_empty() {
            return Err(doc.error(&root.key("name"), "give the plan a name"));
        }
        if let Some(problem) = crate::report::untrusted::name_problem(&spec.name) {
            return Err(doc.error(&root.key("name"), problem));
        }
        let target = match &spec.target {
            Some(t) => Some(
                catalog
                    .pick(t)
                    .map_err(|e| doc.error(&root.key("target"), e))?,
            ),
            None => None,
        };
        let load = load_of(&doc, &spec.load)?;
        let mut objectives = Vec::new();
        for (i, o) in spec.objectives.iter().enumerate() {
            objectives.push(
                o.objective()
                    .map_err(|e| doc.error(&root.key("objectives").index(i), e))?,
            );
        }
        let phases = match &spec.turbulence {
            Some(t) => {
                crate::turbulence::spec::parse(t)
                    .map_err(|e| doc.error(&root.key("turbulence"), e))?
                    .phases
            }
            None => Vec::new(),
        };

        // The variables every template may use.
        let mut known: Vec<String> = vec!["agent".into(), "iteration".into()];
        let mut data = Vec::new();
        for (name, d) in &spec.data {
            let key = root.key("data").key(name);
            check_name(&doc, &key, name)?;
            let file = data_path(doc.dir(), &d.file, "CSV file")
                .map_err(|e| doc.error(&key.key("file"), e))?;
            let set =
                DataSet::read(name, &file, d.order).map_err(|e| doc.error(&key.key("file"), e))?;
            known.extend(set.columns.iter().map(|c| format!("{name}.{c}")));
            data.push(set);
        }
        let mut generators = Vec::new();
        for (name, v) in &spec.vars {
            let key = root.key("vars").key(name);
            check_name(&doc, &key, name)?;
            if known.contains(name) {
                return Err(doc.error(&key, format!("`{name}` is already a variable")));
            }
            let g = match (&v.int, &v.pick, v.chance) {
                (Some([from, to]), None, None) if from <= to => Generator::Int(*from, *to),
                (Some(_), None, None) => {
                    return Err(
                        doc.error(&key.key("int"), "give `[lowest, highest]`, lowest first")
                    );
                }
                (None, Some(items), None) if !items.is_empty() => Generator::Pick(items.clone()),
                (None, Some(_), None) => {
                    return Err(doc.error(&key.key("pick"), "give at least one value"));
                }
                (None, None, Some(p)) if (0.0..=1.0).contains(&p) => Generator::Chance(p),
                (None, None, Some(p)) => {
                    return Err(doc.error(
                        &key.key("chance"),
                        format!("a chance is a probability from 0 to 1, not {p}"),
                    ));
                }
                _ => {
                    return Err(doc.error(
                        &key,
                        "a variable is `{ int = [1, 100] }`, `{ pick = [\"a\", \"b\"] }` or \
                         `{ chance = 0.3 }` (one of them)",
                    ));
                }
            };
            known.push(name.clone());
            generators.push((name.clone(), g));
        }
        let mut headers = Vec::new();
        for (k, v) in &spec.headers {
            headers.push(header(&doc, &root.key("headers").key(k), k, v, &known)?);
        }
        let mut services = Vec::new();
        for (name, ServiceSpec(s)) in &spec.services {
            let key = root.key("services").key(name);
            check_name(&doc, &key, name)?;
            if name == "target" {
                return Err(doc.error(
                    &key,
                    "`target` is the plan's target itself: name the service apart",
                ));
            }
            catalog
                .pick(&s.target)
                .map_err(|e| doc.error(&key.key("target"), e))?;
            let mut service = Service::new(s.target.clone());
            for (k, v) in &s.headers {
                if let Some(problem) = crate::config::header_problem(k, v) {
                    return Err(doc.error(&key.key("headers").key(k), problem));
                }
                service = service.header(k.clone(), v.clone());
            }
            if let Some(t) = s.timeout {
                if t.0.is_zero() {
                    return Err(doc.error(&key.key("timeout"), "a timeout is above zero"));
                }
                service = service.timeout(t.0);
            }
            if s.insecure {
                service = service.insecure();
            }
            services.push((name.clone(), service));
        }
        let service_names: Vec<&str> = services.iter().map(|(n, _)| n.as_str()).collect();
        let shared = Arc::new(Shared {
            data,
            generators,
            headers,
            think: spec.think.map(|t| (t.0, t.1)),
        });

        if spec.endpoints.is_empty() && spec.flows.is_empty() {
            return Err(doc.error(
                &root,
                "a plan needs `endpoints` (each iteration one weighted request) or `flows` \
                 (each iteration a sequence of `steps`)",
            ));
        }
        let mut agents = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut endpoints = Vec::new();
        let mut weights = Vec::new();
        for (i, e) in spec.endpoints.iter().enumerate() {
            let key = root.key("endpoints").index(i);
            weights.push(weight(&doc, &key, e.weight)?);
            let step = step(&doc, &key, e, &known, &service_names)?;
            if endpoints.iter().any(|s: &Step| s.name == step.name) {
                return Err(doc.error(
                    &key,
                    format!("two endpoints are named `{}`: name them apart", step.name),
                ));
            }
            endpoints.push(step);
        }
        if spec.endpoints_weight == Some(0) {
            return Err(doc.error(
                &root.key("endpoints_weight"),
                "a weight is at least 1 (leave the endpoints out instead)",
            ));
        }
        if !endpoints.is_empty() {
            names.push(ENDPOINTS.to_owned());
            agents.push(
                Arc::new(Flow {
                    name: ENDPOINTS,
                    weight: spec.endpoints_weight.unwrap_or(1),
                    steps: endpoints,
                    pick: weights,
                    continue_on_failure: false,
                    max_steps: None,
                })
                .agent(Arc::clone(&shared)),
            );
        }
        for (i, f) in spec.flows.iter().enumerate() {
            let key = root.key("flows").index(i);
            let weight = weight(&doc, &key, f.weight)?;
            if f.steps.is_empty() {
                return Err(doc.error(&key.key("steps"), "a flow needs at least one step"));
            }
            if f.max_steps == Some(0) {
                return Err(doc.error(
                    &key.key("max_steps"),
                    "a journey runs at least 1 step (leave `max_steps` out for no bound)",
                ));
            }
            let mut known = known.clone();
            let mut steps = Vec::new();
            for (j, s) in f.steps.iter().enumerate() {
                let key = key.key("steps").index(j);
                if s.weight.is_some() {
                    return Err(doc.error(
                        &key.key("weight"),
                        "a step has no weight: give the flow one, or make it an endpoint",
                    ));
                }
                let step = step(&doc, &key, s, &known, &service_names)?;
                for (name, _) in &step.extract {
                    if !known.contains(name) {
                        known.push(name.clone());
                    }
                }
                steps.push(step);
            }
            agents.push(flow(
                &mut names,
                &doc,
                &key.key("name"),
                Flow {
                    name: "",
                    weight,
                    steps,
                    pick: Vec::new(),
                    continue_on_failure: f.continue_on_failure,
                    max_steps: f.max_steps,
                },
                f.name.clone(),
                &shared,
            )?);
        }
        Ok(Plan {
            name: spec.name,
            target,
            timeout: spec
                .timeout
                .map_or(crate::registry::DEFAULT_SCENARIO_TIMEOUT, |d| d.0),
            seed: spec.seed,
            request_timeout: spec.request_timeout.map(|d| d.0),
            graceful_stop: spec.graceful_stop.map(|d| d.0),
            load,
            objectives,
            phases,
            services,
            agents,
        })
    }

    /// The scenario the plan describes, on `s` (which carries the settings from outside).
    pub(crate) fn scenario(&self, s: Scenario) -> Scenario {
        let mut s = s
            .agents(self.agents.iter().cloned())
            .load(self.load.clone());
        if let Some(t) = &self.target {
            s = s.target(t.url.clone());
        }
        if let Some(seed) = self.seed {
            s = s.seed(seed);
        }
        if let Some(t) = self.request_timeout {
            s = s.request_timeout(t);
        }
        if let Some(g) = self.graceful_stop {
            s = s.graceful_stop(g);
        }
        for o in &self.objectives {
            s = s.slo(o.clone());
        }
        for p in &self.phases {
            s = s.turbulence(p.clone());
        }
        for (name, service) in &self.services {
            s = s.service(name, service.clone());
        }
        s
    }
}

fn check_name(doc: &Document, key: &KeyPath, name: &str) -> Result<(), FileError> {
    if crate::config::is_plain_name(name) {
        Ok(())
    } else {
        Err(doc.error(
            key,
            format!("`{name}`: a name is letters, digits, `_` and `-`"),
        ))
    }
}

fn weight(doc: &Document, key: &KeyPath, w: Option<u32>) -> Result<u32, FileError> {
    match w {
        None => Ok(1),
        Some(0) => Err(doc.error(
            &key.key("weight"),
            "a weight is at least 1 (leave it out instead)",
        )),
        Some(w) => Ok(w),
    }
}

fn header(
    doc: &Document,
    key: &KeyPath,
    name: &str,
    value: &str,
    known: &[String],
) -> Result<(String, Template), FileError> {
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| doc.error(key, format!("`{name}` is not a valid header name")))?;
    let t = Template::compile(value, known).map_err(|e| doc.error(key, e))?;
    Ok((name.to_owned(), t))
}

fn step(
    doc: &Document,
    key: &KeyPath,
    s: &StepSpec,
    known: &[String],
    services: &[&str],
) -> Result<Step, FileError> {
    if let Some(name) = &s.service
        && !services.contains(&name.as_str())
    {
        let near = crate::config::did_you_mean_hint(name, services.iter().copied());
        let known = if services.is_empty() {
            "the plan has no `[services]`".to_owned()
        } else {
            format!(
                "the plan's services are {}",
                services
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err(doc.error(
            &key.key("service"),
            format!("unknown service `{name}`{near}; {known}"),
        ));
    }
    let method_text = s.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let method = match method_text.as_str() {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
            reqwest::Method::from_bytes(method_text.as_bytes())
                .map_err(|_| doc.error(&key.key("method"), "not an HTTP method"))?
        }
        other => {
            return Err(doc.error(
                &key.key("method"),
                format!(
                    "unknown method `{other}`: use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS"
                ),
            ));
        }
    };
    if !s.path.starts_with('/') {
        return Err(doc.error(
            &key.key("path"),
            format!(
                "a path starts with `/`, relative to the target: `/{}`",
                s.path
            ),
        ));
    }
    let path = Template::compile(&s.path, known).map_err(|e| doc.error(&key.key("path"), e))?;
    let mut headers = Vec::new();
    for (k, v) in &s.headers {
        headers.push(header(doc, &key.key("headers").key(k), k, v, known)?);
    }
    let body = match (&s.body, &s.json) {
        (Some(_), Some(_)) => {
            return Err(doc.error(&key.key("json"), "a step has a `body` or `json`, not both"));
        }
        (Some(text), None) => {
            Body::Text(Template::compile(text, known).map_err(|e| doc.error(&key.key("body"), e))?)
        }
        (None, Some(json)) => {
            Body::Json(JsonTemplate::compile(json, known).map_err(|(p, e)| {
                doc.error(
                    &key.key("json"),
                    if p.is_empty() {
                        e
                    } else {
                        format!("at `{p}`: {e}")
                    },
                )
            })?)
        }
        (None, None) => Body::None,
    };
    let mut extract = Vec::new();
    for (name, pointer) in &s.extract {
        let k = key.key("extract").key(name);
        check_name(doc, &k, name)?;
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(doc.error(
                &k,
                format!("`{pointer}` is not a JSON pointer: it starts with `/`, like `/token` or `/items/0/id`"),
            ));
        }
        extract.push((name.clone(), pointer.clone()));
    }
    let name = s
        .name
        .clone()
        .unwrap_or_else(|| format!("{method_text} {}", s.path));
    if let Some(problem) = crate::report::untrusted::name_problem(&name) {
        return Err(doc.error(&key.key("name"), problem));
    }
    let mut expects = Vec::new();
    for (i, e) in s.assert.iter().enumerate() {
        expects.push(expectation(doc, &key.key("assert").index(i), e, known)?);
    }
    let retry = match &s.retry {
        Some(r) => Some(retry(doc, &key.key("retry"), r)?),
        None => None,
    };
    let wait = match &s.wait {
        Some(w) => {
            if s.retry.is_some() {
                return Err(doc.error(
                    &key.key("wait"),
                    "a step waits or retries, not both: a wait already polls again",
                ));
            }
            Some(wait(doc, &key.key("wait"), w, &name, known)?)
        }
        None => None,
    };
    let when = match &s.when {
        None => None,
        Some(c) => Some(condition(doc, &key.key("if"), c, known)?),
    };
    let repeat = match &s.repeat {
        None => Repeat::Once,
        Some(r) => repeat(doc, &key.key("repeat"), r, known)?,
    };
    if s.wait.is_some() && !matches!(repeat, Repeat::Once) {
        return Err(doc.error(
            &key.key("repeat"),
            "a step waits or repeats, not both: a wait already polls until its condition",
        ));
    }
    Ok(Step {
        name,
        service: s.service.clone(),
        when,
        repeat,
        method,
        path,
        headers,
        body,
        expect: s.expect.as_ref().map(|e| e.0.clone()).unwrap_or_default(),
        expects,
        retry,
        wait,
        extract,
        think: s.think.map(|t| (t.0, t.1)),
    })
}

fn condition(
    doc: &Document,
    key: &KeyPath,
    c: &CondSpec,
    known: &[String],
) -> Result<Condition, FileError> {
    let (var, test) = match c {
        CondSpec::Var(v) => (v, Test::Truthy),
        CondSpec::Table(t) => match (&t.equals, &t.not) {
            (Some(v), None) => (&t.var, Test::Equals(v.clone())),
            (None, Some(v)) => (&t.var, Test::Not(v.clone())),
            (None, None) => (&t.var, Test::Truthy),
            (Some(_), Some(_)) => {
                return Err(doc.error(key, "a condition has `equals` or `not`, not both"));
            }
        },
    };
    if !known.contains(var) {
        let near = crate::config::did_you_mean_hint(var, known.iter().map(String::as_str));
        return Err(doc.error(
            key,
            format!(
                "unknown variable `{var}`{near}: a condition tests a `vars` or `data` variable, \
                 or one an earlier step extracts"
            ),
        ));
    }
    Ok(Condition {
        var: var.clone(),
        test,
    })
}

fn repeat(
    doc: &Document,
    key: &KeyPath,
    r: &RepeatSpec,
    known: &[String],
) -> Result<Repeat, FileError> {
    let count = |n: i64, at: &KeyPath| {
        if (1..=MAX_REPEAT).contains(&n) {
            Ok(n as u32)
        } else {
            Err(doc.error(
                at,
                format!("a step repeats from 1 to {MAX_REPEAT} times, not {n}"),
            ))
        }
    };
    match r {
        RepeatSpec::Times(n) => Ok(Repeat::Times(count(*n, key)?)),
        RepeatSpec::Table(t) => match (t.times, t.max, t.until.is_empty()) {
            (Some(n), None, true) => Ok(Repeat::Times(count(n, &key.key("times"))?)),
            (None, Some(n), false) => {
                let max = count(n, &key.key("max"))?;
                let mut until = Vec::new();
                for (i, e) in t.until.iter().enumerate() {
                    until.push(expectation(doc, &key.key("until").index(i), e, known)?);
                }
                Ok(Repeat::Until { max, until })
            }
            (None, None, false) => Err(doc.error(
                key,
                "a repeat until a condition needs a `max`: the most times to send",
            )),
            _ => Err(doc.error(
                key,
                "a repeat is `{ times = 3 }` or `{ max = 10, until = [..] }`",
            )),
        },
    }
}

/// An expectation of a plan, checked: one subject (`status`, `json`, `header`, `schema`) and,
/// for a value, one test (`exists`, `equals`, `contains`, `matches`).
/// Whether `value` holds a `{{template}}` anywhere.
fn has_template(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("{{"),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

fn expectation(
    doc: &Document,
    key: &KeyPath,
    e: &ExpectSpec,
    known: &[String],
) -> Result<PlanExpect, FileError> {
    // Checked whole as a fixed expectation: one subject, and for a value one test.
    let fixed = fixed_expectation(doc, key, e)?;
    // A templated `equals` or `contains` (so on a `json` value or a `header`) is built per
    // request, with the iteration's values.
    let templated = [("equals", &e.equals), ("contains", &e.contains)]
        .into_iter()
        .find_map(|(k, v)| v.as_ref().filter(|v| has_template(v)).map(|v| (k, v)));
    let Some((test, value)) = templated else {
        return Ok(PlanExpect::Fixed(fixed));
    };
    let value = JsonTemplate::compile(value, known).map_err(|(p, m)| {
        doc.error(
            &key.key(test),
            if p.is_empty() {
                m
            } else {
                format!("at `{p}`: {m}")
            },
        )
    })?;
    let (header, at) = match (&e.json, &e.header) {
        (Some(p), _) => (false, p.clone()),
        (None, Some(h)) => (true, h.clone()),
        (None, None) => unreachable!("a test is on a `json` value or a `header`"),
    };
    Ok(PlanExpect::Templated {
        header,
        at,
        contains: test == "contains",
        value,
    })
}

fn fixed_expectation(doc: &Document, key: &KeyPath, e: &ExpectSpec) -> Result<Expect, FileError> {
    let subjects: Vec<&str> = [
        ("status", e.status.is_some()),
        ("json", e.json.is_some()),
        ("header", e.header.is_some()),
        ("schema", e.schema.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    let tests: Vec<&str> = [
        ("exists", e.exists.is_some()),
        ("equals", e.equals.is_some()),
        ("contains", e.contains.is_some()),
        ("matches", e.matches.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    let listed = |keys: &[&str]| {
        keys.iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let subject = match subjects.as_slice() {
        [one] => *one,
        [] => {
            return Err(doc.error(
                key,
                "an expectation tests one of `status`, `json` (a JSON pointer), `header` or                  `schema` (a JSON Schema file)",
            ));
        }
        many => {
            return Err(doc.error(
                key,
                format!(
                    "an expectation tests one thing, this one {}: write one per entry",
                    listed(many)
                ),
            ));
        }
    };
    let checked = |x: Expect, at: &str| match x.problem() {
        Some(p) => Err(doc.error(&key.key(at), p.to_owned())),
        None => Ok(x),
    };
    match subject {
        "status" | "schema" => {
            if let Some(t) = tests.first() {
                return Err(doc.error(
                    &key.key(t),
                    format!("`{t}` tests a `json` value or a `header`, not a `{subject}`"),
                ));
            }
            if let Some(list) = &e.status {
                return checked(Expect::status_in(list.0.iter().copied()), "status");
            }
            let file = e.schema.as_deref().unwrap_or(Path::new(""));
            let path = data_path(doc.dir(), file, "JSON Schema")
                .map_err(|m| doc.error(&key.key("schema"), m))?;
            let x = Expect::schema_file(&path);
            match x.problem() {
                // The file's place as the plan gives it, not the resolved path.
                Some(p) => Err(doc.error(
                    &key.key("schema"),
                    p.replace(&path.display().to_string(), &file.display().to_string()),
                )),
                None => Ok(x),
            }
        }
        _ => {
            let (subject, at) = match (&e.json, &e.header) {
                (Some(p), _) => (Expect::json(p), "json"),
                (None, Some(h)) => (Expect::header(h), "header"),
                (None, None) => unreachable!("the subject is `json` or `header`"),
            };
            let x = match tests.as_slice() {
                [] => subject.exists(),
                ["exists"] if e.exists == Some(false) => subject.absent(),
                ["exists"] => subject.exists(),
                ["equals"] => subject.equals(e.equals.clone().unwrap_or(Value::Null)),
                ["contains"] => subject.contains(e.contains.clone().unwrap_or(Value::Null)),
                ["matches"] => {
                    let x = subject.matches(e.matches.as_deref().unwrap_or_default());
                    return checked(x, "matches");
                }
                many => {
                    return Err(doc.error(
                        key,
                        format!("an expectation has one test, this one {}", listed(many)),
                    ));
                }
            };
            checked(x, at)
        }
    }
}

fn retry(doc: &Document, key: &KeyPath, r: &RetrySpec) -> Result<Retry, FileError> {
    let attempts = match r.attempts {
        None => {
            return Err(doc.error(
                key,
                "a retry needs `attempts`: how many in all, the first one included",
            ));
        }
        Some(0) => {
            return Err(doc.error(
                &key.key("attempts"),
                "a retry needs at least 1 attempt (1: no retry)",
            ));
        }
        Some(n) => n,
    };
    let mut policy = Retry::attempts(attempts);
    if let Some(list) = &r.on_status {
        if let Some(bad) = list.iter().find(|s| !(100..=599).contains(*s)) {
            return Err(doc.error(
                &key.key("on_status"),
                format!("an HTTP status is from 100 to 599, not {bad}"),
            ));
        }
        policy = policy.on_status(list.iter().copied());
    }
    if let Some(list) = &r.on_errors {
        let retried = ["connect", "timeout", "request", "assertion"];
        let mut kinds = Vec::new();
        for (i, name) in list.iter().enumerate() {
            let k = key.key("on_errors").index(i);
            match ErrorKind::from_name(name) {
                Some(kind) if retried.contains(&name.as_str()) => kinds.push(kind),
                Some(ErrorKind::Status) => {
                    return Err(doc.error(
                        &k,
                        "`status` is retried by the statuses of `on_status`, not `on_errors`",
                    ));
                }
                Some(_) => {
                    return Err(doc.error(
                        &k,
                        format!("`{name}` is never retried (nothing was sent, or the run is over)"),
                    ));
                }
                None => {
                    let near = crate::config::did_you_mean_hint(name, retried);
                    return Err(doc.error(
                        &k,
                        format!(
                            "unknown error kind `{name}`{near}; retried kinds are {}",
                            retried.map(|r| format!("`{r}`")).join(", ")
                        ),
                    ));
                }
            }
        }
        policy = policy.on_errors(kinds);
    }
    let delay = r.delay.map_or(Duration::from_millis(100), |d| d.0);
    let mut backoff = match (r.exponential.unwrap_or(false), r.max_delay) {
        (true, max) => Backoff::exponential(delay, max.map_or(delay * 16, |m| m.0)),
        (false, None) => Backoff::fixed(delay),
        (false, Some(_)) => {
            return Err(doc.error(
                &key.key("max_delay"),
                "`max_delay` bounds an `exponential = true` backoff; a fixed `delay` has none",
            ));
        }
    };
    if let Some(j) = r.jitter {
        if !(0.0..=1.0).contains(&j) {
            return Err(doc.error(
                &key.key("jitter"),
                format!("`jitter` is a share from 0 to 1 of each delay, not {j}"),
            ));
        }
        backoff = backoff.jitter(j);
    }
    Ok(policy.backoff(backoff))
}

fn wait(
    doc: &Document,
    key: &KeyPath,
    w: &WaitSpec,
    step: &str,
    known: &[String],
) -> Result<(String, Wait, Vec<PlanExpect>), FileError> {
    let Some(timeout) = w.timeout else {
        return Err(doc.error(
            key,
            "a wait needs a `timeout` (like \"30s\"): how long to poll before giving up",
        ));
    };
    if timeout.0.is_zero() {
        return Err(doc.error(&key.key("timeout"), "a wait's timeout is above zero"));
    }
    let mut wait = Wait::up_to(timeout.0);
    if let Some(every) = w.every {
        if every.0 < Duration::from_millis(1) {
            return Err(doc.error(&key.key("every"), "a wait polls at most every millisecond"));
        }
        wait = wait.every(every.0);
    }
    if w.until.is_empty() {
        return Err(doc.error(
            &key.key("until"),
            "a wait needs a condition: `until = [{ json = \"/status\", equals = \"shipped\" }]`",
        ));
    }
    let mut until = Vec::new();
    for (i, e) in w.until.iter().enumerate() {
        until.push(expectation(doc, &key.key("until").index(i), e, known)?);
    }
    let name = w.name.clone().unwrap_or_else(|| format!("{step} (wait)"));
    if let Some(problem) = crate::report::untrusted::name_problem(&name) {
        return Err(doc.error(&key.key("name"), problem));
    }
    if name == step {
        return Err(doc.error(
            &key.key("name"),
            format!(
                "the wait and its step are both named `{name}`: the step names each attempt, \
                 the wait the whole of it"
            ),
        ));
    }
    Ok((name, wait, until))
}

fn flow(
    names: &mut Vec<String>,
    doc: &Document,
    key: &KeyPath,
    mut flow: Flow,
    name: String,
    shared: &Arc<Shared>,
) -> Result<AgentFn, FileError> {
    if names.contains(&name) {
        return Err(doc.error(
            key,
            format!(
                "two flows are named `{name}` (the endpoints together are the flow \
                 `{ENDPOINTS}`): name them apart"
            ),
        ));
    }
    names.push(name.clone());
    // Agent names are `&'static str`: the few names of the one plan a process runs live as
    // long as it.
    flow.name = Box::leak(name.into_boxed_str());
    Ok(Arc::new(flow).agent(Arc::clone(shared)))
}

fn load_of(doc: &Document, l: &LoadSpec) -> Result<Load, FileError> {
    let key = KeyPath::root().key("load");
    let set: Vec<&str> = [
        ("users", l.users.is_some()),
        ("rate", l.rate.is_some()),
        ("stages", l.stages.is_some()),
    ]
    .iter()
    .filter(|(_, s)| *s)
    .map(|(k, _)| *k)
    .collect();
    let only = |field: &str, allowed: &str| -> Result<(), FileError> {
        Err(doc.error(
            &key.key(field),
            format!("`{field}` does not go with {allowed}"),
        ))
    };
    let load: Load = match set.as_slice() {
        ["users"] => {
            if l.pool.is_some() {
                only("pool", "`users` (the pool is an open model's)")?;
            }
            let mut u = Load::users(l.users.unwrap_or(1));
            if let Some(r) = l.ramp_up {
                u = u.ramp_up(r.0);
            }
            if let Some(d) = l.duration {
                u = u.duration(d.0);
            }
            if let Some(n) = l.iterations {
                u = u.iterations(n);
            }
            if l.duration.is_none() && l.iterations.is_none() {
                return Err(doc.error(
                    &key,
                    "constant users need a `duration`, `iterations` per user, or both",
                ));
            }
            u.into()
        }
        ["rate"] => {
            for (field, is) in [
                ("ramp_up", l.ramp_up.is_some()),
                ("iterations", l.iterations.is_some()),
            ] {
                if is {
                    only(
                        field,
                        "`rate` (an open model starts iterations for a `duration`)",
                    )?;
                }
            }
            let Some(d) = l.duration else {
                return Err(doc.error(&key, "an arrival rate needs a `duration`"));
            };
            let mut r = Load::rate(l.rate.map_or(per_sec(1), |r| r.0)).duration(d.0);
            if let Some(p) = &l.pool {
                r = r.pool(p.preallocated, p.max);
            }
            r.into()
        }
        ["stages"] => {
            let stages = l.stages.as_deref().unwrap_or_default();
            check_stages(doc, &key.key("stages"), stages)?;
            for (field, is) in [
                ("duration", l.duration.is_some()),
                ("ramp_up", l.ramp_up.is_some()),
                ("iterations", l.iterations.is_some()),
            ] {
                if is {
                    only(field, "`stages` (the stages set the duration)")?;
                }
            }
            let users = stages.first().is_some_and(|s| s.users.is_some());
            if users && l.pool.is_some() {
                only("pool", "stages of users (the pool is an open model's)")?;
            }
            let stages: Vec<_> = stages.iter().map(StageSpec::setting).collect();
            let mut load = Load::from_stages(&stages);
            if let Some(p) = &l.pool {
                load = load.with_pool(p.preallocated, p.max);
            }
            load
        }
        [] => {
            return Err(doc.error(
                &key,
                "a load needs `users` (closed model), `rate` (open model) or `stages`",
            ));
        }
        more => {
            return Err(doc.error(
                &key,
                format!(
                    "a load has one of `users`, `rate` and `stages`, this one has {}",
                    more.iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            ));
        }
    };
    // The same checks as a scenario's, with the key of the load.
    load.resolve()
        .map_err(|e| doc.error(&key, format!("`{}` {}", e.field, e.reason)))?;
    Ok(load)
}

#[cfg(test)]
mod tests;
