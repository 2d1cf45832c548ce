//! Load settings from outside the code (the settings file, `WINDTUNNEL_*`, flags) applied to
//! the code's load model, and the model described setting by setting for the report. A
//! setting that does not apply to the model is an error that says what would.

use std::time::Duration;

use super::{Load, Model, Pool, RampingRate, RampingUsers, Rate, Stage, StartTimer};
use crate::provenance::{Set, Source};

/// The load settings from outside the code, each with its source; `config` fills them in.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub(crate) users: Option<Set<u32>>,
    pub(crate) rate: Option<Set<Rate>>,
    pub(crate) duration: Option<Set<Duration>>,
    pub(crate) ramp_up: Option<Set<Duration>>,
    pub(crate) iterations: Option<Set<u64>>,
    /// Stages that replace the model with a ramping one.
    pub(crate) stages: Option<Set<Vec<StageSetting>>>,
}

impl Overrides {
    /// `self` with every setting `over` has replacing it.
    pub(crate) fn overlay(&mut self, over: &Overrides) {
        Set::overlay(&mut self.users, &over.users);
        Set::overlay(&mut self.rate, &over.rate);
        Set::overlay(&mut self.duration, &over.duration);
        Set::overlay(&mut self.ramp_up, &over.ramp_up);
        Set::overlay(&mut self.iterations, &over.iterations);
        Set::overlay(&mut self.stages, &over.stages);
    }
}

/// One stage from outside the code: how long it lasts and the users or the rate it ramps
/// to (one of them; all stages of a load alike).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StageSetting {
    pub(crate) duration: Duration,
    pub(crate) users: Option<u32>,
    pub(crate) rate: Option<Rate>,
    pub(crate) name: Option<String>,
}

/// A setting from outside that the load model cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotApplicable {
    /// The setting (`users`, `rate`, ...).
    pub(crate) setting: &'static str,
    /// Where it came from.
    pub(crate) source: Source,
    /// Why it does not apply, and what would.
    pub(crate) reason: String,
}

