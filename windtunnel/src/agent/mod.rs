//! [`Agent`]: one virtual user. Its state (cookies, variables, seeded RNG) lives across the
//! iterations the executor runs; it sends requests through the HTTP client and records what it
//! measures. Agents record; they do not render.

mod rng;

use std::collections::HashMap;
use std::fmt::{self, Display};
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

pub use rng::AgentRng;
pub(crate) use rng::random_seed;

use crate::http::{RequestBuilder, ServiceRequests, Session};
use crate::metrics::{ErrorKind, Outcome, Recorder};
use crate::turbulence::{OPEN_STREAM, RequestKey};

/// The future one iteration of an agent returns. Not public API: used by generated code.
#[doc(hidden)]
pub type AgentFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// An `#[agent]` function with its name and weight, ready to hand to
/// [`Scenario::agents`](crate::Scenario::agents).
///
/// `#[agent] async fn shopper(..)` defines a constant `shopper` of this type.
#[derive(Clone)]
pub struct AgentFn {
    name: &'static str,
    weight: u32,
    run: Body,
}

/// What an agent runs: an `#[agent]` function, or a closure (a declarative plan's steps).
#[derive(Clone)]
enum Body {
    Fn(for<'a> fn(&'a mut Agent) -> AgentFuture<'a>),
    Closure(Arc<dyn for<'a> Fn(&'a mut Agent) -> AgentFuture<'a> + Send + Sync>),
}

impl AgentFn {
    pub(crate) const fn new(
        name: &'static str,
        weight: u32,
        run: for<'a> fn(&'a mut Agent) -> AgentFuture<'a>,
    ) -> Self {
        AgentFn {
            name,
            weight,
            run: Body::Fn(run),
        }
    }

    /// An agent that runs a closure (a declarative plan's steps).
    pub(crate) fn closure(
        name: &'static str,
        weight: u32,
        run: Arc<dyn for<'a> Fn(&'a mut Agent) -> AgentFuture<'a> + Send + Sync>,
    ) -> Self {
        AgentFn {
            name,
            weight,
            run: Body::Closure(run),
        }
    }

    /// The agent's name (the function's, unless set with `#[agent(name = "..")]`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The agent's weight: users are assigned to agents in proportion to their weights.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The same agent with another weight, for one scenario.
    ///
    /// # Panics
    ///
    /// If `weight` is 0 (leave the agent out instead).
    #[track_caller]
    pub fn with_weight(mut self, weight: u32) -> Self {
        assert!(
            weight > 0,
            "agent `{}`: a weight must be at least 1",
            self.name
        );
        self.weight = weight;
        self
    }

    /// Runs one iteration of the agent.
    pub(crate) fn call<'a>(&self, agent: &'a mut Agent) -> AgentFuture<'a> {
        match &self.run {
            Body::Fn(run) => run(agent),
            Body::Closure(run) => run(agent),
        }
    }
}

impl fmt::Debug for AgentFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentFn")
            .field("name", &self.name)
            .field("weight", &self.weight)
            .finish()
    }
}

/// One virtual user, handed to every iteration of an `#[agent]` function.
///
/// ```no_run
/// use windtunnel::prelude::*;
///
/// #[agent(weight = 3)]
/// async fn shopper(a: &mut Agent) -> Result<()> {
///     let products: Vec<serde_json::Value> =
///         a.get("/products").name("list").send().await?.expect_status(200)?.json()?;
///     if let Some(p) = a.rng().choose(&products) {
///         let body = serde_json::json!({ "product_id": p["id"], "quantity": 1 });
///         a.post("/cart").json(&body).name("add to cart").send().await?.expect_status(201)?;
///     }
///     a.think(ms(100)..ms(300)).await;
///     Ok(())
/// }
/// # fn main() {}
/// ```
pub struct Agent {
    id: u64,
    name: &'static str,
    iteration: u64,
    rng: AgentRng,
    vars: Vars,
    session: Session,
    recorder: Recorder,
    stop: Arc<Stop>,
    /// The variations this iteration drew, by name, with their values as text.
    choices: Vec<(Box<str>, Box<str>)>,
}

