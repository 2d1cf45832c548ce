//! Where a setting's value came from: windtunnel's default, the code, a settings file's key,
//! an environment variable or a flag. Every value read from outside the code carries its
//! [`Source`], so an error names what to fix and the report names where each setting came from.

use std::fmt;
use std::sync::Arc;

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// windtunnel's default.
    Default,
    /// The scenario's code (or a plan's file, for `windtunnel run`).
    Code,
    /// A key of the settings file.
    File {
        /// The file, as named.
        file: Arc<str>,
        /// The key path in it.
        key: String,
    },
    /// A `WINDTUNNEL_*` environment variable.
    Env(&'static str),
    /// A flag after `--`.
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::Code => f.write_str("code"),
            Source::File { file, key } => write!(f, "`{key}` in {file}"),
            Source::Env(var) => write!(f, "environment variable `{var}`"),
            Source::Flag(flag) => write!(f, "flag `{flag}`"),
        }
    }
}

impl Source {
    /// The short form the report and `--check-config` show: `flag --users`,
    /// `env WINDTUNNEL_USERS`, `windtunnel.toml scenarios.browse.users`, `code`, `default`.
    pub(crate) fn short(&self) -> String {
        match self {
            Source::Default => "default".into(),
            Source::Code => "code".into(),
            Source::File { file, key } => format!("{file} {key}"),
            Source::Env(var) => format!("env {var}"),
            Source::Flag(flag) => format!("flag {flag}"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Set<T> {
    pub(crate) value: T,
    pub(crate) source: Source,
}

impl<T: Clone> Set<T> {
    /// Replaces `into` with `over` when `over` is set: the later layer wins.
    pub(crate) fn overlay(into: &mut Option<Set<T>>, over: &Option<Set<T>>) {
        if over.is_some() {
            into.clone_from(over);
        }
    }
}
