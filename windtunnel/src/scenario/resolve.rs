//! The builder resolved into a load that can run: the settings from outside applied, the load
//! model, objective windows, turbulence and segment checked, each error naming what to change.

use super::builder::{InPlace, Scenario};
use super::channel::{Bound, Mode};
use super::error::ScenarioError;
use crate::config::Target;
use crate::load::{Load, Plan, Resolved};
use crate::objectives::{Span, Window};
use crate::text::list_or_none;
use crate::timeset::TimeSet;
use crate::turbulence::{self, Proxy};

impl Scenario {
    pub(super) fn invalid_load(
        &self,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::InvalidLoad {
            name: self.ctx.name.clone(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The load: set with `.load(..)`, or constant users from the shorthand setters.
    pub(super) fn resolve_load(&self) -> Result<(Load, Resolved), ScenarioError> {
        let load = match &self.load {
            Some(load) => {
                let setters = InPlace::SETTERS.iter();
                if let Some(field) = setters.copied().find(|s| self.in_place.called(s)) {
                    return Err(self.invalid_load(
                        field,
                        "is set in place and a load model with `.load(..)`: set the load in \
                         one of the two ways",
                    ));
                }
                load.clone()
            }
            None => self.in_place.load().into(),
        };
        let load = load.with_overrides(&self.ctx.overrides.load).map_err(|e| {
            self.invalid_load(e.setting, format!("(from {}): {}", e.source, e.reason))
        })?;
        let resolved = load
            .resolve()
            .map_err(|e| self.invalid_load(e.field, e.reason))?;
        Ok((load, resolved))
    }

    /// Where each objective's window lies in this load and its turbulence, and the recorder
    /// windows they need.
    pub(super) fn resolve_windows(
        &self,
        load: &Resolved,
        plan: &turbulence::Plan,
    ) -> Result<(Vec<Bound>, Vec<TimeSet>), ScenarioError> {
        let invalid = |reason: String| ScenarioError::InvalidObjective {
            name: self.ctx.name.clone(),
            reason,
        };
        let open = !matches!(load.plan, Plan::Closed(_));
        let overridden = match &self.ctx.overrides.turbulence {
            Some(t) => format!(
                "; the turbulence from {} replaced the code's phases",
                t.source
            ),
            None => String::new(),
        };
        if matches!(load.plan, Plan::Capacity(_)) && self.objectives.is_empty() {
            return Err(invalid(
                "a capacity search needs at least one objective (`.slo(..)`): the objectives \
                 decide where the capacity ends; without one every rate would hold"
                    .to_owned(),
            ));
        }
        let mut windows: Vec<TimeSet> = Vec::new();
        let mut bound = Vec::new();
        for o in &self.objectives {
            if let Some(problem) = o.problem(open) {
                return Err(invalid(problem));
            }
            let unknown_phase = |name: &str| {
                let known: Vec<String> = plan
                    .phases
                    .iter()
                    .map(|p| format!("`{}`", p.name))
                    .collect();
                invalid(format!(
                    "objective `{o}`: the scenario has no turbulence phase named `{name}` \
                     (phases: {}{})",
                    list_or_none(&known),
                    overridden
                ))
            };
            let span = match o.window() {
                None => None,
                Some(_) if matches!(load.plan, Plan::Capacity(_)) => {
                    return Err(invalid(format!(
                        "objective `{o}`: a capacity search judges its objectives on each step; \
                         they cannot be scoped to a window"
                    )));
                }
                Some(Window::Named(name)) => {
                    let stage = load.stages.iter().find(|s| &s.name == name);
                    let phase = plan.phase(name);
                    match (stage, phase) {
                        (Some(_), Some(_)) => {
                            return Err(invalid(format!(
                                "objective `{o}`: both a stage and a turbulence phase are named \
                                 `{name}`; rename one"
                            )));
                        }
                        (Some(stage), None) => Some((
                            TimeSet::Range(stage.from, stage.to),
                            Some(name.clone()),
                            None,
                        )),
                        (None, Some(phase)) => {
                            Some((TimeSet::During(phase.timing), None, Some(name.clone())))
                        }
                        (None, None) => {
                            let mut known: Vec<String> = load
                                .stages
                                .iter()
                                .map(|s| format!("stage `{}`", s.name))
                                .collect();
                            known.extend(plan.phases.iter().map(|p| format!("phase `{}`", p.name)));
                            return Err(invalid(format!(
                                "objective `{o}`: the scenario has no stage or turbulence phase \
                                 named `{name}` (it has: {}{})",
                                list_or_none(&known),
                                overridden
                            )));
                        }
                    }
                }
                Some(Window::After(name, delay)) => {
                    let phase = plan.phase(name).ok_or_else(|| unknown_phase(name))?;
                    Some((
                        TimeSet::After(phase.timing, *delay),
                        None,
                        Some(name.clone()),
                    ))
                }
                Some(Window::Range(from, to)) => {
                    if let Some(d) = load.duration
                        && *from >= d
                    {
                        return Err(invalid(format!(
                            "objective `{o}`: the window starts after the load ends ({d:?})"
                        )));
                    }
                    Some((TimeSet::Range(*from, *to), None, None))
                }
            };
            let span = span.map(|(set, stage, phase)| {
                let index = windows.iter().position(|w| *w == set).unwrap_or_else(|| {
                    windows.push(set.clone());
                    windows.len() - 1
                });
                Span {
                    index,
                    set,
                    stage,
                    phase,
                }
            });
            bound.push((o.clone(), span));
        }
        Ok((bound, windows))
    }

    /// The turbulence of this run (the override's, or the code's), resolved for its load; with
    /// [`through_proxy`](Self::through_proxy), the proxy it starts, which `url` then points at.
    pub(super) async fn resolve_turbulence(
        &self,
        load: &Resolved,
        url: &mut reqwest::Url,
    ) -> Result<(turbulence::Plan, Option<Proxy>), ScenarioError> {
        let name = || self.ctx.name.clone();
        let (phases, spec) = match &self.ctx.overrides.turbulence {
            Some(o) => (o.value.phases.as_slice(), Some(o.value.text.clone())),
            None => (self.phases.as_slice(), None),
        };
        let mut proxies = self.proxies.clone();
        let mut front = None;
        if self.through_proxy {
            if url.scheme() != "http" {
                return Err(ScenarioError::InvalidTarget {
                    name: name(),
                    target: url.to_string(),
                    reason: "`through_proxy()` needs an `http` target: the proxy forwards bytes, \
                             and a TLS certificate would not match its address",
                });
            }
            let host = url.host_str().unwrap_or("127.0.0.1");
            let port = url.port_or_known_default().unwrap_or(80);
            let mut builder = Proxy::builder("target", format!("{host}:{port}"));
            if self.ctx.mode == Mode::CheckOnly {
                // `--check-config` makes no connection to the target.
                builder = builder.unchecked();
            }
            let proxy = builder
                .start()
                .await
                .map_err(|error| ScenarioError::Proxy {
                    name: name(),
                    rule: None,
                    error,
                })?;
            let addr = proxy.addr();
            // An IP address always parses as a host; a port always fits an http URL.
            let _ = url.set_ip_host(addr.ip());
            let _ = url.set_port(Some(addr.port()));
            proxies.push(proxy.clone());
            front = Some(proxy);
        }
        let mut plan =
            turbulence::Plan::resolve(phases, load.duration, &proxies).map_err(|error| {
                ScenarioError::InvalidTurbulence {
                    name: name(),
                    error,
                }
            })?;
        plan.spec = spec;
        // The proxies handed in may have outlived their upstream; the one in front of the
        // target (after them) checked its upstream as it started.
        let checked = if self.ctx.mode == Mode::CheckOnly {
            0
        } else {
            self.proxies.len()
        };
        for (i, proxy) in plan.proxies.iter().enumerate().take(checked) {
            let Some(needed) = plan.toxics.iter().find(|t| t.proxy == i) else {
                continue;
            };
            proxy.check().await.map_err(|error| ScenarioError::Proxy {
                name: name(),
                rule: Some(format!("{} on proxy `{}`", needed.toxic, proxy.name())),
                error,
            })?;
        }
        Ok((plan, front))
    }

    /// The tape to replay (`--tape`), checked against the scenario's turbulence and seed.
    pub(super) fn replaying(
        &self,
        plan: &turbulence::Plan,
        seed: u64,
    ) -> Result<Option<turbulence::Replaying>, ScenarioError> {
        let Some(tape) = &self.ctx.tape else {
            return Ok(None);
        };
        let fail = |reason: String| ScenarioError::Tape {
            name: self.ctx.name.clone(),
            reason,
        };
        if tape.seed != seed {
            return Err(fail(format!(
                "the tape was recorded with seed {}, and this run's seed is {seed}: give the \
                 tape's seed (`--seed {}`) so that delays and jitter are drawn alike",
                tape.seed, tape.seed
            )));
        }
        turbulence::Replaying::new(tape, &self.ctx.name, plan)
            .map(Some)
            .map_err(fail)
    }

    /// Checks that the load can be cut into the segment this process runs: the seed is fixed
    /// (every segment must draw the same decisions) and the load is not a capacity search
    /// (its steps follow the objectives of the whole).
    pub(super) fn check_segment(&self, load: &Resolved) -> Result<(), ScenarioError> {
        let segment = &self.ctx.segment;
        if segment.value.is_whole() {
            return Ok(());
        }
        let error = |reason: String| ScenarioError::Segment {
            name: self.ctx.name.clone(),
            segment: format!("{} ({})", segment.value, segment.source.short()),
            reason,
        };
        if let Plan::Capacity(_) = load.plan {
            return Err(error(
                "a capacity search cannot be cut into segments: each step's rate follows the \
                 objectives of the whole load; run it in one process"
                    .into(),
            ));
        }
        if self.ctx.overrides.seed.is_none() && self.seed.is_none() {
            return Err(error(
                "the seed is random: every segment must run with the same seed, so set one \
                 with `.seed(..)`, `--seed`, `WINDTUNNEL_SEED` or `seed` in windtunnel.toml"
                    .into(),
            ));
        }
        Ok(())
    }

    pub(super) fn validate(&self) -> Result<(Target, Load, Resolved), ScenarioError> {
        let name = || self.ctx.name.clone();
        if self.agents.is_empty() {
            return Err(ScenarioError::NoAgents(name()));
        }
        let (load, resolved) = self.resolve_load()?;
        let target = match &self.ctx.overrides.target {
            Some(t) => t.value.clone(),
            None => {
                let url = self
                    .target
                    .as_deref()
                    .ok_or_else(|| ScenarioError::NoTarget(name()))?;
                Target::url(url).map_err(|reason| ScenarioError::InvalidTarget {
                    name: name(),
                    target: url.to_owned(),
                    reason,
                })?
            }
        };
        Ok((target, load, resolved))
    }

    /// The settings the code set, replaced by those from outside (the load's are applied in
    /// [`resolve_load`](Self::resolve_load)).
    pub(super) fn apply_overrides(&mut self) {
        let o = &self.ctx.overrides;
        if let Some(s) = &o.objectives {
            self.objectives = s.value.clone();
        }
        if let Some(s) = &o.request_timeout {
            self.request_timeout = Some(s.value);
        }
        if let Some(s) = &o.graceful_stop {
            self.graceful_stop = Some(s.value);
        }
    }
}
