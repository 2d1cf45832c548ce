//! `windtunnel replay RUN`: runs the recorded replay command of each scenario (the same test
//! binary, `--exact` name, seed, target and turbulence flags), with the new run's reports under
//! the same root and a run id of its own, then says where the new run differs from the stored
//! one: outcome, objectives, and per request name the count, failures and p99.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use windtunnel::report::{self, Outcome, Report, ScenarioReport};

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
    let mut differs = false;
    for (i, s) in chosen.iter().enumerate() {
        say!("$ {}", s.replay);
        if dry_run {
            continue;
        }
        let run_id = format!("{}-replay-{}-{i}", stored.run_id, std::process::id());
        // A plan's replay runs this very `windtunnel`, whether or not one is on the PATH.
        let command = match (
            s.replay.strip_prefix("windtunnel run "),
            std::env::current_exe(),
        ) {
            (Some(rest), Ok(exe)) => format!(
                "'{}' run {rest}",
                exe.to_string_lossy().replace('\'', r"'\''")
            ),
            _ => s.replay.clone(),
        };
        let status = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("WINDTUNNEL_OUT", root)
            .env("WINDTUNNEL_RUN_ID", &run_id)
            .env_remove("NEXTEST_RUN_ID")
            .status()
            .with_context(|| format!("cannot run `{}`", s.replay))?;
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
