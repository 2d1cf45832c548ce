//! Where reports go, and how they get there without loss: each scenario's report is written as
//! soon as it is known (a `running` placeholder first), and the combined `report.json` and
//! `junit.xml` are rebuilt from those files under a lock, written to a temporary file and renamed
//! into place. So an interrupted or crashed run still leaves a valid report that says it is not
//! complete, and concurrent nextest processes of one run merge into one report.
//!
//! Layout under the root (`WINDTUNNEL_OUT`, else `<target dir>/windtunnel`):
//! `runs/<run id>/{report.json, junit.xml, report.html, report.md, load-performance.json,
//! scenarios/*.json}` and `latest` → the newest run.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::gitlab::to_load_performance;
use super::html::to_html;
use super::junit::to_junit_xml;
use super::markdown::to_markdown;
use super::model::{Outcome, Report, SCHEMA_VERSION, ScenarioReport, ToolInfo};

/// A report could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A file system operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A scenario file of the run is not a valid scenario report.
    #[error("`{path}` is not a valid scenario report")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// JUnit rendering failed.
    #[error("cannot render JUnit XML")]
    Junit(#[source] junit_report::Error),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ReportError + 'a {
    move |source| ReportError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The variable GitHub Actions sets to the file of a job's summary page.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";

/// Appends `markdown` to the job's summary page when [`GITHUB_STEP_SUMMARY`] names a file;
/// returns that file, or `None` when the variable is not set.
pub fn append_to_step_summary(markdown: &str) -> Result<Option<PathBuf>, ReportError> {
    let Some(path) = std::env::var_os(GITHUB_STEP_SUMMARY).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io("open", &path))?;
    writeln!(f, "{markdown}").map_err(io("append to", &path))?;
    Ok(Some(path))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed to disk,
/// then renamed over `path`. Readers see the old file or the new one, never half of one.
///
/// # Errors
///
/// [`ReportError::Io`] naming the file that could not be written.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io("create directory", dir))?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("report");
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io("rename into place", path))
    })();
    if written.is_err() {
        // A half-written temporary file must not stay behind: on a full disk it would keep
        // the disk full.
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// The root directory of reports: `WINDTUNNEL_OUT`/`--out` if given, else `windtunnel/` in the
/// cargo target directory (`CARGO_TARGET_DIR`, else the one the test binary was built in).
pub(crate) fn resolve_root(out: Option<&Path>) -> PathBuf {
    if let Some(out) = out {
        return out.to_owned();
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir().unwrap_or_default().join(dir)
        };
        return dir.join("windtunnel");
    }
    if let Ok(exe) = std::env::current_exe() {
        // cargo marks its target directory with CACHEDIR.TAG; the binary lives below it
        // (`target/debug/deps/load-1234`, `target/release/wt`).
        if let Some(target) = exe
            .ancestors()
            .skip(1)
            .find(|d| d.join("CACHEDIR.TAG").is_file())
        {
            return target.join("windtunnel");
        }
        if let Some(profile) = exe
            .parent()
            .and_then(|deps| deps.parent())
            .and_then(Path::parent)
        {
            return profile.join("windtunnel");
        }
    }
    PathBuf::from("target").join("windtunnel")
}

/// The report directory of one run.
#[derive(Clone, Debug)]
pub(crate) struct ReportStore {
    root: PathBuf,
    run_id: String,
    dir: PathBuf,
}

impl ReportStore {
    pub(crate) fn new(root: PathBuf, run_id: String) -> Self {
        let dir = root.join("runs").join(&run_id);
        ReportStore { root, run_id, dir }
    }

    /// The root every run's directory is under.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The run's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Deletes the oldest runs under the root so that `keep` remain (this one among them);
    /// returns how many were deleted.
    /// Checks, before any load runs, that this run's reports can be written: creates the
    /// run's directory and writes and removes a probe file in it.
    pub(crate) fn check_writable(&self) -> Result<(), ReportError> {
        // One probe per process: nextest runs several processes into one run's directory.
        let probe = self
            .dir()
            .join(format!(".windtunnel-probe-{}", std::process::id()));
        write_atomically(&probe, b"")?;
        fs::remove_file(&probe).map_err(io("remove", &probe))
    }

    pub(crate) fn prune(&self, keep: usize) -> Result<usize, ReportError> {
        prune_runs(&self.root, keep, Some(&self.run_id)).map(|d| d.len())
    }

    /// The stable path of the newest run.
    pub(crate) fn latest(&self) -> PathBuf {
        self.root.join("latest")
    }

    fn scenario_path(&self, s: &ScenarioReport) -> PathBuf {
        self.dir
            .join("scenarios")
            .join(format!("{}.json", file_stem(&s.binary, &s.name)))
    }

