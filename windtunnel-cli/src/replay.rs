//! `windtunnel replay RUN`: runs each scenario again (the same test binary, `--exact` name,
//! seed, target and turbulence flags), with the new run's reports under the same root and a run
//! id of its own, then says where the new run differs from the stored one: outcome, objectives,
//! and per request name the count, failures and p99.
//!
//! A report is untrusted input: the command is rebuilt from the report's checked `rerun`
//! fields and started without a shell; the `replay` text is never run.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use windtunnel::report::{self, Outcome, Program, Report, ScenarioReport};

pub(crate) fn run(
    root: &Path,
    path: &Path,
    stored: &Report,
    only: &[String],
    dry_run: bool,
) -> Result<ExitCode> {
    for name in only {
        if !stored.scenarios.iter().any(|s| &s.name == name) {
            let names: Vec<&str> = stored.scenarios.iter().map(|s| s.name.as_str()).collect();
            bail!(
                "`{}` has no scenario `{name}` (it has: {})",
                path.display(),
                names.join(", ")
            );
        }
    }
    let chosen: Vec<&ScenarioReport> = stored
        .scenarios
        .iter()
        .filter(|s| only.is_empty() || only.contains(&s.name))
        .filter(|s| s.outcome != Outcome::Skipped)
        .collect();
    if chosen.is_empty() {
        bail!("`{}` has no scenario that ran", path.display());
    }
    // The run id names a directory: one from a report is held to the rule the harness holds
    // the environment's to.
    if !report::is_valid_run_id(&stored.run_id) {
        bail!(
            "`{}` has the run id `{}`, which is not a directory name (letters, digits, `-`, `_` \
             and `.`): it was not written by windtunnel",
            path.display(),
            stored.run_id.escape_default()
        );
    }
    // Check every scenario's command before running any.
    let mut commands = Vec::with_capacity(chosen.len());
    for s in &chosen {
        commands.push(command(path, s)?);
    }
    let mut differs = false;
    for (i, (s, (shown, mut command))) in chosen.iter().zip(commands).enumerate() {
        say!("$ {shown}");
        if dry_run {
            continue;
        }
        let run_id = format!("{}-replay-{}-{i}", stored.run_id, std::process::id());
        let status = command
            .env("WINDTUNNEL_OUT", root)
            .env("WINDTUNNEL_RUN_ID", &run_id)
            .env_remove("NEXTEST_RUN_ID")
            .status()
            .with_context(|| format!("cannot run `{shown}`"))?;
        let new_path = root.join("runs").join(&run_id).join("report.json");
        let new = report::read_report(&new_path).with_context(|| {
            format!(
                "the replay (exit status {status}) wrote no readable report; run it from the \
                 directory the original ran in (the workspace root)"
            )
        })?;
        let Some(again) = new.scenarios.iter().find(|n| n.name == s.name) else {
            bail!(
                "the replay's report `{}` has no scenario `{}`",
                new_path.display(),
                s.name
            );
        };
        let diffs = differences(s, again);
        if diffs.is_empty() {
            say!("{}: the replay matches (seed {})", s.name, s.seed);
        } else {
            differs = true;
            say!("{}: the replay differs (seed {}):", s.name, s.seed);
            for d in diffs {
                say!("  {d}");
            }
        }
        say!("  new run: {}", new_path.display());
    }
    Ok(if differs {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The command that runs `s` again, shown and ready to start, built from its checked fields.
fn command(path: &Path, s: &ScenarioReport) -> Result<(String, Command)> {
    let Some(rerun) = &s.rerun else {
        bail!(
            "`{}`: scenario `{}` has no checked replay fields (`rerun`): the report is from an \
             older windtunnel or was edited, and windtunnel runs no command text from a report. \
             Its replay text, to read and run yourself if you trust it: {}",
            path.display(),
            s.name.escape_default(),
            s.replay.escape_default()
        );
    };
    let (program, args) = rerun.argv().with_context(|| {
        format!(
            "`{}`: scenario `{}`",
            path.display(),
            s.name.escape_default()
        )
    })?;
    let mut command = match program {
        Program::Cargo => Command::new("cargo"),
        // A plan's replay runs this very `windtunnel`, whether or not one is on the PATH.
        Program::Windtunnel => {
            Command::new(std::env::current_exe().context("cannot find this windtunnel's own path")?)
        }
        Program::Binary(binary) => Command::new(trusted_binary(path, &binary, &s.binary)?),
        _ => bail!(
            "`{}`: a replay runner this windtunnel does not know",
            path.display()
        ),
    };
    command.args(args);
    Ok((rerun.command_line(), command))
}

/// A test binary from a report runs only if it is what a run writes: an existing file named
/// after the report's test target, inside a cargo target directory (`target/` or
/// `CARGO_TARGET_DIR`).
fn trusted_binary(report: &Path, binary: &str, target: &str) -> Result<std::path::PathBuf> {
    let refuse = |why: &str| {
        anyhow::anyhow!(
            "`{}`: the replay's test binary `{}` {why}; run the scenario yourself with \
             `cargo test`",
            report.display(),
            binary.escape_default()
        )
    };
    let path = Path::new(binary)
        .canonicalize()
        .map_err(|_| refuse("does not exist"))?;
    if !path.is_file() {
        return Err(refuse("is not a file"));
    }
    let named_after_target = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        !target.is_empty()
            && (n == target
                || n.strip_prefix(target).is_some_and(|rest| {
                    rest.strip_prefix('-')
                        .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
                }))
    });
    if !named_after_target {
        return Err(refuse(&format!(
            "is not named after the report's test target `{}`",
            target.escape_default()
        )));
    }
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").and_then(|d| Path::new(&d).canonicalize().ok());
    let in_target_dir = path
        .ancestors()
        .skip(1)
        .any(|a| a.file_name().is_some_and(|n| n == "target") || target_dir.as_deref() == Some(a));
    if !in_target_dir {
        return Err(refuse("is not inside a cargo target directory"));
    }
    Ok(path)
}

/// What changed between two runs of one scenario, one line each. Counts differ between runs of
/// a timed load by nature, so they are listed only when one side has none; outcome, objectives,
/// failed requests and error kinds are compared exactly.
fn differences(old: &ScenarioReport, new: &ScenarioReport) -> Vec<String> {
    let mut out = Vec::new();
    if old.outcome != new.outcome {
        out.push(format!("outcome: {:?} → {:?}", old.outcome, new.outcome));
    }
    if old.seed != new.seed {
        out.push(format!("seed: {} → {}", old.seed, new.seed));
    }
    let (Some(a), Some(b)) = (&old.load, &new.load) else {
        if old.load.is_some() != new.load.is_some() {
            out.push("one run measured a load, the other did not".into());
        }
        return out;
    };
    for o in &a.objectives {
        match b.objectives.iter().find(|n| n.objective == o.objective) {
            Some(n) if n.passed != o.passed => out.push(format!(
                "objective {}: {} → {} (actual {} → {})",
                o.objective,
                verdict(o.passed),
                verdict(n.passed),
                actual(o.actual),
                actual(n.actual)
            )),
            Some(_) => {}
            None => out.push(format!("objective {}: not in the replay", o.objective)),
        }
    }
    for r in &a.requests {
        let Some(n) = b.requests.iter().find(|n| n.name == r.name) else {
            out.push(format!("request {}: none in the replay", r.name));
            continue;
        };
        if (r.failed == 0) != (n.failed == 0) {
            out.push(format!(
                "request {}: {} of {} failed → {} of {}",
                r.name, r.failed, r.count, n.failed, n.count
            ));
        }
        let kinds = |r: &windtunnel::report::RequestReport| -> Vec<String> {
            r.errors.iter().map(|e| e.kind.clone()).collect()
        };
        if kinds(r) != kinds(n) {
            out.push(format!(
                "request {}: error kinds {:?} → {:?}",
                r.name,
                kinds(r),
                kinds(n)
            ));
        }
    }
    for n in &b.requests {
        if !a.requests.iter().any(|r| r.name == n.name) {
            out.push(format!("request {}: only in the replay", n.name));
        }
    }
    out
}

fn verdict(passed: bool) -> &'static str {
    if passed { "held" } else { "failed" }
}

fn actual(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.3}"))
}