impl Load {
    /// This load with the load settings of `o` applied: `stages` replace the model with a
    /// ramping one; `users`, `rate`, `duration`, `ramp_up` and `iterations` change the model's
    /// own settings of those names.
    pub(crate) fn with_overrides(self, o: &Overrides) -> Result<Load, NotApplicable> {
        let mut model = self.0;
        if let Some(stages) = &o.stages {
            model = from_stages(&stages.value, &model);
        }
        let model_name = describe_model(&model);
        let not = |setting: &'static str, source: &Source, hint: &str| NotApplicable {
            setting,
            source: source.clone(),
            reason: format!("the load is {model_name}, which has no `{setting}`: {hint}"),
        };
        let staged = "change its `stages` in the settings file instead";
        match &mut model {
            Model::Users(u) => {
                if let Some(s) = &o.rate {
                    return Err(not(
                        "rate",
                        &s.source,
                        "set `users` instead (a closed model)",
                    ));
                }
                if let Some(s) = &o.users {
                    u.users = s.value;
                }
                if let Some(s) = &o.ramp_up {
                    u.ramp_up = s.value;
                }
                if let Some(s) = &o.duration {
                    u.duration = Some(s.value);
                }
                if let Some(s) = &o.iterations {
                    u.iterations = Some(s.value);
                }
            }
            Model::ArrivalRate(a) => {
                let hint = "set `rate` and `duration` instead (an open model)";
                if let Some(s) = &o.users {
                    return Err(not("users", &s.source, hint));
                }
                if let Some(s) = &o.ramp_up {
                    return Err(not("ramp_up", &s.source, hint));
                }
                if let Some(s) = &o.iterations {
                    return Err(not("iterations", &s.source, hint));
                }
                if let Some(s) = &o.rate {
                    a.rate = s.value;
                }
                if let Some(s) = &o.duration {
                    a.duration = Some(s.value);
                }
            }
            Model::RampingUsers(_) | Model::RampingRate(_) | Model::Capacity(_) => {
                let hint = if matches!(model, Model::Capacity(_)) {
                    "a capacity search is set in code only"
                } else {
                    staged
                };
                let found = [
                    ("users", o.users.as_ref().map(|s| &s.source)),
                    ("rate", o.rate.as_ref().map(|s| &s.source)),
                    ("duration", o.duration.as_ref().map(|s| &s.source)),
                    ("ramp_up", o.ramp_up.as_ref().map(|s| &s.source)),
                    ("iterations", o.iterations.as_ref().map(|s| &s.source)),
                ];
                if let Some((setting, Some(source))) = found.iter().find(|(_, s)| s.is_some()) {
                    return Err(not(setting, source, hint));
                }
            }
        }
        Ok(Load(model))
    }

    /// A ramping load from checked stages (all users or all rates).
    pub(crate) fn from_stages(specs: &[StageSetting]) -> Load {
        Load(from_stages(specs, &Model::Users(Load::users(0))))
    }

    /// An open model with this agent pool; a closed model as it is.
    pub(crate) fn with_pool(mut self, preallocated: u32, max: u32) -> Load {
        match &mut self.0 {
            Model::ArrivalRate(a) => a.pool = Pool { preallocated, max },
            Model::RampingRate(r) => r.pool = Pool { preallocated, max },
            Model::Capacity(c) => c.pool = Pool { preallocated, max },
            Model::Users(_) | Model::RampingUsers(_) => {}
        }
        self
    }

    /// The model's settings, by name, as the report shows them.
    pub(crate) fn describe(&self) -> Vec<(&'static str, String)> {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let pool = |p: &Pool| format!("{} preallocated, {} at most", p.preallocated, p.max);
        let mut v = vec![("model", describe_model(&self.0).to_owned())];
        match &self.0 {
            Model::Users(u) => {
                v.push(("users", u.users.to_string()));
                v.push(("ramp_up", d(u.ramp_up)));
                if let Some(x) = u.duration {
                    v.push(("duration", d(x)));
                }
                if let Some(n) = u.iterations {
                    v.push(("iterations", n.to_string()));
                }
                if let Some(n) = u.shared_iterations {
                    v.push(("shared_iterations", n.to_string()));
                }
            }
            Model::RampingUsers(r) => {
                v.push(("start", r.start.to_string()));
                v.push(("stages", stages(&r.stages, |u| format!("{u} users"))));
            }
            Model::ArrivalRate(a) => {
                v.push(("rate", a.rate.to_string()));
                if let Some(x) = a.duration {
                    v.push(("duration", d(x)));
                }
                v.push(("pool", pool(&a.pool)));
            }
            Model::RampingRate(r) => {
                v.push(("start", r.start.to_string()));
                v.push(("stages", stages(&r.stages, Rate::to_string)));
                v.push(("pool", pool(&r.pool)));
            }
            Model::Capacity(c) => {
                v.push(("start", c.start.to_string()));
                if let Some(s) = c.step {
                    v.push(("step", s.to_string()));
                }
                v.push(("hold", d(c.hold)));
                if let Some(m) = c.max {
                    v.push(("max", m.to_string()));
                }
                v.push(("bisections", c.bisections.to_string()));
                v.push(("repeats", c.repeats.to_string()));
                v.push(("pool", pool(&c.pool)));
            }
        }
        v
    }
}

fn describe_model(m: &Model) -> &'static str {
    match m {
        Model::Users(_) => "constant users",
        Model::RampingUsers(_) => "ramping users",
        Model::ArrivalRate(_) => "an arrival rate",
        Model::RampingRate(_) => "a ramping arrival rate",
        Model::Capacity(_) => "a capacity search",
    }
}

