//! [`Rerun`]: how to run a scenario again, as structured fields, never as a command line. A
//! report travels as a CI artifact and may have been written by anyone, so `windtunnel replay`
//! rebuilds the command from these fields after [`Rerun::argv`] has checked each of them, and
//! runs it without a shell. The text `replay` of a report is only for people to read.

use serde::{Deserialize, Serialize};

/// The flags a replay may repeat: those that decide what a scenario ran with.
pub const REPLAY_FLAGS: &[&str] = &[
    "--config",
    "--target",
    "--turbulence",
    "--users",
    "--rate",
    "--duration",
    "--ramp-up",
    "--iterations",
    "--segment",
];

/// What runs the scenario again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Runner {
    /// `cargo test -p PACKAGE --test TARGET -- ...`: a test target of a cargo package.
    CargoTest {
        /// The package.
        package: String,
        /// The test target (`load` for `tests/load.rs`).
        target: String,
    },
    /// The test binary itself, run directly.
    Binary {
        /// Its path, as it ran.
        path: String,
    },
    /// `windtunnel run PLAN ...`: a declarative plan.
    Plan {
        /// The plan file, as it was given.
        path: String,
    },
}

/// How to run one scenario again with the same seed and settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Rerun {
    /// What runs it.
    pub runner: Runner,
    /// The scenario's name (`--exact`); for a plan, the plan's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Whether it is ignored unless asked for (`--include-ignored`).
    #[serde(default)]
    pub include_ignored: bool,
    /// Flags from [`REPLAY_FLAGS`], each followed by its value.
    #[serde(default)]
    pub flags: Vec<String>,
}

/// The program a [`Rerun`] starts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Program {
    /// `cargo`.
    Cargo,
    /// `windtunnel` (the CLI runs itself).
    Windtunnel,
    /// A test binary at this path (the caller decides whether it trusts the path).
    Binary(String),
}