impl Agent {
    pub(crate) fn new(
        id: u64,
        name: &'static str,
        seed: u64,
        session: Session,
        recorder: Recorder,
        stop: Arc<Stop>,
    ) -> Self {
        Agent {
            id,
            name,
            iteration: 0,
            rng: AgentRng::new(seed, id),
            vars: Vars::default(),
            session,
            recorder,
            stop,
            choices: Vec::new(),
        }
    }

    /// This agent's id, unique within the scenario run (0-based, in start order).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name of the `#[agent]` function this agent runs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The number of the current iteration of this agent (0-based).
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Starts iteration `n`, `lateness` after its intended start (zero in a closed model).
    /// In an open model, `arrival` is the iteration's place in the schedule, which identifies
    /// its requests for turbulence instead of this agent's (timing-dependent) pool slot.
    pub(crate) fn set_iteration(&mut self, n: u64, lateness: Duration, arrival: Option<u64>) {
        self.iteration = n;
        self.choices.clear();
        self.session.lateness = lateness;
        self.session.last_injected = false;
        self.session.key = match arrival {
            None => RequestKey {
                stream: self.id,
                iteration: n,
                request: 0,
            },
            Some(k) => RequestKey {
                stream: OPEN_STREAM,
                iteration: k,
                request: 0,
            },
        };
    }

    /// This agent's seeded random number generator.
    pub fn rng(&mut self) -> &mut AgentRng {
        &mut self.rng
    }

    /// Variables that persist across this agent's iterations (a token, an id from a response).
    pub fn vars(&mut self) -> &mut Vars {
        &mut self.vars
    }

    /// The base URL requests are sent to (the scenario's target).
    pub fn base_url(&self) -> &str {
        self.session.base_url()
    }

