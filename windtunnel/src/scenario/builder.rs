//! The builder a `#[scenario]` body configures: agents, the load model, the target, objectives
//! and turbulence. It only records what the code says; `resolve` checks it.

use std::sync::Arc;
use std::time::Duration;

use super::channel::ScenarioContext;
use crate::agent::{AgentFn, Stop};
use crate::config::Overrides;
use crate::http::Service;
use crate::load::{Load, Users};
use crate::objectives::Objective;
use crate::turbulence::{Phase, Proxy};

/// One scenario's load: which agents, which load model, against what, and which objectives
/// decide pass or fail.
///
/// The closed model with constant users can be set in place (`.users(..)`, `.ramp_up(..)`,
/// `.duration(..)`, `.iterations(..)`); every model, open ones included, with
/// [`load`](Self::load).
///
/// ```no_run
/// use windtunnel::prelude::*;
///
/// #[agent]
/// async fn browser(a: &mut Agent) -> Result<()> {
///     a.get("/products").name("list").send().await?.expect_status(200)?;
///     Ok(())
/// }
///
/// #[scenario(tags = ["smoke"], timeout = "1m")]
/// async fn browse(s: Scenario) -> Result<()> {
///     s.target("http://127.0.0.1:8080")
///         .agents([browser])
///         .users(20)
///         .ramp_up(secs(2))
///         .duration(secs(10))
///         .slo(p99("list").below(ms(250)))
///         .slo(error_rate().below(0.01))
///         .run()
///         .await?;
///     Ok(())
/// }
///
/// #[scenario]
/// async fn spike(s: Scenario) -> Result<()> {
///     s.target("http://127.0.0.1:8080")
///         .agents([browser])
///         .load(
///             Load::ramping_rate([
///                 stage(secs(10), per_sec(50)),
///                 stage(secs(20), per_sec(500)).named("spike"),
///                 stage(secs(10), per_sec(50)),
///             ])
///             .pool(20, 500),
///         )
///         .slo(p99(ALL).below(ms(300)).during("spike"))
///         .slo(error_rate().below(0.05).abort_on_fail())
///         .run()
///         .await?;
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[must_use = "a scenario does nothing until `.run().await`"]
pub struct Scenario {
    pub(super) ctx: Arc<ScenarioContext>,
    pub(super) agents: Vec<AgentFn>,
    pub(super) load: Option<Load>,
    /// The constant users set in place with the shorthand setters.
    pub(super) in_place: InPlace,
    pub(super) graceful_stop: Option<Duration>,
    pub(super) request_timeout: Option<Duration>,
    pub(super) max_response_body: Option<usize>,
    pub(super) target: Option<String>,
    pub(super) services: Vec<(String, Service)>,
    pub(super) seed: Option<u64>,
    pub(super) objectives: Vec<Objective>,
    pub(super) phases: Vec<Phase>,
    pub(super) proxies: Vec<Proxy>,
    pub(super) through_proxy: bool,
}

impl Scenario {
    /// A scenario outside the harness, e.g. in a `#[tokio::test]` or a binary of your own:
    /// no report files are written; `run()` returns the [`LoadReport`](crate::report::LoadReport).
    ///
    /// ```no_run
    /// # use windtunnel::prelude::*;
    /// # #[agent] async fn browser(_a: &mut Agent) -> Result<()> { Ok(()) }
    /// # #[allow(dead_code)]
    /// # async fn example() -> Result<()> {
    /// let report = Scenario::new("smoke")
    ///     .seed(7)
    ///     .target("http://127.0.0.1:8080")
    ///     .agents([browser])
    ///     .users(2)
    ///     .iterations(10)
    ///     .run()
    ///     .await?;
    /// assert_eq!(report.total.count, 20);
    /// # Ok(()) }
    /// ```
    pub fn new(name: &str) -> Self {
        let ctx = ScenarioContext::new(
            name.to_owned(),
            Overrides::default(),
            crate::agent::random_seed(),
            Arc::new(Stop::default()),
        );
        Scenario::from_context(Arc::new(ctx))
    }

