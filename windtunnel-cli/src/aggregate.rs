//! `windtunnel findings`: the findings of many runs in one table. A finding is the same across
//! runs when its scenario, type, severity, rule and subject are; the table says in how many runs
//! it appeared, when first and last, and its latest wording and evidence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use serde::Serialize;
use windtunnel::report::{self, Finding, FindingType, Report, Severity};

/// One finding across runs.
#[derive(Serialize)]
struct Row {
    scenario: String,
    #[serde(rename = "type")]
    kind: FindingType,
    severity: Severity,
    rule: String,
    subject: String,
    /// How many of the runs read had it.
    runs: usize,
    first_seen: String,
    last_seen: String,
    /// The run it was last seen in.
    last_run: String,
    /// Its wording and evidence in that run.
    last: Finding,
}

pub(crate) fn run(dirs: &[PathBuf], json: bool) -> Result<ExitCode> {
    let mut reports = Vec::new();
    for dir in dirs {
        reports.extend(reports_in(dir)?);
    }
    if reports.is_empty() {
        bail!("no runs found in {}", list(dirs));
    }
    // Oldest first, so the last one seen wins.
    reports.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    let mut rows: BTreeMap<(Severity, FindingType, String, String, String), Row> = BTreeMap::new();
    for r in &reports {
        for s in &r.scenarios {
            for f in &s.findings {
                let key = (
                    f.severity,
                    f.kind,
                    s.name.clone(),
                    f.rule.clone(),
                    f.subject.clone(),
                );
                let row = rows.entry(key).or_insert_with(|| Row {
                    scenario: s.name.clone(),
                    kind: f.kind,
                    severity: f.severity,
                    rule: f.rule.clone(),
                    subject: f.subject.clone(),
                    runs: 0,
                    first_seen: r.started_at.clone(),
                    last_seen: String::new(),
                    last_run: String::new(),
                    last: f.clone(),
                });
                row.runs += 1;
                row.last_seen.clone_from(&r.started_at);
                row.last_run.clone_from(&r.run_id);
                row.last = f.clone();
            }
        }
    }
    let rows: Vec<Row> = rows.into_values().collect();
    if json {
        let out = serde_json::json!({ "runs": reports.len(), "findings": rows });
        say!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{} finding(s) in {} run(s), worst first",
        rows.len(),
        reports.len()
    );
    if rows.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{:<9} {:<12} {:<24} {:>5}  {:<19}  {:<19}  finding",
        "severity",
        "type",
        "scenario",
        "runs",
        "first seen",
        "last seen"
    );
    for r in &rows {
        say!(
            "{:<9} {:<12} {:<24} {:>5}  {:<19}  {:<19}  {}",
            r.severity.as_str(),
            r.kind.as_str(),
            r.scenario,
            r.runs,
            r.first_seen.get(..19).unwrap_or(&r.first_seen),
            r.last_seen.get(..19).unwrap_or(&r.last_seen),
            r.last.title
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The reports `dir` names: a report.json, a run directory, or a root with runs under it.
fn reports_in(dir: &Path) -> Result<Vec<Report>> {
    if dir.is_file() {
        return Ok(vec![report::read_report(dir)?]);
    }
    if dir.join("report.json").is_file() {
        return Ok(vec![report::read_report(&dir.join("report.json"))?]);
    }
    if dir.join("runs").is_dir() {
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        for run in report::list_runs(dir)? {
            match run.report {
                Ok(r) => out.push(r),
                // A run still being written, broken, or too old: say so, and use the others.
                Err(e) => skipped.push(e),
            }
        }
        for e in skipped.iter().take(3) {
            eprintln!("warning: skipped a run: {e}");
        }
        if skipped.len() > 3 {
            eprintln!(
                "warning: skipped {} more runs under `{}` (`windtunnel runs` lists them)",
                skipped.len() - 3,
                dir.display()
            );
        }
        return Ok(out);
    }
    if !dir.exists() {
        bail!("`{}` does not exist", dir.display());
    }
    bail!(
        "`{}` is neither a report.json, a run directory nor a report root (with runs/)",
        dir.display()
    )
}

fn list(dirs: &[PathBuf]) -> String {
    let names: Vec<String> = dirs.iter().map(|d| format!("`{}`", d.display())).collect();
    names.join(", ")
}