    /// Starts a `GET` request to `path` (relative to the target, or an absolute URL).
    pub fn get(&mut self, path: &str) -> RequestBuilder<'_> {
        self.request(reqwest::Method::GET, path)
    }

    /// Starts a `POST` request to `path`.
    pub fn post(&mut self, path: &str) -> RequestBuilder<'_> {
        self.request(reqwest::Method::POST, path)
    }

    /// Starts a `PUT` request to `path`.
    pub fn put(&mut self, path: &str) -> RequestBuilder<'_> {
        self.request(reqwest::Method::PUT, path)
    }

    /// Starts a `PATCH` request to `path`.
    pub fn patch(&mut self, path: &str) -> RequestBuilder<'_> {
        self.request(reqwest::Method::PATCH, path)
    }

    /// Starts a `DELETE` request to `path`.
    pub fn delete(&mut self, path: &str) -> RequestBuilder<'_> {
        self.request(reqwest::Method::DELETE, path)
    }

    /// Requests to the scenario's service `name` (see
    /// [`Scenario::service`](crate::Scenario::service)), relative to its base URL:
    /// `a.service("payments").post("/payments")`. An unknown name makes the request invalid
    /// (recorded, never sent), its error listing the services there are.
    pub fn service(&mut self, name: &str) -> ServiceRequests<'_> {
        ServiceRequests::new(&mut self.session, name)
    }

    /// Starts a request with any method to `path`.
    pub fn request(&mut self, method: reqwest::Method, path: &str) -> RequestBuilder<'_> {
        RequestBuilder::new(&mut self.session, method, path)
    }

    /// A toggle of this journey: `true` with `probability` (0 to 1), drawn from the agent's
    /// seeded generator (so a replay takes the same path) and recorded under `name` as a
    /// variation: the report counts iterations and failures per value, and a failed
    /// iteration's message ends with the iteration's variations (`[apply_coupon=true]`).
    ///
    /// ```no_run
    /// # use windtunnel::prelude::*;
    /// # #[allow(dead_code)]
    /// # async fn example(a: &mut Agent) -> Result<()> {
    /// if a.toggle("apply_coupon", 0.3) {
    ///     a.post("/cart/coupon").json(&serde_json::json!({ "code": "SAVE10" })).send().await?;
    /// }
    /// let size = a.vary("size", &["S", "M", "L"]).copied();
    /// # let _ = size;
    /// # Ok(()) }
    /// ```
    pub fn toggle(&mut self, name: &str, probability: f64) -> bool {
        let on = self.rng.chance(probability);
        self.note_choice(name, &Value::Bool(on));
        on
    }

    /// One of `items`, drawn from the agent's seeded generator and recorded under `name` as a
    /// variation (see [`toggle`](Self::toggle)); `None` when `items` is empty.
    pub fn vary<'i, T: serde::Serialize>(&mut self, name: &str, items: &'i [T]) -> Option<&'i T> {
        let item = self.rng.choose(items)?;
        let value = serde_json::to_value(item).unwrap_or(Value::Null);
        self.note_choice(name, &value);
        Some(item)
    }

    /// One of `items` by weight (`(3, "browse")` is drawn three times as often as
    /// `(1, "buy")`), from the agent's seeded generator, recorded under `name` as a variation
    /// (see [`toggle`](Self::toggle)): weighted tasks within one agent, as Locust's `@task(3)`,
    /// with their counts and failures in the report. `None` when the weights add up to 0.
    ///
    /// ```no_run
    /// # use windtunnel::prelude::*;
    /// # #[allow(dead_code)]
    /// # async fn browse(_: &mut Agent) -> Result<()> { Ok(()) }
    /// # #[allow(dead_code)]
    /// # async fn buy(_: &mut Agent) -> Result<()> { Ok(()) }
    /// #[agent]
    /// async fn shopper(a: &mut Agent) -> Result<()> {
    ///     match a.vary_weighted("task", &[(3, "browse"), (1, "buy")]) {
    ///         Some(&"buy") => buy(a).await,
    ///         _ => browse(a).await,
    ///     }
    /// }
    /// # fn main() {}
    /// ```
    pub fn vary_weighted<'i, T: serde::Serialize>(
        &mut self,
        name: &str,
        items: &'i [(u32, T)],
    ) -> Option<&'i T> {
        let (_, item) = &items[self.rng.weighted(items.iter().map(|(w, _)| *w))?];
        let value = serde_json::to_value(item).unwrap_or(Value::Null);
        self.note_choice(name, &value);
        Some(item)
    }

    /// A whole number drawn from `range` by the agent's seeded generator and recorded under
    /// `name` as a variation (see [`toggle`](Self::toggle)).
    pub fn vary_in(&mut self, name: &str, range: Range<u64>) -> u64 {
        let n = self.rng.range(range);
        self.note_choice(name, &Value::from(n));
        n
    }

    /// Records `value` as this iteration's variation `name` (a later value of the same name
    /// replaces it).
    pub(crate) fn note_choice(&mut self, name: &str, value: &Value) {
        let text: Box<str> = match value {
            Value::String(s) => crate::report::untrusted::for_name(s).into(),
            other => other.to_string().into(),
        };
        let name = crate::report::untrusted::for_name(name);
        match self.choices.iter_mut().find(|(n, _)| **n == *name) {
            Some((_, v)) => *v = text,
            None => self.choices.push((name.into(), text)),
        }
    }

    /// This iteration's variations.
    pub(crate) fn choices(&self) -> &[(Box<str>, Box<str>)] {
        &self.choices
    }

    /// This iteration's variations as `name=value, ...`, if it drew any.
    pub(crate) fn choices_text(&self) -> Option<String> {
        (!self.choices.is_empty()).then(|| {
            self.choices
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// Waits a random time drawn from `time` (a `Duration` or a `Range<Duration>`), as a user
    /// reading a page would. Returns early when the run is stopping.
    pub async fn think(&mut self, time: impl Into<ThinkTime>) {
        let d = self.rng.duration(time.into().0);
        self.session.release_idle();
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.stop.wait() => {}
        }
    }

    /// Times any async operation under `name`, as a request: its latency goes into the same
    /// histograms, an `Err` counts as a failure of kind `operation`. Use it for a database
    /// call, a WebSocket message, a gRPC call. Control characters in `name` are recorded as
    /// visible escapes (`\x0a`), so a name stays one line in every report.
    ///
    /// ```no_run
    /// # use windtunnel::prelude::*;
    /// # #[allow(dead_code)]
    /// # async fn example(a: &mut Agent) -> Result<()> {
    /// let n = a.measure("db: count orders", async { Ok::<_, std::io::Error>(42) }).await?;
    /// assert_eq!(n, 42);
    /// # Ok(()) }
    /// ```
    pub async fn measure<T, E: Display>(
        &mut self,
        name: &str,
        operation: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let name = &*crate::report::untrusted::for_name(name);
        let start = tokio::time::Instant::now();
        let result = operation.await;
        let end = tokio::time::Instant::now();
        let latency = end - start;
        let lateness = self.session.lateness;
        match &result {
            Ok(_) => self
                .recorder
                .record_marked(name, latency, lateness, end, Outcome::Ok, false),
            Err(e) => self.recorder.record_marked(
                name,
                latency,
                lateness,
                end,
                Outcome::Failed {
                    kind: ErrorKind::Operation,
                    message: &|| e.to_string(),
                },
                false,
            ),
        }
        result
    }

    /// Where this agent records.
    pub(crate) fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// How late the current iteration started after its intended start (open model).
    pub(crate) fn lateness(&self) -> Duration {
        self.session.lateness
    }

    /// Whether turbulence caused the outcome of this iteration's last request.
    pub(crate) fn last_request_injected(&self) -> bool {
        self.session.last_injected
    }

    /// A soft check: counts a pass or a failure under `name` and returns `passed`, without
    /// ending the iteration. Failed checks show in the report and can fail an objective.
    pub fn check(&mut self, name: &str, passed: bool) -> bool {
        self.recorder
            .check_marked(name, passed, self.session.last_injected, || {
                format!("check `{name}` failed")
            });
        passed
    }

    /// Whether the run is stopping (duration over, aborted or interrupted). Long agent loops
    /// can check it to end an iteration early.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_set()
    }
}

