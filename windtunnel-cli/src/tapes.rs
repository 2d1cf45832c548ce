//! The fault tapes a run's reports name: found only in the run's own `tapes/` directory, and
//! used only if their hash is the one the report gives.

use std::path::Path;

use anyhow::{Context, Result, bail};
use windtunnel::report::{ScenarioReport, TapeRef};
use windtunnel::turbulence::Tape;

/// The fault tape a scenario's report names, if any.
pub(crate) fn tape_ref(s: &ScenarioReport) -> Option<&TapeRef> {
    s.load.as_ref()?.turbulence.as_ref()?.tape.as_ref()
}

/// A tape `s`'s report names, found.
pub(crate) enum Found {
    /// The report names none.
    None,
    /// The report names one, and the file is not there (a run's report copied without it).
    Absent(std::path::PathBuf),
    /// The tape, read and checked against the hash the report gives.
    Tape(std::path::PathBuf, Tape),
}

/// The tape of `s` that its report at `report` names: only a plain file of the run's `tapes/`,
/// and only if its hash is the report's.
pub(crate) fn find(report: &Path, s: &ScenarioReport) -> Result<Found> {
    let Some(TapeRef { file, sha256, .. }) = tape_ref(s) else {
        return Ok(Found::None);
    };
    let path = tape_path(report, s, file)?;
    if !path.exists() {
        return Ok(Found::Absent(path));
    }
    let tape = Tape::read(&path).with_context(|| {
        format!(
            "scenario `{}`: cannot use its fault tape",
            s.name.escape_default()
        )
    })?;
    let actual = tape.sha256();
    if &actual != sha256 {
        bail!(
            "scenario `{}`: the fault tape `{}` is not the one the report names (its SHA-256 is \
             {actual}, the report says {}): it was changed after the run",
            s.name.escape_default(),
            path.display(),
            sha256.escape_default()
        );
    }
    Ok(Found::Tape(path, tape))
}

/// The tape of `s` to replay, if its report names one: found, there, and complete.
pub(crate) fn taped(
    report: &Path,
    s: &ScenarioReport,
) -> Result<Option<(std::path::PathBuf, Tape)>> {
    let (path, tape) = match find(report, s)? {
        Found::None => return Ok(None),
        Found::Absent(path) => bail!(
            "scenario `{}`: its report names the fault tape `{}`, which is not there (copy the \
             run's `tapes/` directory with its report)",
            s.name.escape_default(),
            path.display()
        ),
        Found::Tape(path, tape) => (path, tape),
    };
    if !tape.complete {
        bail!(
            "scenario `{}`: its fault tape `{}` is incomplete (the run made more than {} \
             decisions), so it cannot be replayed exactly; run it again from its seed: {}",
            s.name.escape_default(),
            path.display(),
            windtunnel::turbulence::MAX_TAPE_ENTRIES,
            s.replay.escape_default()
        );
    }
    Ok(Some((path, tape)))
}

/// The file of a tape a report names: only a plain file name in the run's own `tapes/`.
pub(crate) fn tape_path(
    report: &Path,
    s: &ScenarioReport,
    file: &str,
) -> Result<std::path::PathBuf> {
    let name = file.strip_prefix("tapes/").unwrap_or("");
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name.ends_with(".json")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        bail!(
            "`{}`: scenario `{}` names the fault tape `{}`, which is not a file of the run's \
             `tapes/` directory",
            report.display(),
            s.name.escape_default(),
            file.escape_default()
        );
    }
    Ok(report.parent().unwrap_or(Path::new(".")).join(file))
}
