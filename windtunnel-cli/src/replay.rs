//! `windtunnel replay RUN`: runs each scenario again (the same test binary, `--exact` name,
//! seed, target and turbulence flags), with the new run's reports under the same root and a run
//! id of its own, then says where the new run differs from the stored one: outcome, objectives,
//! per request name the count, failures and error kinds, and the faults.
//!
//! A scenario with a fault tape is replayed from it (`--tape`): the faults fire on the requests
//! and connections the tape names, whatever the clock says, and the replay's own tape is
//! compared with it decision by decision. It matches only when every taped fault fired again and
//! no other did. A report without a tape (from an older windtunnel) is replayed from its seed,
//! and the faults are then not compared: the replay says so (as for a merged run whose segments
//! did not all keep their tapes).
//!
//! A report is untrusted input: the command is rebuilt from the report's checked `rerun`
//! fields and started without a shell; the `replay` text is never run; a tape is read only from
//! the run's own `tapes/` directory, and only if its hash is the one the report names.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use windtunnel::report::{self, Outcome, Program, Report, ScenarioReport};
use windtunnel::turbulence::Tape;

use crate::tapes::{tape_path, tape_ref, taped};

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
    // Check every scenario's command and tape before running any.
    let mut commands = Vec::with_capacity(chosen.len());
    for s in &chosen {
        let (mut shown, mut command) = command(path, s)?;
        let tape = taped(path, s)?;
        if let Some((file, _)) = &tape {
            command.arg("--tape").arg(file);
            shown = format!("{shown} --tape {}", file.display());
        }
        commands.push((shown, command, tape));
    }
    let mut differs = false;
    for (i, (s, (shown, mut command, tape))) in chosen.iter().zip(commands).enumerate() {
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
        let mut diffs = differences(s, again);
        let faults = match &tape {
            Some((_, tape)) => Some(compare_tapes(tape, &new_path, again)?),
            None => None,
        };
        if let Some((line, same)) = &faults {
            if !same {
                diffs.push(line.clone());
            }
        } else if has_turbulence(s) {
            say!(
                "{}: the report has no fault tape (it is from an older windtunnel, or merged \
                 from segments not all with theirs): replayed from seed {}, and its faults are \
                 not compared",
                s.name,
                s.seed
            );
        }
        if let Some((line, true)) = &faults {
            say!("{}: {line}", s.name);
        }
        // What was replayed: the seed, and the tape by its hash.
        let replayed = match &tape {
            // The report's hash, which `taped` checked the tape against.
            Some(_) => {
                let sha = tape_ref(s).map_or("", |t| t.sha256.as_str());
                format!(
                    "seed {}, fault tape {}…",
                    s.seed,
                    sha.get(..16).unwrap_or(sha)
                )
            }
            None => format!("seed {}", s.seed),
        };
        if diffs.is_empty() {
            say!("{}: the replay matches ({replayed})", s.name);
        } else {
            differs = true;
            say!("{}: the replay differs ({replayed}):", s.name);
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

fn has_turbulence(s: &ScenarioReport) -> bool {
    s.load.as_ref().is_some_and(|l| l.turbulence.is_some())
}

/// The replay's tape against the original's: a line that says how they compare, and whether
/// they hold the same decisions.
fn compare_tapes(original: &Tape, report: &Path, again: &ScenarioReport) -> Result<(String, bool)> {
    let Some(file) = tape_ref(again).map(|t| t.file.as_str()) else {
        return Ok((
            format!(
                "faults: the replay wrote no fault tape, so none of the {} taped faults can be \
                 shown to have fired again",
                original.len()
            ),
            false,
        ));
    };
    let replayed = Tape::read(&tape_path(report, again, file)?)?;
    let d = original.diff(&replayed);
    let line = if d.matches() {
        format!(
            "the faults match: all {} taped faults fired again, and no other",
            d.refired
        )
    } else {
        format!(
            "faults: {} of {} taped faults fired again, {} went missing, {} were new",
            d.refired,
            original.len(),
            d.missing,
            d.new
        )
    };
    Ok((line, d.matches()))
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
