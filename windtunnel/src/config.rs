//! [`RunConfig`]: the settings of one harness run, resolved from the environment
//! (`WINDTUNNEL_*`) and the flags after `--`, flags winning. Every value remembers where it came
//! from, so an error can say which flag or variable was wrong.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::turbulence::spec::{self, Override};

/// Where a setting's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A `WINDTUNNEL_*` environment variable.
    Env(&'static str),
    /// A flag after `--`.
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env(var) => write!(f, "environment variable `{var}`"),
            Source::Flag(flag) => write!(f, "flag `{flag}`"),
        }
    }
}

/// A setting with a bad value.
#[derive(Debug, thiserror::Error)]
#[error("invalid value `{value}` for {source_}: {expected}")]
pub(crate) struct ConfigError {
    value: String,
    source_: Source,
    expected: std::borrow::Cow<'static, str>,
}

/// The raw values of windtunnel's own flags, as found on the command line.
#[derive(Clone, Debug, Default)]
pub(crate) struct Flags {
    pub(crate) seed: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) out: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) log: Option<String>,
    pub(crate) turbulence: Option<String>,
    pub(crate) keep_runs: Option<String>,
}

/// The resolved settings of a run.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunConfig {
    /// Seed for every scenario of the run; random per scenario when unset.
    pub(crate) seed: Option<u64>,
    /// Target that overrides the one set in code.
    pub(crate) target: Option<String>,
    /// Root directory of the reports.
    pub(crate) out: Option<PathBuf>,
    /// Run only scenarios with one of these tags.
    pub(crate) tags: Vec<String>,
    /// A tracing filter for logs on stderr (`info`, `windtunnel=debug`).
    pub(crate) log: Option<String>,
    /// Turbulence that replaces every scenario's (`--turbulence`, `WINDTUNNEL_TURBULENCE`).
    pub(crate) turbulence: Option<Arc<Override>>,
    /// The flags to repeat in a replay command (target and turbulence; the seed is added per
    /// scenario).
    pub(crate) replay_flags: Vec<String>,
    /// How many runs to keep under the report root (`0`: all).
    pub(crate) keep_runs: usize,
    /// The run's id, when set from outside (`WINDTUNNEL_RUN_ID`; `windtunnel replay` sets it).
    pub(crate) run_id: Option<String>,
}

/// How many runs the report root keeps when nothing says otherwise.
pub(crate) const DEFAULT_KEEP_RUNS: usize = 30;

impl RunConfig {
    /// Resolves the settings: a flag wins over its environment variable.
    pub(crate) fn resolve(
        flags: Flags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let pick = |flag: Option<String>, flag_name: &'static str, var: &'static str| match flag {
            Some(v) => Some((v, Source::Flag(flag_name))),
            None => env(var)
                .filter(|v| !v.is_empty())
                .map(|v| (v, Source::Env(var))),
        };
        let seed = match pick(flags.seed, "--seed", "WINDTUNNEL_SEED") {
            None => None,
            Some((v, source_)) => Some(v.trim().parse::<u64>().map_err(|_| ConfigError {
                value: v,
                source_,
                expected: "expected an unsigned 64-bit integer, like `--seed 42`".into(),
            })?),
        };
        let target = match pick(flags.target, "--target", "WINDTUNNEL_TARGET") {
            None => None,
            Some((v, source_)) => Some(check_target(&v).map_err(|expected| ConfigError {
                value: v.clone(),
                source_,
                expected: expected.into(),
            })?),
        };
        let out = pick(flags.out, "--out", "WINDTUNNEL_OUT").map(|(v, _)| PathBuf::from(v));
        let mut tags = flags.tags;
        if tags.is_empty()
            && let Some(v) = env("WINDTUNNEL_TAGS")
        {
            tags = v
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect();
        }
        let log = pick(flags.log, "--log", "WINDTUNNEL_LOG")
            .map(|(v, _)| v)
            .or_else(|| env("RUST_LOG").filter(|v| !v.is_empty()));
        let turbulence = match pick(flags.turbulence, "--turbulence", "WINDTUNNEL_TURBULENCE") {
            None => None,
            Some((v, source_)) => Some(Arc::new(spec::parse(&v).map_err(|why| ConfigError {
                value: v.clone(),
                source_,
                expected: why.into(),
            })?)),
        };
        let keep_runs = match pick(flags.keep_runs, "--keep-runs", "WINDTUNNEL_KEEP_RUNS") {
            None => DEFAULT_KEEP_RUNS,
            Some((v, source_)) => v.trim().parse::<usize>().map_err(|_| ConfigError {
                value: v,
                source_,
                expected: "expected how many runs to keep, like `--keep-runs 30` (0 keeps all)"
                    .into(),
            })?,
        };
        let run_id = match pick(None, "", "WINDTUNNEL_RUN_ID") {
            None => None,
            Some((v, source_)) => {
                let safe = v.len() <= 100
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    && !v.starts_with('.');
                if !safe {
                    return Err(ConfigError {
                        value: v,
                        source_,
                        expected: "expected a directory name of letters, digits, `-`, `_` and \
                                   `.` (not first), at most 100 characters"
                            .into(),
                    });
                }
                Some(v)
            }
        };
        let mut replay_flags = Vec::new();
        if let Some(t) = &target {
            replay_flags.extend(["--target".to_owned(), t.clone()]);
        }
        if let Some(t) = &turbulence {
            replay_flags.extend(["--turbulence".to_owned(), t.text.clone()]);
        }
        Ok(RunConfig {
            seed,
            target,
            out,
            tags,
            log,
            turbulence,
            replay_flags,
            keep_runs,
            run_id,
        })
    }
}

