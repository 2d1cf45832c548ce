//! `windtunnel merge RUN...`: merges the reports of the segments of a run (`--segment i/n` in
//! n processes) into one run directory with report.json, junit.xml and report.html, judged on
//! the merged data. Exits 0 when every scenario passed, 1 when one did not, 2 on bad input.
//!
//! The segments' fault tapes (each beside its report, checked against the hash it names) are
//! joined into the merged run's `tapes/`: the decisions of the whole run, by their place in the
//! whole load, which `windtunnel replay` of the merged run injects again.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use windtunnel::report::{self, Outcome, Part, Report};
use windtunnel::turbulence::Tape;

use crate::tapes::{Found, find, tape_ref};

pub(crate) fn run(root: &Path, runs: &[String], out: Option<PathBuf>) -> Result<ExitCode> {
    let mut parts = Vec::with_capacity(runs.len());
    for run in runs {
        let (path, report) = crate::load(root, run)?;
        parts.push(Part { path, report });
    }
    let out = out.unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // A run of the report root, so that `runs`, `report` and `compare` find it by id.
        root.join("runs").join(format!("merged-{stamp}"))
    });
    let run_id = out
        .file_name()
        .map_or_else(|| "merged".to_owned(), |n| n.to_string_lossy().into_owned());
    let mut merged = report::merge(&parts, &run_id)?;
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    join_tapes(&parts, &mut merged, &out)?;
    let json = serde_json::to_vec_pretty(&merged)?;
    report::write_atomically(&out.join("report.json"), &json)?;
    let xml = report::to_junit_xml(&merged).context("cannot write the JUnit XML")?;
    report::write_atomically(&out.join("junit.xml"), &xml)?;
    report::write_atomically(
        &out.join("report.html"),
        report::to_html(&merged).as_bytes(),
    )?;
    say!("merged {} reports into {}", parts.len(), out.display());
    let mut all_passed = true;
    for s in &merged.scenarios {
        let summary = match &s.load {
            Some(l) => format!(
                ", {} requests, {} failed, p99 {:.1} ms",
                l.total.count, l.total.failed, l.total.latency_ms.p99
            ),
            None => String::new(),
        };
        say!("{} ... {}{summary}", s.name, s.outcome.as_str());
        for p in &s.problems {
            say!("  {p}");
        }
        all_passed &= matches!(s.outcome, Outcome::Passed | Outcome::Skipped);
    }
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Joins each scenario's segment tapes into one in `out`'s `tapes/`, and names it in the merged
/// report; a scenario one of whose segments has no tape gets none, and says so.
fn join_tapes(parts: &[Part], merged: &mut Report, out: &Path) -> Result<()> {
    for s in &mut merged.scenarios {
        let Some(turbulence) = s.load.as_mut().and_then(|l| l.turbulence.as_mut()) else {
            continue;
        };
        let mut tapes = Vec::with_capacity(parts.len());
        // The first segment's reference to its tape, made the whole's below.
        let mut first = None;
        let mut every_segment = true;
        for part in parts {
            let Some(segment) = part
                .report
                .scenarios
                .iter()
                .find(|x| x.name == s.name && x.binary == s.binary)
            else {
                continue;
            };
            let absent = match find(&part.path, segment)? {
                Found::Tape(_, tape) => {
                    if first.is_none() {
                        first = tape_ref(segment).cloned();
                    }
                    tapes.push(tape);
                    continue;
                }
                Found::None => "has no fault tape".to_owned(),
                Found::Absent(path) => format!(
                    "names the fault tape {}, which is not there",
                    path.display()
                ),
            };
            say!(
                "{}: {} {absent}, so the merged run has none (its replay draws from the seed, \
                 and does not compare faults)",
                s.name,
                part.path.display()
            );
            every_segment = false;
            break;
        }
        let Some(mut tape_ref) = first.filter(|_| every_segment) else {
            continue;
        };
        let whole = Tape::union(tapes).map_err(|e| {
            anyhow!(
                "scenario `{}`: cannot join its segments' fault tapes: {e}",
                s.name.escape_default()
            )
        })?;
        let bytes = whole.to_bytes();
        let path = out.join(&tape_ref.file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        report::write_atomically(&path, &bytes)?;
        tape_ref.sha256 = whole.sha256();
        tape_ref.requests = whole.requests.len() as u64;
        tape_ref.connections = (whole.connections.len() + whole.exchanges.len()) as u64;
        tape_ref.complete = whole.complete;
        turbulence.tape = Some(tape_ref);
    }
    Ok(())
}