    pub(crate) fn from_context(ctx: Arc<ScenarioContext>) -> Self {
        Scenario {
            ctx,
            agents: Vec::new(),
            load: None,
            in_place: InPlace::default(),
            graceful_stop: None,
            request_timeout: None,
            max_response_body: None,
            target: None,
            services: Vec::new(),
            seed: None,
            objectives: Vec::new(),
            phases: Vec::new(),
            proxies: Vec::new(),
            through_proxy: false,
        }
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.ctx.name
    }

    /// The target requests go to: the one from outside the code (`--target`,
    /// `WINDTUNNEL_TARGET`, or `target` in the settings file) if given, else the
    /// one set with [`target`](Self::target), else `None`.
    pub fn target_url(&self) -> Option<&str> {
        match &self.ctx.overrides.target {
            Some(t) => Some(&t.value.url),
            None => self.target.as_deref(),
        }
    }

    /// Sets the target (base URL) in code. `--target`, `WINDTUNNEL_TARGET` or the settings
    /// file's `target` override it.
    pub fn target(mut self, url: impl Into<String>) -> Self {
        self.target = Some(url.into());
        self
    }

    /// Names another service the agents talk to besides the target (payments beside the shop),
    /// at a URL or a combination of the settings file's targets catalog, with its own headers,
    /// timeout and TLS setting (see [`Service`]). Agents reach it with
    /// [`a.service(name)`](crate::Agent::service); the reports total each service's requests
    /// apart. A name is letters, digits, `_` and `-`, not `target` (the target's own), and
    /// given once.
    ///
    /// ```no_run
    /// # use windtunnel::prelude::*;
    /// # #[allow(dead_code)]
    /// # async fn body(s: Scenario) -> Result<()> {
    /// let s = s
    ///     .service("payments", "http://127.0.0.1:9090")
    ///     .service("search", Service::new("search/staging/eu").timeout(secs(2)));
    /// # let _ = s;
    /// # Ok(()) }
    /// ```
    pub fn service(mut self, name: &str, service: impl Into<Service>) -> Self {
        self.services.push((name.to_owned(), service.into()));
        self
    }

    /// Sets the seed in code. `--seed`, `WINDTUNNEL_SEED` or the settings file override it. (Default: random,
    /// printed in the report and in the replay command.)
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The agents users are assigned to (or, in an open model, iterations are started on), in
    /// proportion to their weights.
    pub fn agents(mut self, agents: impl IntoIterator<Item = AgentFn>) -> Self {
        self.agents.extend(agents);
        self
    }

    /// The load model: closed or open, constant or through stages, or a capacity search. See
    /// [`Load`]. Use it instead of `users`/`ramp_up`/`duration`/`iterations`, not with them.
    pub fn load(mut self, load: impl Into<Load>) -> Self {
        self.load = Some(load.into());
        self
    }

    /// Constant users (closed model): how many run at once. (Default: 1.) Short for
    /// `.load(Load::users(n)..)`.
    pub fn users(mut self, users: u32) -> Self {
        self.in_place.set("users", |u| u.with_users(users));
        self
    }

    /// Constant users: starts them evenly over this time instead of all at once. (Default: 0.)
    pub fn ramp_up(mut self, ramp_up: Duration) -> Self {
        self.in_place.set("ramp_up", |u| u.ramp_up(ramp_up));
        self
    }

