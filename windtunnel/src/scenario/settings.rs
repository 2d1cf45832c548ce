//! The provenance of a scenario's settings: each resolved value with where it came from (the
//! default, the code or plan, the settings file, the environment or a flag), as the report and
//! `--check-config` show them.

use super::DEFAULT_GRACEFUL_STOP;
use super::builder::Scenario;
use super::channel::Mode;
use crate::config::Target;
use crate::http::{DEFAULT_MAX_RESPONSE_BODY, DEFAULT_REQUEST_TIMEOUT};
use crate::load::Load;
use crate::provenance::{Set, Source};
use crate::report::Setting;
use crate::turbulence;

impl Scenario {
    /// Every resolved setting and where it came from.
    pub(super) fn settings(
        &self,
        target: &Target,
        seed: u64,
        load: &Load,
        plan: &turbulence::Plan,
    ) -> Vec<Setting> {
        let o = &self.ctx.overrides;
        let code_or = |set: bool| if set { Source::Code } else { Source::Default };
        /// The source of a setting from outside, else the code's (if it set one) or the default.
        fn source<T>(outside: &Option<Set<T>>, in_code: bool) -> Source {
            match outside {
                Some(s) => s.source.clone(),
                None if in_code => Source::Code,
                None => Source::Default,
            }
        }
        let label = self.ctx.origin.as_str();
        let mut v = Vec::new();
        let mut push = |name: &str, value: String, source: Source| {
            v.push(Setting {
                name: name.to_owned(),
                value,
                source: match source {
                    Source::Code => label.to_owned(),
                    other => other.short(),
                },
            });
        };
        let target_source = source(&o.target, true);
        push("target", target.describe(), target_source.clone());
        if !target.headers.is_empty() {
            let headers: Vec<String> = target
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {}", crate::redact::header_value(k, v)))
                .collect();
            push("headers", headers.join(", "), target_source.clone());
        }
        if target.insecure || target.ca.is_some() {
            let mut tls = Vec::new();
            if target.insecure {
                tls.push("insecure (any certificate)".to_owned());
            }
            if let Some(ca) = &target.ca {
                tls.push(format!("ca {}", ca.path.display()));
            }
            push("tls", tls.join(", "), target_source);
        }
        let seed_text = match (&o.seed, self.seed) {
            (Some(_), _) | (None, Some(_)) => seed.to_string(),
            // `--check-config` draws no seed: each run draws its own.
            (None, None) if (self.ctx.mode == Mode::CheckOnly) => "random".into(),
            (None, None) => format!("{seed} (random)"),
        };
        push("seed", seed_text, source(&o.seed, self.seed.is_some()));
        if !self.ctx.segment.value.is_whole() {
            push(
                "segment",
                self.ctx.segment.value.to_string(),
                self.ctx.segment.source.clone(),
            );
        }
        let shorthand = self.load.is_none();
        for (name, value) in load.describe() {
            let outside = match name {
                "users" => o.load.users.as_ref().map(|s| &s.source),
                "rate" => o.load.rate.as_ref().map(|s| &s.source),
                "duration" => o.load.duration.as_ref().map(|s| &s.source),
                "ramp_up" => o.load.ramp_up.as_ref().map(|s| &s.source),
                "iterations" => o.load.iterations.as_ref().map(|s| &s.source),
                _ => None,
            };
            let source = match (outside, &o.load.stages) {
                (Some(s), _) => s.clone(),
                (None, Some(stages)) if matches!(name, "model" | "start" | "stages") => {
                    stages.source.clone()
                }
                (None, _) if !shorthand => Source::Code,
                (None, _) => code_or(match name {
                    "users" | "ramp_up" => self.in_place.called(name),
                    "model" => self.in_place.any(),
                    _ => true,
                }),
            };
            push(name, value, source);
        }
        let turbulence = if plan.phases.is_empty() {
            "none".to_owned()
        } else {
            plan.spec.clone().unwrap_or_else(|| {
                plan.phases
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
        };
        push(
            "turbulence",
            turbulence,
            source(&o.turbulence, !self.phases.is_empty()),
        );
        let objectives: Vec<String> = self.objectives.iter().map(ToString::to_string).collect();
        push(
            "objectives",
            if objectives.is_empty() {
                "none".to_owned()
            } else {
                objectives.join("; ")
            },
            source(&o.objectives, !self.objectives.is_empty()),
        );
        push(
            "request_timeout",
            humantime::format_duration(self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT))
                .to_string(),
            source(&o.request_timeout, self.request_timeout.is_some()),
        );
        push(
            "max_response_body",
            format!(
                "{} bytes",
                self.max_response_body.unwrap_or(DEFAULT_MAX_RESPONSE_BODY)
            ),
            code_or(self.max_response_body.is_some()),
        );
        push(
            "graceful_stop",
            humantime::format_duration(self.graceful_stop.unwrap_or(DEFAULT_GRACEFUL_STOP))
                .to_string(),
            source(&o.graceful_stop, self.graceful_stop.is_some()),
        );
        v
    }
}