fn stages<T>(stages: &[Stage<T>], show: impl Fn(&T) -> String) -> String {
    stages
        .iter()
        .map(|s| {
            let mut text = format!(
                "{} to {}",
                humantime::format_duration(s.duration),
                show(&s.target)
            );
            if let Some(n) = &s.name {
                text.push_str(&format!(" ({n})"));
            }
            text
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A ramping model from checked stages (all users or all rates); an open model keeps the
/// code's pool and timer.
pub(crate) fn from_stages(specs: &[StageSetting], code: &Model) -> Model {
    fn named<T>(s: &StageSetting, st: Stage<T>) -> Stage<T> {
        match &s.name {
            Some(n) => st.named(n.clone()),
            None => st,
        }
    }
    if specs.first().is_some_and(|s| s.users.is_some()) {
        Model::RampingUsers(RampingUsers {
            start: 0,
            stages: specs
                .iter()
                .map(|s| named(s, super::stage(s.duration, s.users.unwrap_or(0))))
                .collect(),
        })
    } else {
        let (pool, timer) = match code {
            Model::ArrivalRate(a) => (a.pool, a.timer),
            Model::RampingRate(r) => (r.pool, r.timer),
            Model::Capacity(c) => (c.pool, StartTimer::Tick),
            _ => (Pool::default(), StartTimer::Tick),
        };
        Model::RampingRate(RampingRate {
            start: Rate(0.0),
            stages: specs
                .iter()
                .map(|s| named(s, super::stage(s.duration, s.rate.unwrap_or(Rate(0.0)))))
                .collect(),
            pool,
            timer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::per_sec;

    fn flag<T>(value: T, flag: &'static str) -> Option<Set<T>> {
        Some(Set {
            value,
            source: Source::Flag(flag),
        })
    }

    #[test]
    fn settings_change_the_models_own_fields() {
        let o = Overrides {
            users: flag(200, "--users"),
            duration: flag(Duration::from_secs(120), "--duration"),
            ..Overrides::default()
        };
        let load: Load = Load::users(20).ramp_up(Duration::from_secs(1)).into();
        let d = load.with_overrides(&o).unwrap().describe();
        assert_eq!(
            d,
            [
                ("model", "constant users".to_owned()),
                ("users", "200".to_owned()),
                ("ramp_up", "1s".to_owned()),
                ("duration", "2m".to_owned())
            ]
        );
        let o = Overrides {
            rate: flag(per_sec(50), "--rate"),
            ..Overrides::default()
        };
        let load: Load = Load::rate(per_sec(10))
            .duration(Duration::from_secs(5))
            .into();
        let d = load.with_overrides(&o).unwrap().describe();
        assert_eq!(d[1], ("rate", "50/s".to_owned()));
    }

    #[test]
    fn settings_that_do_not_apply_are_errors() {
        let o = Overrides {
            users: flag(200, "--users"),
            ..Overrides::default()
        };
        let load: Load = Load::rate(per_sec(10)).into();
        let err = load.with_overrides(&o).unwrap_err();
        assert_eq!(err.setting, "users");
        assert_eq!(err.source, Source::Flag("--users"));
        assert!(err.reason.contains("an arrival rate") && err.reason.contains("set `rate`"));
        let load: Load =
            Load::ramping_users([super::super::stage(Duration::from_secs(1), 5)]).into();
        let err = load.with_overrides(&o).unwrap_err();
        assert!(err.reason.contains("`stages`"), "{}", err.reason);
    }

    #[test]
    fn stages_replace_the_model() {
        let stage = |s: u64, rate: f64, name: Option<&str>| StageSetting {
            duration: Duration::from_secs(s),
            users: None,
            rate: Some(Rate(rate)),
            name: name.map(str::to_owned),
        };
        let specs = vec![stage(10, 50.0, None), stage(20, 500.0, Some("spike"))];
        let o = Overrides {
            stages: flag(specs, "--x"),
            ..Overrides::default()
        };
        let load: Load = Load::users(3).into();
        let d = load.with_overrides(&o).unwrap().describe();
        assert_eq!(d[0].1, "a ramping arrival rate");
        assert_eq!(
            d[2],
            ("stages", "10s to 50/s, 20s to 500/s (spike)".to_owned())
        );
    }
}
