//! A plan's flows at run time: each flow is an agent whose iteration runs its steps in order,
//! rendering templates with the iteration's variables, checking statuses and extracting values
//! from JSON responses (JSON pointer) into the agent's variables for later steps.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use serde_json::Value;

use super::data::DataSet;
use super::template::{JsonTemplate, Template, Vars};
use crate::agent::{Agent, AgentFn, AgentFuture};
use crate::http::{CheckFailed, Expect, RequestBuilder, Response, first_unmet};
use crate::workflow::{Retry, Wait};

/// The request of `step`, to `path`, with its headers, body, accepted statuses and
/// expectations.
fn request<'a>(
    a: &'a mut Agent,
    shared: &Shared,
    step: &Step,
    path: &str,
    vars: &Vars,
) -> RequestBuilder<'a> {
    let request = match &step.service {
        Some(service) => a.service(service).request(step.method.clone(), path),
        None => a.request(step.method.clone(), path),
    };
    let mut request = request.name(step.name.clone());
    for (k, v) in shared.headers.iter().chain(&step.headers) {
        request = request.header(k, &v.render(vars));
    }
    request = match &step.body {
        Body::None => request,
        Body::Text(t) => request.body(t.render(vars)),
        Body::Json(j) => request.json(&j.render(vars)),
    };
    for s in &step.expect {
        request = request.accept_status(*s);
    }
    for e in &step.expects {
        request = request.expect(e.render(vars));
    }
    request
}

/// A generated variable, drawn each iteration from the agent's seeded generator.
#[derive(Clone, Debug)]
pub(crate) enum Generator {
    /// A whole number in `from..=to`, recorded as a variation.
    Int(u64, u64),
    /// One of the values, recorded as a variation.
    Pick(Vec<Value>),
    /// `true` with this probability, recorded as a variation.
    Chance(f64),
}

/// When a step runs: a variable's value passes a test.
#[derive(Clone, Debug)]
pub(crate) struct Condition {
    pub(crate) var: String,
    pub(crate) test: Test,
}

#[derive(Clone, Debug)]
pub(crate) enum Test {
    /// True, a non-zero number, a non-empty string, list or object.
    Truthy,
    Equals(Value),
    Not(Value),
}

impl Condition {
    fn holds(&self, vars: &Vars) -> bool {
        let v = vars.get(&self.var).unwrap_or(&Value::Null);
        match &self.test {
            Test::Truthy => match v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
            },
            Test::Equals(want) => loosely_equal(v, want),
            Test::Not(want) => !loosely_equal(v, want),
        }
    }
}

/// Equal as JSON, or as text: a CSV column (always text) equals the number it spells.
fn loosely_equal(v: &Value, want: &Value) -> bool {
    if v == want {
        return true;
    }
    let text = |x: &Value| match x {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text(v) == text(want)
}

/// An expectation of a plan: fixed when the plan is read, or with a templated value
/// (`equals = "{{order_id}}"`) built for each request from the iteration's variables.
#[derive(Clone, Debug)]
pub(crate) enum PlanExpect {
    Fixed(Expect),
    Templated {
        /// A header's name, else a JSON pointer.
        header: bool,
        at: String,
        /// `contains`, else `equals`.
        contains: bool,
        value: JsonTemplate,
    },
}

impl PlanExpect {
    pub(crate) fn render(&self, vars: &Vars) -> Expect {
        match self {
            PlanExpect::Fixed(e) => e.clone(),
            PlanExpect::Templated {
                header,
                at,
                contains,
                value,
            } => {
                let subject = if *header {
                    Expect::header(at)
                } else {
                    Expect::json(at)
                };
                let value = value.render(vars);
                if *contains {
                    subject.contains(value)
                } else {
                    subject.equals(value)
                }
            }
        }
    }
}

/// All of `expects`, built for this iteration.
fn rendered(expects: &[PlanExpect], vars: &Vars) -> Vec<Expect> {
    expects.iter().map(|e| e.render(vars)).collect()
}

/// How often a step is sent.
#[derive(Clone, Debug)]
pub(crate) enum Repeat {
    Once,
    Times(u32),
    /// Until the response meets `until`, at most `max` times.
    Until {
        max: u32,
        until: Vec<PlanExpect>,
    },
}

/// What every flow shares: data files, generated variables, headers, think time.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) data: Vec<DataSet>,
    pub(crate) generators: Vec<(String, Generator)>,
    pub(crate) headers: Vec<(String, Template)>,
    pub(crate) think: Option<(Duration, Duration)>,
}