/// A field of a [`Rerun`] that cannot be run as it is.
#[derive(Debug, thiserror::Error)]
#[error("the report's replay field `{field}` cannot be run: {reason}")]
#[non_exhaustive]
pub struct RerunError {
    /// The field, like `rerun.flags[2]`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

fn refuse(field: impl Into<String>, reason: impl Into<String>) -> RerunError {
    RerunError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A cargo package or target name: letters, digits, `-` and `_`, not starting with `-`.
fn is_cargo_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// Text that is one plain argument: no control character, not empty.
fn check_text(field: &str, s: &str) -> Result<(), RerunError> {
    if s.is_empty() {
        return Err(refuse(field, "it is empty"));
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(refuse(
            field,
            format!("it holds the control character {}", c.escape_default()),
        ));
    }
    Ok(())
}

impl Rerun {
    /// The program and its arguments, after checking every field: cargo names are names, the
    /// scenario name is a name that cannot pass for a flag, and the flags are windtunnel's own
    /// ([`REPLAY_FLAGS`]), each with a value.
    ///
    /// # Errors
    ///
    /// A [`RerunError`] naming the first field that is not what a run of windtunnel writes.
    pub fn argv(&self) -> Result<(Program, Vec<String>), RerunError> {
        check_text("rerun.scenario", &self.scenario)?;
        if self.scenario.starts_with('-') {
            return Err(refuse(
                "rerun.scenario",
                "a scenario name cannot start with `-`",
            ));
        }
        if !self.flags.len().is_multiple_of(2) {
            return Err(refuse("rerun.flags", "every flag needs a value"));
        }
        for (i, pair) in self.flags.chunks(2).enumerate() {
            if !REPLAY_FLAGS.contains(&pair[0].as_str()) {
                return Err(refuse(
                    format!("rerun.flags[{}]", 2 * i),
                    format!(
                        "`{}` is not a flag a replay repeats (those are: {})",
                        pair[0].escape_default(),
                        REPLAY_FLAGS.join(", ")
                    ),
                ));
            }
            check_text(&format!("rerun.flags[{}]", 2 * i + 1), &pair[1])?;
        }
        let seed = self.seed.to_string();
        let exact = || {
            let mut args = vec![
                "--exact".to_owned(),
                self.scenario.clone(),
                "--seed".into(),
                seed.clone(),
            ];
            if self.include_ignored {
                args.push("--include-ignored".into());
            }
            args.extend(self.flags.iter().cloned());
            args
        };
        match &self.runner {
            Runner::CargoTest { package, target } => {
                for (field, name) in [
                    ("rerun.runner.package", package),
                    ("rerun.runner.target", target),
                ] {
                    if !is_cargo_name(name) {
                        return Err(refuse(
                            field,
                            "expected a cargo name: letters, digits, `-` and `_`",
                        ));
                    }
                }
                let mut args = vec![
                    "test".to_owned(),
                    "-p".into(),
                    package.clone(),
                    "--test".into(),
                    target.clone(),
                    "--".into(),
                ];
                args.extend(exact());
                Ok((Program::Cargo, args))
            }
            Runner::Binary { path } => {
                check_text("rerun.runner.path", path)?;
                Ok((Program::Binary(path.clone()), exact()))
            }
            Runner::Plan { path } => {
                check_text("rerun.runner.path", path)?;
                if path.starts_with('-') {
                    return Err(refuse(
                        "rerun.runner.path",
                        "a plan path cannot start with `-`",
                    ));
                }
                let mut args = vec!["run".to_owned(), path.clone(), "--seed".into(), seed];
                args.extend(self.flags.iter().cloned());
                Ok((Program::Windtunnel, args))
            }
        }
    }

    /// The command as a person would type it in a POSIX shell, every argument quoted as
    /// needed: what a report's `replay` field holds.
    pub fn command_line(&self) -> String {
        let mut words = match &self.runner {
            Runner::CargoTest { package, target } => vec![
                "cargo".to_owned(),
                "test".into(),
                "-p".into(),
                shell_quote(package),
                "--test".into(),
                shell_quote(target),
                "--".into(),
            ],
            Runner::Binary { path } => vec![shell_quote(path)],
            Runner::Plan { path } => {
                let mut w = vec!["windtunnel".to_owned(), "run".into(), shell_quote(path)];
                w.extend(["--seed".into(), self.seed.to_string()]);
                w.extend(self.flags.iter().map(|f| shell_quote(f)));
                return w.join(" ");
            }
        };
        words.extend([
            "--exact".into(),
            shell_quote(&self.scenario),
            "--seed".into(),
            self.seed.to_string(),
        ]);
        if self.include_ignored {
            words.push("--include-ignored".into());
        }
        words.extend(self.flags.iter().map(|f| shell_quote(f)));
        words.join(" ")
    }

    /// The same run of the whole load: without `--segment` (how a merged run replays).
    pub fn without_segment(&self) -> Rerun {
        let mut out = self.clone();
        out.flags = self
            .flags
            .chunks(2)
            .filter(|pair| pair[0] != "--segment")
            .flatten()
            .cloned()
            .collect();
        out
    }
}

/// `s` as one word of a POSIX shell command.
pub(crate) fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Whether `id` can name a run's directory: letters, digits, `-`, `_` and `.` (not first), at
/// most 100 characters. Run ids from the environment and from reports are both held to it.
pub fn is_valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_rerun() -> Rerun {
        Rerun {
            runner: Runner::CargoTest {
                package: "shop".into(),
                target: "load".into(),
            },
            scenario: "checkout".into(),
            seed: 7,
            include_ignored: false,
            flags: vec!["--turbulence".into(), "errors: abort=500 p=1".into()],
        }
    }

    #[test]
    fn the_command_is_built_from_checked_fields() {
        let r = test_rerun();
        let (program, args) = r.argv().unwrap();
        assert_eq!(program, Program::Cargo);
        assert_eq!(
            args,
            [
                "test",
                "-p",
                "shop",
                "--test",
                "load",
                "--",
                "--exact",
                "checkout",
                "--seed",
                "7",
                "--turbulence",
                "errors: abort=500 p=1"
            ]
        );
        assert_eq!(
            r.command_line(),
            "cargo test -p shop --test load -- --exact checkout --seed 7 --turbulence \
             'errors: abort=500 p=1'"
        );
    }

    #[test]
    fn hostile_fields_are_refused() {
        let mut r = test_rerun();
        r.runner = Runner::CargoTest {
            package: "shop; touch x".into(),
            target: "load".into(),
        };
        assert!(
            r.argv()
                .unwrap_err()
                .to_string()
                .contains("rerun.runner.package")
        );
        let mut r = test_rerun();
        r.flags = vec!["--exec".into(), "touch x".into()];
        let e = r.argv().unwrap_err().to_string();
        assert!(e.contains("rerun.flags[0]") && e.contains("--exec"), "{e}");
        let mut r = test_rerun();
        r.flags = vec!["--target".into()];
        assert!(r.argv().is_err());
        let mut r = test_rerun();
        r.scenario = "--list".into();
        assert!(r.argv().is_err());
        let mut r = test_rerun();
        r.scenario = "a\nb".into();
        assert!(r.argv().is_err());
    }

    #[test]
    fn a_merged_run_replays_without_its_segment() {
        let mut r = test_rerun();
        r.flags = vec![
            "--segment".into(),
            "2/3".into(),
            "--users".into(),
            "4".into(),
        ];
        assert_eq!(r.without_segment().flags, ["--users", "4"]);
    }

    #[test]
    fn run_ids_are_directory_names() {
        assert!(is_valid_run_id("20260101T000000Z-42"));
        for bad in ["", "../x", ".hidden", "a/b", "a b", &"x".repeat(101)] {
            assert!(!is_valid_run_id(bad), "{bad}");
        }
    }

    #[test]
    fn quoting_is_for_a_posix_shell() {
        assert_eq!(shell_quote("shop::checkout"), "shop::checkout");
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
        assert_eq!(shell_quote(""), "''");
    }
}
