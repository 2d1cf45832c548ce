//! The live progress line of a running load, on standard error: elapsed (and total, when the
//! load has a known length), the current request rate, errors so far and p99 so far.
//!
//! Shown only where a person watches: standard error is a terminal and `CI` is not set.
//! `WINDTUNNEL_PROGRESS=0` turns it off, `=1` turns it on in CI (still only on a terminal).
//! It reads the recorder once a second (a merge of the per-thread metrics), so it costs nothing
//! on the agents' hot path.

use std::io::IsTerminal;
use std::time::Duration;

use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::metrics::Recorder;

/// How often the line is refreshed.
const EVERY: Duration = Duration::from_secs(1);

/// Whether to show progress, given whether standard error is a terminal and the values of `CI`
/// and `WINDTUNNEL_PROGRESS`.
pub(crate) fn wanted(terminal: bool, ci: Option<&str>, setting: Option<&str>) -> bool {
    if !terminal {
        return false;
    }
    match setting.map(str::trim) {
        Some("0" | "false" | "off" | "no") => false,
        Some("1" | "true" | "on" | "yes") => true,
        _ => ci.is_none_or(|v| v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")),
    }
}

/// What the line says at one moment.
#[derive(Debug, PartialEq)]
pub(crate) struct Reading {
    pub(crate) elapsed: Duration,
    pub(crate) total: Option<Duration>,
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    /// Requests per second since the last reading.
    pub(crate) rate: f64,
    /// p99 latency so far, in milliseconds (`None` before the first request).
    pub(crate) p99_ms: Option<f64>,
}

impl Reading {
    /// The line: `brownout  12s/30s  1,204 req/s  3 errors (0.1%)  p99 41.2 ms`.
    pub(crate) fn line(&self, name: &str) -> String {
        let time = match self.total {
            Some(t) => format!("{}s/{}s", self.elapsed.as_secs(), t.as_secs()),
            None => format!("{}s", self.elapsed.as_secs()),
        };
        let errors = if self.requests == 0 {
            format!("{} errors", self.failed)
        } else {
            format!(
                "{} errors ({:.1}%)",
                self.failed,
                100.0 * self.failed as f64 / self.requests as f64
            )
        };
        let p99 = self
            .p99_ms
            .map_or_else(|| "p99 –".to_owned(), |p| format!("p99 {p:.1} ms"));
        format!(
            "{name}  {time}  {:.0} req/s  {} requests  {errors}  {p99}",
            self.rate, self.requests
        )
    }
}

/// A progress line being shown; dropping it clears it.
pub(crate) struct Progress {
    bar: ProgressBar,
    task: JoinHandle<()>,
}

impl Progress {
    /// Starts the line for scenario `name` if [`wanted`] here, reading `recorder` from `start`;
    /// `total` is the load's planned length, if known.
    pub(crate) fn start(
        name: &str,
        recorder: &Recorder,
        start: Instant,
        total: Option<Duration>,
    ) -> Option<Progress> {
        let ci = std::env::var("CI").ok();
        let setting = std::env::var(crate::settings::PROGRESS.env).ok();
        if !wanted(
            std::io::stderr().is_terminal(),
            ci.as_deref(),
            setting.as_deref(),
        ) {
            return None;
        }
        let bar = match total {
            Some(t) => ProgressBar::new(t.as_millis().try_into().unwrap_or(u64::MAX)),
            None => ProgressBar::new_spinner(),
        };
        // One line per running scenario (`--test-threads`), drawn together on standard error.
        static LINES: OnceLock<MultiProgress> = OnceLock::new();
        let bar = LINES.get_or_init(MultiProgress::new).add(bar);
        let style = if total.is_some() {
            ProgressStyle::with_template("{bar:24} {msg}")
        } else {
            ProgressStyle::with_template("{spinner} {msg}")
        };
        if let Ok(style) = style {
            bar.set_style(style);
        }
        let name = name.to_owned();
        let recorder = recorder.clone();
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            let mut last = (start, 0u64);
            loop {
                tick.tick().await;
                let now = Instant::now();
                let snap = recorder.snapshot();
                let all = snap.total();
                let since = now.saturating_duration_since(last.0).as_secs_f64();
                let rate = if since > 0.0 {
                    all.count.saturating_sub(last.1) as f64 / since
                } else {
                    0.0
                };
                last = (now, all.count);
                let reading = Reading {
                    elapsed: now.saturating_duration_since(start),
                    total,
                    requests: all.count,
                    failed: all.failed,
                    rate,
                    p99_ms: (all.count > 0)
                        .then(|| all.histogram.value_at_quantile(0.99) as f64 / 1000.0),
                };
                shown.set_position(reading.elapsed.as_millis().try_into().unwrap_or(u64::MAX));
                shown.set_message(reading.line(&name));
            }
        });
        Some(Progress { bar, task })
    }
}

impl Drop for Progress {
    /// Stops refreshing and clears the line (the summary follows), also when the load's future
    /// is dropped early (the scenario's timeout).
    fn drop(&mut self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_on_a_terminal_outside_ci_unless_turned_off() {
        assert!(wanted(true, None, None));
        assert!(!wanted(false, None, None));
        assert!(!wanted(false, None, Some("1")), "never without a terminal");
        assert!(!wanted(true, Some("true"), None));
        assert!(wanted(true, Some("false"), None));
        assert!(wanted(true, Some(""), None));
        assert!(wanted(true, Some("true"), Some("1")));
        assert!(!wanted(true, None, Some("0")));
        assert!(!wanted(true, None, Some("off")));
    }

    #[test]
    fn the_line_says_time_rate_errors_and_p99() {
        let r = Reading {
            elapsed: Duration::from_millis(12_400),
            total: Some(Duration::from_secs(30)),
            requests: 4000,
            failed: 3,
            rate: 1204.4,
            p99_ms: Some(41.26),
        };
        assert_eq!(
            r.line("brownout"),
            "brownout  12s/30s  1204 req/s  4000 requests  3 errors (0.1%)  p99 41.3 ms"
        );
        let start = Reading {
            elapsed: Duration::ZERO,
            total: None,
            requests: 0,
            failed: 0,
            rate: 0.0,
            p99_ms: None,
        };
        assert_eq!(
            start.line("soak"),
            "soak  0s  0 req/s  0 requests  0 errors  p99 –"
        );
    }
}