    /// Records one scenario's report and rebuilds the run's combined reports. A fault tape the
    /// report carries is written first, to `tapes/`, and the report names its file.
    pub(crate) fn record(&self, s: &mut ScenarioReport) -> Result<Report, ReportError> {
        let turbulence = s.load.as_mut().and_then(|l| l.turbulence.as_mut());
        if let Some(t) = turbulence
            && let Some(bytes) = t.tape_bytes.take()
        {
            let file = format!("tapes/{}.json", file_stem(&s.binary, &s.name));
            write_atomically(&self.dir.join(&file), &bytes)?;
            if let Some(tape) = &mut t.tape {
                tape.file = file;
            }
        }
        let json = serde_json::to_vec_pretty(&*s).expect("reports serialize");
        write_atomically(&self.scenario_path(s), &json)?;
        self.publish()
    }

    /// Rebuilds `report.json` and `junit.xml` from every scenario file of the run, under a lock
    /// so that concurrent processes of one run (nextest) cannot lose each other's scenarios.
    pub(crate) fn publish(&self) -> Result<Report, ReportError> {
        fs::create_dir_all(&self.dir).map_err(io("create directory", &self.dir))?;
        let lock_path = self.dir.join(".lock");
        let lock = File::create(&lock_path).map_err(io("create", &lock_path))?;
        lock.lock().map_err(io("lock", &lock_path))?;
        let report = self.combine()?;
        let json = serde_json::to_vec_pretty(&report).expect("reports serialize");
        write_atomically(&self.dir.join("report.json"), &json)?;
        let xml = to_junit_xml(&report).map_err(ReportError::Junit)?;
        write_atomically(&self.dir.join("junit.xml"), &xml)?;
        write_atomically(&self.dir.join("report.html"), to_html(&report).as_bytes())?;
        write_atomically(&self.dir.join("report.md"), to_markdown(&report).as_bytes())?;
        if let Some(summary) = to_load_performance(&report) {
            let json = serde_json::to_vec_pretty(&summary).expect("summaries serialize");
            write_atomically(&self.dir.join("load-performance.json"), &json)?;
        }
        self.point_latest()?;
        drop(lock);
        Ok(report)
    }

    fn combine(&self) -> Result<Report, ReportError> {
        let dir = self.dir.join("scenarios");
        let mut scenarios = Vec::new();
        if dir.is_dir() {
            for entry in fs::read_dir(&dir).map_err(io("read directory", &dir))? {
                let path = entry.map_err(io("read directory", &dir))?.path();
                if path.extension().is_some_and(|e| e == "json") {
                    let bytes = fs::read(&path).map_err(io("read", &path))?;
                    let s: ScenarioReport =
                        serde_json::from_slice(&bytes).map_err(|source| ReportError::Parse {
                            path: path.clone(),
                            source,
                        })?;
                    scenarios.push(s);
                }
            }
        }
        scenarios.sort_by(|a, b| a.binary.cmp(&b.binary).then(a.name.cmp(&b.name)));
        let started_at = scenarios.iter().filter_map(|s| s.started_at.clone()).min();
        let ended_at = scenarios.iter().filter_map(|s| s.ended_at.clone()).max();
        let complete = scenarios
            .iter()
            .all(|s| !matches!(s.outcome, Outcome::Running | Outcome::Interrupted));
        Ok(Report {
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo::default(),
            run_id: self.run_id.clone(),
            started_at: started_at.unwrap_or_else(now_rfc3339),
            ended_at,
            complete,
            scenarios,
        })
    }

    /// Points `latest` at this run: a symlink swapped atomically on Unix, a copy elsewhere.
    fn point_latest(&self) -> Result<(), ReportError> {
        let latest = self.latest();
        #[cfg(unix)]
        {
            let tmp = self
                .root
                .join(format!(".latest.{}.tmp", std::process::id()));
            let _ = fs::remove_file(&tmp);
            let relative = Path::new("runs").join(&self.run_id);
            std::os::unix::fs::symlink(&relative, &tmp).map_err(io("create symlink", &tmp))?;
            if latest.is_dir() && !latest.is_symlink() {
                let _ = fs::remove_dir_all(&latest);
            }
            fs::rename(&tmp, &latest).map_err(io("rename into place", &latest))
        }
        #[cfg(not(unix))]
        {
            for name in ["report.json", "junit.xml", "report.html", "report.md"] {
                let bytes = fs::read(self.dir.join(name)).map_err(io("read", &self.dir))?;
                write_atomically(&latest.join(name), &bytes)?;
            }
            Ok(())
        }
    }
}