/// How long an agent thinks: a fixed `Duration` or a uniform `Range<Duration>`.
#[derive(Clone, Debug)]
pub struct ThinkTime(Range<Duration>);

impl From<Duration> for ThinkTime {
    fn from(d: Duration) -> Self {
        ThinkTime(d..d)
    }
}

impl From<Range<Duration>> for ThinkTime {
    fn from(r: Range<Duration>) -> Self {
        ThinkTime(r)
    }
}

/// An agent's variables: JSON values by name, kept across iterations.
///
/// ```
/// # let mut vars = windtunnel::Vars::default();
/// vars.set("token", "abc");
/// vars.set("cart_items", 3);
/// assert_eq!(vars.get_str("token"), Some("abc"));
/// assert_eq!(vars.get("cart_items").and_then(|v| v.as_u64()), Some(3));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Vars(HashMap<String, Value>);

impl Vars {
    /// Sets `name` to `value`, returning the previous value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.0.insert(name.into(), value.into())
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// The value of `name` if it is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name)
    }
}

/// The stop signal of a run: set once, seen by every agent.
#[derive(Default)]
pub(crate) struct Stop {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    pub(crate) fn set(&self) {
        self.flag.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Resolves once the signal is set.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stop_wakes_waiters_and_stays_set() {
        let stop = Arc::new(Stop::default());
        let waiter = tokio::spawn({
            let stop = Arc::clone(&stop);
            async move { stop.wait().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        stop.set();
        waiter.await.unwrap();
        // Waiting after the fact returns at once.
        stop.wait().await;
        assert!(stop.is_set());
    }
}
