//! [`merge`]: the reports of the segments of a run (`--segment i/n` in `n` processes) as the one
//! report a single process would have written.
//!
//! - Histograms merge exactly: each segment's report carries its HDR histograms
//!   ([`ExactMetrics`]), and the merged percentiles are read from their sum.
//! - Counts, statuses, errors, checks and iterations add up.
//! - The series are aligned by wall clock: each segment's load started at a recorded time,
//!   and its points move by its start's distance from the earliest start, to the nearest
//!   second (the series' resolution).
//! - Objectives are judged again, on the merged data; the segments did not judge them.
//! - Reports of different scenarios, seeds, loads or windtunnel versions, duplicated or missing
//!   segments: an error naming the files.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::exact::ExactMetrics;
use super::model::{
    InjectedFault, LoadReport, Outcome, Report, ScenarioReport, Setting, StopInfo, StopReason,
    TurbulenceReport,
};
use crate::metrics::MetricsSnapshot;
use crate::objectives::Objective;
use crate::segment::Segment;

/// A report to merge, and the file it came from (for errors).
#[derive(Clone, Debug)]
pub struct Part {
    /// The report.json it was read from.
    pub path: PathBuf,
    /// The report.
    pub report: Report,
}

/// Why the reports cannot be merged.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
#[non_exhaustive]
pub struct MergeError(String);

