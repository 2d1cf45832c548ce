//! Reading untrusted input files within a bound: settings, plans, data files and fault tapes
//! are read only if they are regular files no longer than `WINDTUNNEL_MAX_FILE_SIZE`.

use std::path::Path;

/// The most bytes a settings, plan or data file may have, unless `WINDTUNNEL_MAX_FILE_SIZE`
/// says otherwise. (Default: 64 MiB.)
pub(crate) const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 20;

/// The bound on input files: `WINDTUNNEL_MAX_FILE_SIZE` (bytes), else [`DEFAULT_MAX_FILE_SIZE`].
fn max_file_size() -> Result<u64, String> {
    match std::env::var(crate::settings::MAX_FILE_SIZE.env) {
        Err(_) => Ok(DEFAULT_MAX_FILE_SIZE),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                format!(
                    "invalid value `{}` for env WINDTUNNEL_MAX_FILE_SIZE: expected a number of \
                 bytes above 0, like `134217728`",
                    v.escape_default()
                )
            }),
    }
}

/// Reads the regular file at `path`, refusing anything else (a device such as `/dev/zero`, a
/// FIFO) and anything longer than the bound of [`max_file_size`], without reading past it.
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let max = max_file_size()?;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file (a device, a pipe or a directory cannot be read)".into());
    }
    let too_big = || {
        format!(
            "the file is larger than {max} bytes; raise the bound with \
             `WINDTUNNEL_MAX_FILE_SIZE=BYTES` if it is meant to be"
        )
    };
    if meta.len() > max {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(too_big());
    }
    Ok(bytes)
}