/// A target must be an absolute `http` or `https` URL.
pub(crate) fn check_target(raw: &str) -> Result<String, &'static str> {
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(raw.to_owned()),
        _ => Err("expected an absolute http(s) URL, like `http://127.0.0.1:8080`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flags_win_over_environment() {
        let flags = Flags {
            seed: Some("7".into()),
            ..Flags::default()
        };
        let env = env_of(&[
            ("WINDTUNNEL_SEED", "9"),
            ("WINDTUNNEL_TARGET", "http://127.0.0.1:1"),
        ]);
        let c = RunConfig::resolve(flags, env).unwrap();
        assert_eq!(c.seed, Some(7));
        assert_eq!(c.target.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(c.replay_flags, ["--target", "http://127.0.0.1:1"]);
    }

    #[test]
    fn bad_values_name_their_source() {
        let err =
            RunConfig::resolve(Flags::default(), env_of(&[("WINDTUNNEL_SEED", "x1")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value `x1` for environment variable `WINDTUNNEL_SEED`: expected an unsigned 64-bit integer, like `--seed 42`"
        );
        let flags = Flags {
            target: Some("localhost:80".into()),
            ..Flags::default()
        };
        let err = RunConfig::resolve(flags, env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("flag `--target`") && err.contains("absolute http(s) URL"),
            "{err}"
        );
    }

    #[test]
    fn retention_and_run_id_are_checked() {
        let c = RunConfig::resolve(Flags::default(), env_of(&[])).unwrap();
        assert_eq!((c.keep_runs, c.run_id), (DEFAULT_KEEP_RUNS, None));
        let c = RunConfig::resolve(
            Flags {
                keep_runs: Some("3".into()),
                ..Flags::default()
            },
            env_of(&[
                ("WINDTUNNEL_KEEP_RUNS", "9"),
                ("WINDTUNNEL_RUN_ID", "replay-1"),
            ]),
        )
        .unwrap();
        assert_eq!((c.keep_runs, c.run_id.as_deref()), (3, Some("replay-1")));
        let err = RunConfig::resolve(Flags::default(), env_of(&[("WINDTUNNEL_KEEP_RUNS", "-1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`WINDTUNNEL_KEEP_RUNS`") && err.contains("0 keeps all"),
            "{err}"
        );
        let err = RunConfig::resolve(Flags::default(), env_of(&[("WINDTUNNEL_RUN_ID", "../x")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`WINDTUNNEL_RUN_ID`") && err.contains("directory name"),
            "{err}"
        );
    }

    #[test]
    fn tags_come_from_flags_or_a_comma_list() {
        let c = RunConfig::resolve(
            Flags::default(),
            env_of(&[("WINDTUNNEL_TAGS", "smoke, nightly,")]),
        )
        .unwrap();
        assert_eq!(c.tags, ["smoke", "nightly"]);
        let flags = Flags {
            tags: vec!["a".into()],
            ..Flags::default()
        };
        let c = RunConfig::resolve(flags, env_of(&[("WINDTUNNEL_TAGS", "b")])).unwrap();
        assert_eq!(c.tags, ["a"]);
    }
}
