//! `windtunnel compare BASE NEW`: per scenario both ran, per request name, latency (p50, p95,
//! p99), error rate and throughput against tolerances, and every objective that held in BASE
//! but not in NEW. Any of those is a regression: exit 1.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use serde::Serialize;
use windtunnel::report::{LoadReport, Report, RequestReport, ScenarioReport};

/// How much worse NEW may be before it counts as a regression.
pub(crate) struct Tolerance {
    /// Latency may grow by this factor minus one (0.10 = 10%)...
    latency: f64,
    /// ...or by this many milliseconds, whichever is more (noise on fast requests).
    latency_slack_ms: f64,
    /// The error rate may rise by this much (a ratio: 0.01 = one percentage point).
    error_rate: f64,
    /// Throughput may drop by this share.
    throughput: f64,
}

impl Tolerance {
    /// From the flags: percent, percentage points, percent.
    pub(crate) fn new(
        latency_pct: f64,
        latency_slack_ms: f64,
        error_points: f64,
        throughput_pct: f64,
    ) -> Result<Self> {
        for (name, v) in [
            ("--latency-tolerance", latency_pct),
            ("--latency-slack", latency_slack_ms),
            ("--error-rate-tolerance", error_points),
            ("--throughput-tolerance", throughput_pct),
        ] {
            if !v.is_finite() || v < 0.0 {
                bail!("{name} must be a number ≥ 0, not {v}");
            }
        }
        if throughput_pct > 100.0 {
            bail!(
                "--throughput-tolerance is a percentage of the base: at most 100, not {throughput_pct}"
            );
        }
        Ok(Tolerance {
            latency: latency_pct / 100.0,
            latency_slack_ms,
            error_rate: error_points / 100.0,
            throughput: throughput_pct / 100.0,
        })
    }
}

/// One compared value.
#[derive(Serialize)]
struct Line {
    scenario: String,
    /// The request name, `*` for all requests, or the objective.
    subject: String,
    metric: String,
    base: Option<f64>,
    new: Option<f64>,
    /// `new / base - 1` where both are non-zero.
    change: Option<f64>,
    regression: bool,
}

