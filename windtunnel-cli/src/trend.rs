//! `windtunnel runs --trend SCENARIO`: one metric of one scenario over the stored runs, oldest
//! first, with the shifts in its level marked (`windtunnel::compare::trend`), so that a creep
//! over many runs shows where no single comparison of two runs would flag it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use windtunnel::compare::trend::{MIN_SEGMENT, change_points};
use windtunnel::report::{self, LoadReport};

/// Which number of a run the trend follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Metric {
    /// Median service time.
    P50,
    /// 95th percentile of the service time.
    P95,
    /// 99th percentile of the service time.
    P99,
    /// Share of failed requests.
    ErrorRate,
    /// Requests per second.
    Throughput,
}

impl Metric {
    fn label(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error rate",
            Metric::Throughput => "throughput",
        }
    }

    /// Whether a shift is a ratio (latency, throughput) rather than a difference.
    fn relative(self) -> bool {
        self != Metric::ErrorRate
    }

    fn of(self, load: &LoadReport, request: &str) -> Option<f64> {
        let r = if request == "*" {
            &load.total
        } else {
            load.requests.iter().find(|r| r.name == request)?
        };
        if r.count == 0 {
            return None;
        }
        Some(match self {
            Metric::P50 => r.latency_ms.p50,
            Metric::P95 => r.latency_ms.p95,
            Metric::P99 => r.latency_ms.p99,
            Metric::ErrorRate => r.error_rate,
            Metric::Throughput => r.throughput_rps,
        })
    }

    fn show(self, v: f64) -> String {
        match self {
            Metric::ErrorRate => format!("{:.2}%", v * 100.0),
            Metric::Throughput => format!("{v:.1} req/s"),
            _ => format!("{v:.3} ms"),
        }
    }

    fn show_change(self, c: f64) -> String {
        if self.relative() {
            format!("{:+.1}%", c * 100.0)
        } else {
            format!("{:+.2} points", c * 100.0)
        }
    }
}

pub(crate) fn run(
    root: &Path,
    scenario: &str,
    metric: Metric,
    request: &str,
    json: bool,
) -> Result<ExitCode> {
    let runs = report::list_runs(root)
        .with_context(|| format!("cannot list the runs under `{}`", root.display()))?;
    let mut points: Vec<(String, String, f64)> = runs
        .iter()
        .filter_map(|r| r.report.as_ref().ok())
        .filter(|r| r.complete)
        .filter_map(|r| {
            let s = r.scenarios.iter().find(|s| s.name == scenario)?;
            let v = metric.of(s.load.as_ref()?, request)?;
            Some((r.run_id.clone(), r.started_at.clone(), v))
        })
        .collect();
    if points.is_empty() {
        let known = runs
            .iter()
            .filter_map(|r| r.report.as_ref().ok())
            .any(|r| r.scenarios.iter().any(|s| s.name == scenario));
        if known {
            bail!(
                "no complete run under `{}` measured {} of `{request}` in `{scenario}`",
                root.display(),
                metric.label()
            );
        }
        bail!(
            "no stored run under `{}` ran a scenario `{scenario}` (`windtunnel runs` lists them)",
            root.display()
        );
    }
    // Oldest first.
    points.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let values: Vec<f64> = points.iter().map(|p| p.2).collect();
    let shifts = change_points(&values, metric.relative());
    let subject = if request == "*" {
        "all requests".to_owned()
    } else {
        format!("`{request}`")
    };
    if json {
        let out = serde_json::json!({
            "scenario": scenario,
            "request": request,
            "metric": metric.label(),
            "runs": points.iter().map(|(id, at, v)| serde_json::json!({
                "id": id, "started_at": at, "value": v,
            })).collect::<Vec<_>>(),
            "shifts": shifts.iter().map(|s| serde_json::json!({
                "at": s.at,
                "run": points[s.at].0,
                "before": s.before,
                "after": s.after,
                "change": s.change,
                "p_value": s.p_value,
            })).collect::<Vec<_>>(),
        });
        say!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{} of {subject} in `{scenario}` over {} run(s), oldest first",
        metric.label(),
        points.len()
    );
    for (i, (id, at, v)) in points.iter().enumerate() {
        let shift = shifts
            .iter()
            .find(|s| s.at == i)
            .map(|s| {
                format!(
                    "  ← shift {} ({} → {}, p = {:.3})",
                    metric.show_change(s.change),
                    metric.show(s.before),
                    metric.show(s.after),
                    s.p_value
                )
            })
            .unwrap_or_default();
        say!(
            "{id:<28} {:<20} {:>14}{shift}",
            at.get(..19).unwrap_or(at),
            metric.show(*v)
        );
    }
    if points.len() < 2 * MIN_SEGMENT {
        say!(
            "too few runs to look for shifts: at least {} are needed",
            2 * MIN_SEGMENT
        );
    } else if shifts.is_empty() {
        say!("no significant shift");
    }
    Ok(ExitCode::SUCCESS)
}