fn err<T>(message: impl fmt::Display) -> Result<T, MergeError> {
    Err(MergeError(message.to_string()))
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

/// Merges the reports of the segments of one run into one report, with id `run_id`.
///
/// # Errors
///
/// Fewer than two reports; reports of different windtunnel versions or report schemas, of
/// different scenarios, seeds or loads; a report of a whole load (no segment), a segment twice
/// or one missing; a load without exact metrics (a capacity search, or an older report).
///
/// ```no_run
/// use windtunnel::report::{Part, merge, read_report};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let parts = ["seg-1", "seg-2", "seg-3"]
///     .iter()
///     .map(|dir| {
///         let path = std::path::Path::new(dir).join("report.json");
///         Ok(Part { report: read_report(&path)?, path })
///     })
///     .collect::<Result<Vec<_>, windtunnel::report::ReadError>>()?;
/// let merged = merge(&parts, "merged")?;
/// println!("{} requests", merged.scenarios[0].load.as_ref().map_or(0, |l| l.total.count));
/// # Ok(())
/// # }
/// ```
pub fn merge(parts: &[Part], run_id: &str) -> Result<Report, MergeError> {
    let [first, rest @ ..] = parts else {
        return err("nothing to merge: give the reports of every segment of a run");
    };
    if rest.is_empty() {
        return err(format!(
            "only one report ({}): merge needs the reports of every segment of a run, at \
             least two",
            show(&first.path)
        ));
    }
    for p in rest {
        let (a, b) = (&first.report, &p.report);
        if a.schema_version != b.schema_version || a.tool.version != b.tool.version {
            return err(format!(
                "the reports are of different versions: {} was written by windtunnel {} \
                 (report schema {}), {} by windtunnel {} (schema {}); merge the reports of \
                 segments run by one version",
                show(&first.path),
                a.tool.version,
                a.schema_version,
                show(&p.path),
                b.tool.version,
                b.schema_version
            ));
        }
        let names = |r: &Report| -> Vec<String> {
            let mut n: Vec<String> = r.scenarios.iter().map(|s| s.name.clone()).collect();
            n.sort();
            n
        };
        if names(a) != names(b) {
            let (na, nb) = (names(a), names(b));
            let (name, has, lacks) = match na.iter().find(|n| !nb.contains(n)) {
                Some(n) => (n, &first.path, &p.path),
                None => (
                    nb.iter()
                        .find(|n| !na.contains(n))
                        .expect("the lists differ"),
                    &p.path,
                    &first.path,
                ),
            };
            return err(format!(
                "the reports are of different runs: scenario `{name}` is in {} but not in {}",
                show(has),
                show(lacks)
            ));
        }
    }
    let mut scenarios = Vec::with_capacity(first.report.scenarios.len());
    for s in &first.report.scenarios {
        let of_each: Vec<(&Path, &ScenarioReport)> = parts
            .iter()
            .map(|p| {
                let found = p.report.scenarios.iter().find(|x| x.name == s.name);
                (p.path.as_path(), found.expect("checked above"))
            })
            .collect();
        scenarios.push(merge_scenario(&of_each)?);
    }
    let started_at = parts
        .iter()
        .map(|p| p.report.started_at.as_str())
        .min_by_key(|t| parse_time(t))
        .unwrap_or_default()
        .to_owned();
    let ended_at = parts
        .iter()
        .map(|p| p.report.ended_at.as_deref())
        .collect::<Option<Vec<_>>>()
        .and_then(|ends| ends.into_iter().max_by_key(|t| parse_time(t)))
        .map(str::to_owned);
    Ok(Report {
        schema_version: first.report.schema_version,
        tool: first.report.tool.clone(),
        run_id: run_id.to_owned(),
        started_at,
        ended_at,
        complete: parts.iter().all(|p| p.report.complete),
        scenarios,
    })
}

fn parse_time(t: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
}

/// The segment a load ran, checked.
fn segment_of(path: &Path, s: &ScenarioReport, load: &LoadReport) -> Result<Segment, MergeError> {
    match &load.config.segment {
        None => err(format!(
            "{}: scenario `{}` ran its whole load, not a segment: merge the reports of runs \
             with `--segment i/n`",
            show(path),
            s.name
        )),
        Some(text) => text.parse().map_err(|e| {
            MergeError(format!(
                "{}: scenario `{}`: segment `{text}`: {e}",
                show(path),
                s.name
            ))
        }),
    }
}

fn merge_scenario(parts: &[(&Path, &ScenarioReport)]) -> Result<ScenarioReport, MergeError> {
    let (first_path, first) = parts[0];
    let name = &first.name;
    for (path, s) in &parts[1..] {
        if s.seed != first.seed {
            return err(format!(
                "scenario `{name}` ran with different seeds: {} in {}, {} in {}; every segment \
                 must run with the same seed",
                first.seed,
                show(first_path),
                s.seed,
                show(path)
            ));
        }
    }
    let mut merged = first.clone();
    let loads: Vec<Option<&LoadReport>> = parts.iter().map(|(_, s)| s.load.as_ref()).collect();
    // What failed in each segment besides its load (the body), to keep; the load's own problems
    // are found again on the merged load.
    let mut problems = Vec::new();
    for ((path, s), load) in parts.iter().zip(&loads) {
        let from_load = ScenarioReport::problems_of(None, *load);
        let label = match load.and_then(|l| l.config.segment.as_deref()) {
            Some(seg) => format!("segment {seg}"),
            None => show(path),
        };
        for p in s.problems.iter().filter(|p| !from_load.contains(p)) {
            problems.push(format!("{label}: {p}"));
        }
    }
    merged.load = match loads.iter().flatten().count() {
        0 => None,
        n if n == loads.len() => {
            let with_paths: Vec<(&Path, &ScenarioReport, &LoadReport)> = parts
                .iter()
                .zip(&loads)
                .map(|((p, s), l)| (*p, *s, l.expect("every part has a load")))
                .collect();
            Some(merge_loads(&with_paths)?)
        }
        _ => {
            let (path, _) = parts
                .iter()
                .zip(&loads)
                .find(|(_, l)| l.is_none())
                .map(|(p, _)| *p)
                .expect("one has no load");
            return err(format!(
                "scenario `{name}` ran no load in {} but did in {}",
                show(path),
                show(first_path)
            ));
        }
    };
    problems.extend(ScenarioReport::problems_of(None, merged.load.as_ref()));
    let outcomes: Vec<Outcome> = parts.iter().map(|(_, s)| s.outcome).collect();
    merged.outcome = if outcomes.contains(&Outcome::Interrupted) {
        Outcome::Interrupted
    } else if outcomes.contains(&Outcome::Running) {
        Outcome::Running
    } else if outcomes.iter().all(|o| *o == Outcome::Skipped) {
        Outcome::Skipped
    } else if !problems.is_empty() {
        Outcome::Failed
    } else if outcomes.contains(&Outcome::Inconclusive) {
        // A segment whose generator could not be trusted spoils the whole measurement.
        Outcome::Inconclusive
    } else {
        Outcome::Passed
    };
    merged.problems = problems;
    merged.doubts = parts
        .iter()
        .flat_map(|(path, s)| s.doubts.iter().map(move |d| format!("{}: {d}", show(path))))
        .collect();
    merged.started_at = parts
        .iter()
        .filter_map(|(_, s)| s.started_at.as_deref())
        .min_by_key(|t| parse_time(t))
        .map(str::to_owned);
    merged.ended_at = parts
        .iter()
        .filter_map(|(_, s)| s.ended_at.as_deref())
        .max_by_key(|t| parse_time(t))
        .map(str::to_owned);
    merged.duration_s = parts.iter().map(|(_, s)| s.duration_s).fold(0.0, f64::max);
    // Replaying the merged run is running the whole load in one process, with the same seed:
    // the command of a segment without its `--segment`.
    merged.rerun = first.rerun.as_ref().map(super::Rerun::without_segment);
    merged.replay = match &merged.rerun {
        Some(r) => r.command_line(),
        None => without_segment(&first.replay),
    };
    let count = parts.len();
    merged.settings = first
        .settings
        .iter()
        .map(|s| match s.name.as_str() {
            "segment" => Setting {
                name: "segments".into(),
                value: format!("{count}, merged"),
                source: "windtunnel merge".into(),
            },
            _ => s.clone(),
        })
        .collect();
    merged.findings = super::findings(&merged);
    Ok(merged)
}

/// A command line without its `--segment i/n`.
fn without_segment(command: &str) -> String {
    let mut out = Vec::new();
    let mut words = command.split(' ').peekable();
    while let Some(w) = words.next() {
        if w == "--segment" {
            words.next();
        } else if !w.starts_with("--segment=") {
            out.push(w);
        }
    }
    out.join(" ")
}

fn merge_loads(parts: &[(&Path, &ScenarioReport, &LoadReport)]) -> Result<LoadReport, MergeError> {
    let (first_path, first, first_load) = parts[0];
    let name = &first.name;
    // Every segment, once, of one count, of one load.
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    let mut count = None;
    let mut exact = Vec::with_capacity(parts.len());
    for (path, s, load) in parts {
        let segment = segment_of(path, s, load)?;
        match count {
            None => count = Some(segment.count()),
            Some(n) if n != segment.count() => {
                return err(format!(
                    "scenario `{name}` was cut into {n} segments in {} but into {} in {}",
                    show(first_path),
                    segment.count(),
                    show(path)
                ));
            }
            Some(_) => {}
        }
        if let Some(other) = seen.insert(segment.index(), path) {
            return err(format!(
                "segment {segment} of scenario `{name}` is in {} and in {}: give each \
                 segment's report once",
                show(other),
                show(path)
            ));
        }
        let mut config = load.config.clone();
        config.segment = None;
        let mut whole = first_load.config.clone();
        whole.segment = None;
        if config != whole {
            let field = differing_field(&whole, &config);
            return err(format!(
                "scenario `{name}` ran different loads: `{field}` differs between {} and {}",
                show(first_path),
                show(path)
            ));
        }
        let Some(e) = &load.exact else {
            return err(format!(
                "{}: scenario `{name}` has no exact metrics to merge (a capacity search, or a \
                 report written before windtunnel could merge)",
                show(path)
            ));
        };
        if e.objectives()
            != first_load
                .exact
                .as_ref()
                .map_or(&[][..], |f| f.objectives())
        {
            return err(format!(
                "scenario `{name}` has different objectives in {} and {}",
                show(first_path),
                show(path)
            ));
        }
        exact.push(e);
    }
    let n = count.expect("at least one part");
    if let Some(missing) = (1..=n).find(|i| !seen.contains_key(i)) {
        return err(format!(
            "segment {missing}/{n} of scenario `{name}` is missing: merge the reports of all \
             {n} segments"
        ));
    }
    // Align by wall clock.
    let origin = exact
        .iter()
        .map(|e| e.origin())
        .min()
        .expect("at least one part");
    // How long after the earliest start each segment started.
    let shifts: Vec<Duration> = exact
        .iter()
        .map(|e| e.origin().duration_since(origin).unwrap_or_default())
        .collect();
    let mut merged: Option<MetricsSnapshot> = None;
    let mut elapsed = Duration::ZERO;
    for (((path, _, load), e), &shift) in parts.iter().zip(&exact).zip(&shifts) {
        let snap = e
            .snapshot(load, shift.as_secs_f64().round() as u64)
            .map_err(|x| MergeError(format!("{}: scenario `{name}`: {x}", show(path))))?;
        elapsed = elapsed.max(shift + Duration::from_secs_f64(load.elapsed_s.max(0.0)));
        match &mut merged {
            None => merged = Some(snap),
            Some(m) => m.merge_segment(&snap),
        }
    }
    let snap = merged.expect("at least one part");
    let mut config = first_load.config.clone();
    config.segment = None;
    let objectives = first_load
        .exact
        .as_ref()
        .map(|e| e.objectives().to_vec())
        .unwrap_or_default();
    let mut report = LoadReport::build(
        config,
        stop_of(parts),
        elapsed,
        parts.iter().map(|(_, _, l)| l.cancelled_iterations).sum(),
        &snap,
        Objective::evaluate_all(&objectives, &snap, elapsed),
    );
    report.exact = Some(ExactMetrics::of(origin, &snap, &objectives));
    report.turbulence = merge_turbulence(parts, &shifts)?;
    Ok(report)
}

/// The first top-level key whose value differs between two configurations.
fn differing_field(a: &impl serde::Serialize, b: &impl serde::Serialize) -> String {
    let (a, b) = (serde_json::to_value(a), serde_json::to_value(b));
    if let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (a, b) {
        for (k, v) in &a {
            if b.get(k) != Some(v) {
                return k.clone();
            }
        }
    }
    "the configuration".into()
}

/// Why the merged load stopped: the gravest reason of any segment (an interruption, a
/// timeout, an abort), else the first segment's.
fn stop_of(parts: &[(&Path, &ScenarioReport, &LoadReport)]) -> StopInfo {
    let grave = |r: StopReason| match r {
        StopReason::Interrupted => 4,
        StopReason::TimedOut => 3,
        StopReason::Aborted => 2,
        StopReason::ObjectiveLost => 1,
        StopReason::Duration | StopReason::Iterations => 0,
    };
    let (_, _, load) = parts
        .iter()
        .max_by_key(|(_, _, l)| grave(l.stop.reason))
        .expect("at least one part");
    let mut stop = load.stop.clone();
    if grave(stop.reason) > 0
        && let Some(seg) = &load.config.segment
    {
        let detail = stop.detail.take().unwrap_or_else(|| "no detail".into());
        stop.detail = Some(format!("segment {seg}: {detail}"));
    }
    stop
}

/// The segments' turbulence reports added up: counts summed, faults listed in time order
/// (each segment's moved by `shifts`, its start's distance from the earliest start).
fn merge_turbulence(
    parts: &[(&Path, &ScenarioReport, &LoadReport)],
    shifts: &[Duration],
) -> Result<Option<TurbulenceReport>, MergeError> {
    let reports: Vec<(Duration, &TurbulenceReport)> = parts
        .iter()
        .zip(shifts)
        .filter_map(|((_, _, l), &shift)| l.turbulence.as_ref().map(|t| (shift, t)))
        .collect();
    let Some((_, first)) = reports.first() else {
        return Ok(None);
    };
    if reports.len() != parts.len() {
        return err(format!(
            "scenario `{}` had turbulence in some segments but not in others",
            parts[0].1.name
        ));
    }
    let mut merged = (*first).clone();
    // The segments' tapes are files beside their reports: `windtunnel merge` joins them.
    merged.tape = None;
    merged.faults.clear();
    merged.faults_not_listed = 0;
    for (i, (_, t)) in reports.iter().enumerate().skip(1) {
        if t.phases.len() != merged.phases.len() {
            return err(format!(
                "scenario `{}` had different turbulence in {} and {}",
                parts[0].1.name,
                show(parts[0].0),
                show(parts[i].0)
            ));
        }
        merged.injected_failures += t.injected_failures;
        merged.sut_failures += t.sut_failures;
        for w in &t.warnings {
            if !merged.warnings.contains(w) {
                merged.warnings.push(w.clone());
            }
        }
        for (mine, theirs) in merged.phases.iter_mut().zip(&t.phases) {
            mine.requests += theirs.requests;
            mine.failed += theirs.failed;
            mine.injected_failures += theirs.injected_failures;
            mine.sut_failures += theirs.sut_failures;
            for (a, b) in mine.rules.iter_mut().zip(&theirs.rules) {
                a.matched += b.matched;
                a.injected += b.injected;
            }
            for (a, b) in mine.toxics.iter_mut().zip(&theirs.toxics) {
                a.applied += b.applied;
            }
        }
    }
    let mut faults: Vec<InjectedFault> = Vec::new();
    for (shift, t) in &reports {
        merged.faults_not_listed += t.faults_not_listed;
        faults.extend(t.faults.iter().map(|f| InjectedFault {
            at_s: f.at_s + shift.as_secs_f64(),
            ..f.clone()
        }));
    }
    faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let cap = super::MAX_LISTED_FAULTS;
    if faults.len() > cap {
        merged.faults_not_listed += (faults.len() - cap) as u64;
        faults.truncate(cap);
    }
    merged.faults = faults;
    Ok(Some(merged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Outcome as Recorded, Recorder, RecorderSettings, StepKind, StepOutcome};
    use crate::objectives::error_rate;
    use crate::report::model::SCHEMA_VERSION;
    use std::time::SystemTime;

    /// Segment `seg` of a load that started `origin_s` after the epoch, with one request of
    /// `ms` milliseconds in each of the given seconds.
    fn part(seg: &str, origin_s: u64, seconds: &[(u64, u64)]) -> Part {
        let start = tokio::time::Instant::now();
        let recorder = Recorder::with(RecorderSettings::new(start));
        for &(second, ms) in seconds {
            recorder.record_marked(
                "list",
                Duration::from_millis(ms),
                Duration::ZERO,
                start + Duration::from_secs(second),
                Recorded::Ok,
                false,
            );
            // A wait of the same length, polled `ms / 10` times.
            recorder.wait(
                "shipped",
                Duration::from_millis(ms),
                Duration::ZERO,
                Recorded::Ok,
            );
            recorder.step(
                "shipped",
                &StepOutcome {
                    kind: StepKind::Wait,
                    attempts: ms / 10,
                    gave_up: None,
                },
            );
        }
        let snap = recorder.snapshot();
        let objectives = vec![(error_rate().below(0.1), None)];
        let mut s = crate::report::fixture::scenario();
        let mut load = s.load.take().unwrap();
        load.config.segment = Some(seg.into());
        load.turbulence = None;
        let mut load = LoadReport::build(
            load.config,
            load.stop,
            Duration::from_secs(5),
            0,
            &snap,
            Objective::evaluate_all(&objectives, &snap, Duration::from_secs(5)),
        );
        let origin = SystemTime::UNIX_EPOCH + Duration::from_secs(origin_s);
        load.exact = Some(ExactMetrics::of(origin, &snap, &objectives));
        s.load = Some(load);
        s.problems.clear();
        s.outcome = Outcome::Passed;
        Part {
            path: PathBuf::from(format!("seg-{seg}.json").replace('/', "of")),
            report: Report {
                schema_version: SCHEMA_VERSION,
                tool: super::super::ToolInfo {
                    name: "windtunnel".into(),
                    version: "0.1.0".into(),
                },
                run_id: seg.into(),
                started_at: "2026-11-21T10:00:00Z".into(),
                ended_at: Some("2026-11-21T10:00:07.5Z".into()),
                complete: true,
                scenarios: vec![s],
            },
        }
    }

    #[test]
    fn series_align_by_wall_clock_and_histograms_add_up() {
        // Segment 2 started 2 s after segment 1: its second 0 is the merged second 2.
        let merged = merge(
            &[
                part("1/2", 1_000, &[(0, 10), (3, 20)]),
                part("2/2", 1_002, &[(0, 30), (1, 40)]),
            ],
            "merged",
        )
        .unwrap();
        let load = merged.scenarios[0].load.as_ref().unwrap();
        let per_second: Vec<(f64, u64)> = load
            .series
            .points
            .iter()
            .map(|p| (p.t_s, p.requests))
            .collect();
        assert_eq!(per_second, [(0.0, 1), (2.0, 1), (3.0, 2)]);
        assert_eq!(load.total.count, 4);
        // 40 ms, to the histogram's 3 significant digits.
        assert!((load.total.latency_ms.max - 40.0).abs() < 0.05);
        // The later segment ends 2 s later: the merged load lasts 7 s.
        assert_eq!(load.elapsed_s, 7.0);
        assert!(load.objectives[0].passed);
        assert_eq!(merged.ended_at.as_deref(), Some("2026-11-21T10:00:07.5Z"));
        // Waits and their steps add up too, apart from the requests.
        let wait = &load.steps[0];
        assert_eq!((wait.runs, wait.attempts, wait.max_attempts), (4, 10, 4));
        let op = wait.operation.as_ref().unwrap();
        assert_eq!(op.count, 4);
        assert!((op.latency_ms.max - 40.0).abs() < 0.05);
    }

    #[test]
    fn the_merged_replay_runs_the_whole_load() {
        assert_eq!(
            without_segment("cargo test --test load -- --exact x --seed 7 --segment 2/3"),
            "cargo test --test load -- --exact x --seed 7"
        );
        assert_eq!(
            without_segment("windtunnel run p.toml --segment=1/2 --users 4"),
            "windtunnel run p.toml --users 4"
        );
    }
}