pub(crate) fn run(
    base_path: &Path,
    base: &Report,
    new_path: &Path,
    new: &Report,
    tol: &Tolerance,
    json: bool,
) -> Result<ExitCode> {
    let names =
        |r: &Report| -> Vec<String> { r.scenarios.iter().map(|s| s.name.clone()).collect() };
    let common: Vec<(&ScenarioReport, &ScenarioReport)> = base
        .scenarios
        .iter()
        .filter_map(|b| {
            new.scenarios
                .iter()
                .find(|n| n.name == b.name)
                .map(|n| (b, n))
        })
        .collect();
    if common.is_empty() {
        bail!(
            "`{}` and `{}` ran different scenarios (base: {}; new: {}): nothing to compare",
            base_path.display(),
            new_path.display(),
            names(base).join(", "),
            names(new).join(", ")
        );
    }
    let only_in = |a: &Report, b: &Report| -> Vec<String> {
        a.scenarios
            .iter()
            .filter(|s| !b.scenarios.iter().any(|o| o.name == s.name))
            .map(|s| s.name.clone())
            .collect()
    };
    let mut notes = Vec::new();
    for (which, names) in [("base", only_in(base, new)), ("new", only_in(new, base))] {
        if !names.is_empty() {
            notes.push(format!(
                "only in {which} (not compared): {}",
                names.join(", ")
            ));
        }
    }
    let mut lines = Vec::new();
    for (b, n) in common {
        match (&b.load, &n.load) {
            (Some(bl), Some(nl)) => compare_loads(&b.name, bl, nl, tol, &mut lines),
            _ => notes.push(format!(
                "{}: no load measured in {} (not compared)",
                b.name,
                if b.load.is_none() { "base" } else { "new" }
            )),
        }
    }
    let regressions = lines.iter().filter(|l| l.regression).count();
    if json {
        let out = serde_json::json!({
            "base": base.run_id,
            "new": new.run_id,
            "regressions": regressions,
            "notes": notes,
            "lines": lines,
        });
        say!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        say!("base {}  →  new {}", base.run_id, new.run_id);
        say!(
            "{:<20} {:<28} {:<13} {:>12} {:>12} {:>9}",
            "scenario",
            "request / objective",
            "metric",
            "base",
            "new",
            "change"
        );
        for l in &lines {
            let num = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.3}"));
            let change = l
                .change
                .map_or(String::new(), |c| format!("{:+.1}%", c * 100.0));
            say!(
                "{:<20} {:<28} {:<13} {:>12} {:>12} {:>9}{}",
                l.scenario,
                l.subject,
                l.metric,
                num(l.base),
                num(l.new),
                change,
                if l.regression { "  REGRESSION" } else { "" }
            );
        }
        for n in &notes {
            say!("note: {n}");
        }
        if regressions == 0 {
            say!("no regression");
        } else {
            say!("{regressions} regression(s)");
        }
    }
    Ok(if regressions == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn compare_loads(
    scenario: &str,
    base: &LoadReport,
    new: &LoadReport,
    tol: &Tolerance,
    lines: &mut Vec<Line>,
) {
    let pairs = std::iter::once((&base.total, Some(&new.total))).chain(
        base.requests
            .iter()
            .map(|b| (b, new.requests.iter().find(|n| n.name == b.name))),
    );
    for (b, n) in pairs {
        let Some(n) = n else {
            lines.push(Line {
                scenario: scenario.to_owned(),
                subject: b.name.clone(),
                metric: "count".into(),
                base: Some(b.count as f64),
                new: None,
                change: None,
                regression: false,
            });
            continue;
        };
        compare_requests(scenario, b, n, tol, lines);
    }
    for o in &base.objectives {
        let now = new.objectives.iter().find(|n| n.objective == o.objective);
        let lost = o.passed && now.is_some_and(|n| !n.passed);
        lines.push(Line {
            scenario: scenario.to_owned(),
            subject: o.objective.clone(),
            metric: format!("objective ({})", if lost { "lost" } else { "same" }),
            base: o.actual,
            new: now.and_then(|n| n.actual),
            change: change(o.actual, now.and_then(|n| n.actual)),
            regression: lost,
        });
    }
}

fn compare_requests(
    scenario: &str,
    b: &RequestReport,
    n: &RequestReport,
    tol: &Tolerance,
    lines: &mut Vec<Line>,
) {
    let mut line = |metric: &str, base: f64, new: f64, regression: bool| {
        lines.push(Line {
            scenario: scenario.to_owned(),
            subject: b.name.clone(),
            metric: metric.to_owned(),
            base: Some(base),
            new: Some(new),
            change: change(Some(base), Some(new)),
            regression,
        });
    };
    // Which latency each number is: the service time always; in open models also the latency
    // from the intended start, what their objectives judge by default.
    let mut latencies = vec![
        ("p50 service ms", b.latency_ms.p50, n.latency_ms.p50),
        ("p95 service ms", b.latency_ms.p95, n.latency_ms.p95),
        ("p99 service ms", b.latency_ms.p99, n.latency_ms.p99),
    ];
    if let (Some(bi), Some(ni)) = (&b.intended_latency_ms, &n.intended_latency_ms) {
        latencies.extend([
            ("p50 from intended start ms", bi.p50, ni.p50),
            ("p95 from intended start ms", bi.p95, ni.p95),
            ("p99 from intended start ms", bi.p99, ni.p99),
        ]);
    }
    for (metric, base, new) in latencies {
        let allowed = (base * tol.latency).max(tol.latency_slack_ms);
        line(metric, base, new, new > base + allowed);
    }
    line(
        "error rate",
        b.error_rate,
        n.error_rate,
        n.error_rate > b.error_rate + tol.error_rate,
    );
    line(
        "req/s",
        b.throughput_rps,
        n.throughput_rps,
        n.throughput_rps < b.throughput_rps * (1.0 - tol.throughput),
    );
}

fn change(base: Option<f64>, new: Option<f64>) -> Option<f64> {
    match (base, new) {
        (Some(b), Some(n)) if b != 0.0 => Some(n / b - 1.0),
        _ => None,
    }
}