/// A request body.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    None,
    Text(Template),
    Json(JsonTemplate),
}

/// One request of a flow.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub(crate) name: String,
    /// Runs only when this holds.
    pub(crate) when: Option<Condition>,
    /// How often it is sent.
    pub(crate) repeat: Repeat,
    /// The plan's service it goes to; `None`: the target.
    pub(crate) service: Option<String>,
    pub(crate) method: reqwest::Method,
    pub(crate) path: Template,
    pub(crate) headers: Vec<(String, Template)>,
    pub(crate) body: Body,
    /// The statuses that pass; empty: any below 400.
    pub(crate) expect: Vec<u16>,
    /// Expectations whose miss fails the request (kind `assertion`).
    pub(crate) expects: Vec<PlanExpect>,
    /// Sent again on the failures the policy names.
    pub(crate) retry: Option<Retry>,
    /// Polled until its conditions hold: the wait's name, the wait (its timeout and interval)
    /// and its conditions.
    pub(crate) wait: Option<(String, Wait, Vec<PlanExpect>)>,
    /// Variable name and JSON pointer.
    pub(crate) extract: Vec<(String, String)>,
    pub(crate) think: Option<(Duration, Duration)>,
}

/// Steps run by the users assigned to them: all in order each iteration (a flow), or one
/// picked by weight each iteration (the plan's endpoints).
#[derive(Debug)]
pub(crate) struct Flow {
    pub(crate) name: &'static str,
    pub(crate) weight: u32,
    pub(crate) steps: Vec<Step>,
    /// For endpoints: each step's weight; empty for a flow.
    pub(crate) pick: Vec<u32>,
    /// Go on past a failed step; the iteration fails at its end, with the first failure.
    pub(crate) continue_on_failure: bool,
    /// The most steps (repeats included) one iteration runs; past it, it fails.
    pub(crate) max_steps: Option<u32>,
}

