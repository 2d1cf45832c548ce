//! What windtunnel asks of the operating system: enough file descriptors for its connections.
//!
//! Every connection an agent holds is a file descriptor, and the usual soft limit (1,024) is
//! below what a few thousand agents need. At start the harness raises the soft limit to the
//! hard one, as the kernel lets any process do; a request that still runs out is an error that
//! names the limit.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The most the soft limit is raised to when the hard limit is unlimited (some systems refuse
/// an unlimited soft limit for file descriptors).
const UNLIMITED_CAP: u64 = 1 << 20;

/// What [`raise_open_files`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Raised {
    /// The soft limit was raised from `.0` to `.1`.
    From(u64, u64),
    /// It was at the hard limit already (or unlimited).
    AlreadyAt(Option<u64>),
    /// Raising it failed; the limit stays `.0`.
    Refused(Option<u64>, String),
}

/// Raises this process's soft limit on open files to its hard limit.
pub(crate) fn raise_open_files() -> Raised {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let target = maximum.unwrap_or(UNLIMITED_CAP);
    match current {
        None => Raised::AlreadyAt(None),
        Some(c) if c >= target => Raised::AlreadyAt(Some(c)),
        Some(c) => match setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum,
            },
        ) {
            Ok(()) => Raised::From(c, target),
            Err(e) => Raised::Refused(Some(c), e.to_string()),
        },
    }
}

/// The soft limit on open files, `None` when unlimited.
pub(crate) fn open_files_limit() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}

/// Whether an error message is the system's "too many open files" (EMFILE or ENFILE).
pub(crate) fn is_out_of_files(message: &str) -> bool {
    message.contains("os error 24")
        || message.contains("os error 23")
        || message.contains("Too many open files")
}

/// What to tell the user when requests run out of file descriptors.
pub(crate) fn out_of_files_hint() -> String {
    let limit = match open_files_limit() {
        Some(n) => n.to_string(),
        None => "unlimited".to_owned(),
    };
    format!(
        "out of file descriptors: this process may open {limit} files (the soft limit, raised \
         to the hard limit at start); raise the hard limit (`ulimit -Hn`, `LimitNOFILE=` for \
         systemd, `--ulimit nofile=` for docker) or run fewer agents per process (`--segment`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let raised = raise_open_files();
        let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
        match raised {
            Raised::From(before, after) => {
                assert!(after > before);
                assert_eq!(current, Some(after));
            }
            Raised::AlreadyAt(at) => assert_eq!(current, at),
            Raised::Refused(..) => {}
        }
        if let (Some(c), Some(m)) = (current, maximum) {
            assert!(c <= m);
        }
        assert!(out_of_files_hint().contains("this process may open"));
    }

    #[test]
    fn emfile_is_recognised() {
        assert!(is_out_of_files(
            "error trying to connect: tcp connect error: Too many open files (os error 24)"
        ));
        assert!(!is_out_of_files("connection refused (os error 111)"));
    }
}
