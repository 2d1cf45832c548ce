//! `windtunnel merge RUN...`: merges the reports of the segments of a run (`--segment i/n` in
//! n processes) into one run directory with report.json, junit.xml and report.html, judged on
//! the merged data. Exits 0 when every scenario passed, 1 when one did not, 2 on bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use windtunnel::report::{self, Outcome, Part};

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
    let merged = report::merge(&parts, &run_id)?;
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
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