impl Flow {
    /// The flow as an agent.
    pub(crate) fn agent(self: Arc<Self>, shared: Arc<Shared>) -> AgentFn {
        let (name, weight) = (self.name, self.weight);
        AgentFn::closure(
            name,
            weight,
            Arc::new(move |a: &mut Agent| -> AgentFuture<'_> {
                let flow = Arc::clone(&self);
                let shared = Arc::clone(&shared);
                Box::pin(async move { flow.iterate(a, &shared).await })
            }),
        )
    }

    async fn iterate(&self, a: &mut Agent, shared: &Shared) -> anyhow::Result<()> {
        let mut vars = Vars::new();
        vars.insert("agent".into(), Value::from(a.id()));
        vars.insert("iteration".into(), Value::from(a.iteration()));
        for set in &shared.data {
            let row = set.row(a.rng());
            for (column, value) in set.columns.iter().zip(row) {
                vars.insert(
                    format!("{}.{column}", set.name),
                    Value::String(value.clone()),
                );
            }
        }
        for (name, g) in &shared.generators {
            let v = match g {
                Generator::Int(from, to) => {
                    Value::from(a.vary_in(name, *from..to.saturating_add(1)))
                }
                Generator::Pick(items) => a.vary(name, items).cloned().unwrap_or(Value::Null),
                Generator::Chance(p) => Value::Bool(a.toggle(name, *p)),
            };
            vars.insert(name.clone(), v);
        }
        let steps: &[Step] = if self.pick.is_empty() {
            &self.steps
        } else {
            // Every endpoint's weight is at least 1.
            let chosen = a.rng().weighted(self.pick.iter().copied()).unwrap_or(0);
            std::slice::from_ref(&self.steps[chosen])
        };
        let mut first_failure: Option<anyhow::Error> = None;
        let mut ran: u32 = 0;
        'steps: for step in steps {
            if step.when.as_ref().is_some_and(|c| !c.holds(&vars)) {
                continue;
            }
            let (times, until) = match &step.repeat {
                Repeat::Once => (1, None),
                Repeat::Times(n) => (*n, None),
                Repeat::Until { max, until } => (*max, Some(rendered(until, &vars))),
            };
            let mut last_miss = None;
            for _ in 0..times {
                if let Some(max) = self.max_steps
                    && ran >= max
                {
                    let bound = anyhow!(
                        "journey `{}` reached its bound of {max} step(s) (`max_steps`) at step `{}`",
                        self.name,
                        step.name
                    );
                    first_failure.get_or_insert(bound);
                    break 'steps;
                }
                ran += 1;
                match self.step(a, shared, step, &mut vars).await {
                    Ok(response) => {
                        match until.as_deref().and_then(|u| first_unmet(u, &response)) {
                            Some(miss) => last_miss = Some(miss),
                            None => {
                                last_miss = None;
                                if until.is_some() {
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) if self.continue_on_failure => {
                        first_failure.get_or_insert(e);
                        last_miss = None;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if let Some(miss) = last_miss {
                let e = anyhow!(
                    "step `{}`: not met after {times} repeat(s): {miss}",
                    step.name
                );
                if !self.continue_on_failure {
                    return Err(e);
                }
                first_failure.get_or_insert(e);
            }
            if let Some((from, to)) = step.think {
                a.think(from..to).await;
            }
        }
        if let Some((from, to)) = shared.think {
            a.think(from..to).await;
        }
        match first_failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn step(
        &self,
        a: &mut Agent,
        shared: &Shared,
        step: &Step,
        vars: &mut Vars,
    ) -> anyhow::Result<Response> {
        let path = step.path.render(vars);
        let response = {
            let vars = &*vars;
            match (&step.retry, &step.wait) {
                (Some(policy), _) => {
                    a.retry(policy, |a| request(a, shared, step, &path, vars))
                        .await?
                }
                (None, Some((name, wait, until))) => {
                    let wait = rendered(until, vars)
                        .into_iter()
                        .fold(wait.clone(), Wait::until);
                    a.wait(name, &wait, |a| request(a, shared, step, &path, vars))
                        .await?
                }
                (None, None) => request(a, shared, step, &path, vars).send().await?,
            }
        };
        let response = match step.expect.as_slice() {
            [] => response,
            [one] => response.expect_status(*one)?,
            many => {
                let status = response.status();
                let list: Vec<String> = many.iter().map(u16::to_string).collect();
                let check = format!("{}: status {}", step.name, list.join(" or "));
                if !a.check(&check, many.contains(&status)) {
                    return Err(CheckFailed::new(
                        check,
                        format!("expected status {}, got {status}", list.join(" or ")),
                    )
                    .into());
                }
                response
            }
        };
        if !step.extract.is_empty() {
            let body: Value = response.json().with_context(|| {
                format!("step `{}`: cannot extract from the response", step.name)
            })?;
            for (name, pointer) in &step.extract {
                let v = body.pointer(pointer).cloned().ok_or_else(|| {
                    anyhow!(
                        "step `{}`: the response has nothing at `{pointer}` to extract into `{name}`",
                        step.name
                    )
                })?;
                a.vars().set(name, v.clone());
                vars.insert(name.clone(), v);
            }
        }
        Ok(response)
    }
}