    /// Constant users: how long the load runs, ramp-up included. With `iterations`, whichever
    /// ends first.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.in_place.set("duration", |u| u.duration(duration));
        self
    }

    /// Constant users: how many iterations each user runs. With `duration`, whichever ends
    /// first.
    pub fn iterations(mut self, per_user: u64) -> Self {
        self.in_place.set("iterations", |u| u.iterations(per_user));
        self
    }

    /// How long in-flight iterations may go on after the end before they are cancelled (and
    /// counted as cancelled). (Default: 5 seconds.)
    pub fn graceful_stop(mut self, grace: Duration) -> Self {
        self.graceful_stop = Some(grace);
        self
    }

    /// Declares that this scenario runs no load on purpose (it checks a setup, or drives the
    /// SUT without agents). Without it, a body that returns `Ok` without having run a load
    /// fails: a load that was built but never awaited (`.run()` without `.await`) must not pass.
    ///
    /// ```no_run
    /// # use windtunnel::prelude::*;
    /// #[scenario]
    /// async fn health_is_configured(s: Scenario) -> Result<()> {
    ///     ensure!(s.target_url().is_some(), "no target");
    ///     s.without_load();
    ///     Ok(())
    /// }
    /// # fn main() {}
    /// ```
    pub fn without_load(self) {
        self.ctx
            .without_load
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The timeout of each request. (Default: 30 seconds.)
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How many bytes of each response body are kept for the agent
    /// ([`Response::body`](crate::Response::body)) and for error samples. The rest of a longer
    /// body is still read, timed and counted; [`Response::json`](crate::Response::json) on a
    /// truncated body is an error that says so. This bounds memory against a SUT that sends
    /// huge or endless bodies. (Default: [`DEFAULT_MAX_RESPONSE_BODY`](crate::DEFAULT_MAX_RESPONSE_BODY), 16 MiB.)
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = Some(bytes);
        self
    }

    /// Adds an objective; the scenario fails if any objective does not hold.
    pub fn slo(mut self, objective: Objective) -> Self {
        self.objectives.push(objective);
        self
    }

    /// Adds a turbulence phase: faults and toxics and when they apply (see
    /// [`turbulence`](crate::turbulence)). `--turbulence` or `WINDTUNNEL_TURBULENCE` replace
    /// every phase set in code for an ad-hoc run.
    pub fn turbulence(mut self, phase: Phase) -> Self {
        self.phases.push(phase);
        self
    }

    /// Makes `proxy` known to the scenario, so that phases' toxics can name it (e.g. a proxy
    /// between the SUT and its database). Its toxics apply while the load runs.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxies.push(proxy);
        self
    }

    /// Sends the agents through a proxy named `target`, started on loopback in front of the
    /// target when the load starts, so that toxics can act on their connections. The target
    /// must be an `http` URL (the proxy forwards bytes; a TLS certificate would not match it).
    pub fn through_proxy(mut self) -> Self {
        self.through_proxy = true;
        self
    }
}

/// The constant-users load of the shorthand setters (`.users(..)`, `.ramp_up(..)`,
/// `.duration(..)`, `.iterations(..)`): one [`Users`] they all change, and which of them the
/// code called, so that the report can tell the code's settings from the defaults.
#[derive(Clone, Debug, Default)]
pub(super) struct InPlace {
    users: Option<Users>,
    called: Vec<&'static str>,
}

impl InPlace {
    /// The shorthand settings, in the order of the setters' documentation.
    pub(super) const SETTERS: [&'static str; 4] = ["users", "ramp_up", "duration", "iterations"];

    fn set(&mut self, setter: &'static str, change: impl FnOnce(Users) -> Users) {
        let users = self.users.take().unwrap_or_else(|| Load::users(1));
        self.users = Some(change(users));
        if !self.called.contains(&setter) {
            self.called.push(setter);
        }
    }

    /// Whether the code called the setter of this name.
    pub(super) fn called(&self, setter: &'static str) -> bool {
        self.called.contains(&setter)
    }

    /// Whether the code called any shorthand setter.
    pub(super) fn any(&self) -> bool {
        !self.called.is_empty()
    }

    /// The load they set: one constant user by default.
    pub(super) fn load(&self) -> Users {
        self.users.clone().unwrap_or_else(|| Load::users(1))
    }
}