/// A scenario's files' name: its binary and name, with anything but letters, digits, `-`, `_`
/// and `.` replaced.
fn file_stem(binary: &str, name: &str) -> String {
    format!("{binary}--{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The oldest report schema this windtunnel reads (older ones lack fields it needs).
pub const OLDEST_READABLE_SCHEMA: u32 = 3;

/// A `report.json` could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// There is no such file.
    #[error("`{path}` does not exist")]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON, or stops early.
    #[error("`{path}` is not valid JSON (line {line}, column {column}): {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where the JSON breaks.
        line: usize,
        /// Where the JSON breaks.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A newer windtunnel wrote it.
    #[error(
        "`{path}` has report schema {found}, newer than this windtunnel reads \
         ({OLDEST_READABLE_SCHEMA} to {SCHEMA_VERSION}): use a newer windtunnel"
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its `schema_version`.
        found: u64,
    },
    /// An older windtunnel wrote it.
    #[error(
        "`{path}` has report schema {found}, older than this windtunnel reads \
         ({OLDEST_READABLE_SCHEMA} to {SCHEMA_VERSION})"
    )]
    Older {
        /// The file.
        path: PathBuf,
        /// Its `schema_version`.
        found: u64,
    },
    /// It is JSON, but not a windtunnel report.
    #[error("`{path}` is not a windtunnel report: {message}")]
    NotAReport {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
}

/// Reads a `report.json` (of this schema or an older readable one), checking its version first
/// so that a newer report gets a clear error instead of a confusing one about a field.
///
/// # Errors
///
/// A [`ReadError`] naming the file and what is wrong with it.
pub fn read_report(path: &Path) -> Result<Report, ReadError> {
    let bytes = fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ReadError::Missing {
                path: path.to_owned(),
            }
        } else {
            ReadError::Io {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| ReadError::Malformed {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    let not_a_report = |message: String| ReadError::NotAReport {
        path: path.to_owned(),
        message,
    };
    let found = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| not_a_report("it has no numeric `schema_version`".into()))?;
    if found > u64::from(SCHEMA_VERSION) {
        return Err(ReadError::Newer {
            path: path.to_owned(),
            found,
        });
    }
    if found < u64::from(OLDEST_READABLE_SCHEMA) {
        return Err(ReadError::Older {
            path: path.to_owned(),
            found,
        });
    }
    let mut report: Report =
        serde_json::from_value(value).map_err(|e| not_a_report(e.to_string()))?;
    for s in &mut report.scenarios {
        if found < 4 {
            s.findings = super::findings::findings(s);
        }
    }
    Ok(report)
}

/// One run under a report root.
#[derive(Debug)]
#[non_exhaustive]
pub struct StoredRun {
    /// Its directory (`<root>/runs/<id>`).
    pub dir: PathBuf,
    /// Its report, or why it could not be read.
    pub report: Result<Report, ReadError>,
}

impl StoredRun {
    /// When it started, for ordering (runs without a readable report sort first).
    fn started(&self) -> &str {
        self.report.as_ref().map_or("", |r| r.started_at.as_str())
    }
}

/// The runs under `root`, newest first (by their reports' start; unreadable ones last).
///
/// # Errors
///
/// [`ReportError::Io`] when `root/runs` exists but cannot be listed.
pub fn list_runs(root: &Path) -> Result<Vec<StoredRun>, ReportError> {
    let runs = root.join("runs");
    if !runs.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(&runs).map_err(io("read directory", &runs))? {
        let dir = entry.map_err(io("read directory", &runs))?.path();
        if dir.is_dir() {
            let report = read_report(&dir.join("report.json"));
            out.push(StoredRun { dir, report });
        }
    }
    out.sort_by(|a, b| b.started().cmp(a.started()).then_with(|| b.dir.cmp(&a.dir)));
    Ok(out)
}

/// A run whose report is incomplete and changed this recently may still be running (another
/// nextest run): pruning leaves it alone.
const MAYBE_RUNNING: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes the oldest runs under `root` so that `keep` remain (`0` keeps all), never the run
/// `except` nor one that may still be running. Returns the deleted directories.
///
/// # Errors
///
/// [`ReportError::Io`] naming the directory that could not be listed or deleted.
pub fn prune_runs(
    root: &Path,
    keep: usize,
    except: Option<&str>,
) -> Result<Vec<PathBuf>, ReportError> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let runs = list_runs(root)?;
    let mut deleted = Vec::new();
    let mut kept = 0;
    for run in runs {
        let name = run.dir.file_name().and_then(|n| n.to_str());
        let current = except.is_some_and(|e| name == Some(e));
        if current || kept < keep || may_be_running(&run) {
            kept += 1;
            continue;
        }
        fs::remove_dir_all(&run.dir).map_err(io("delete", &run.dir))?;
        deleted.push(run.dir);
    }
    Ok(deleted)
}

fn may_be_running(run: &StoredRun) -> bool {
    let incomplete = run.report.as_ref().map_or(true, |r| !r.complete);
    let recent = fs::metadata(&run.dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < MAYBE_RUNNING);
    incomplete && recent
}

/// The current time as RFC 3339, UTC.
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_atomic_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("windtunnel-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        // The target is a directory that is not empty: the final rename fails.
        let path = dir.join("report.json");
        fs::create_dir_all(path.join("in-the-way")).unwrap();
        assert!(write_atomically(&path, b"{}").is_err());
        let left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["report.json"], "{left:?}");
        let _ = fs::remove_dir_all(&dir);
    }
}
