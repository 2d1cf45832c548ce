//! `report.md`: a run in GitHub-flavoured Markdown, for CI job summaries and merge-request
//! comments: per scenario its outcome, problems and doubts, objectives (expected, actual), the
//! requests table, findings and the replay command. Every text from the report is escaped
//! ([`for_markdown`]): a SUT's error message cannot add a link, an image or HTML to the page.

use std::fmt::Write;

use super::model::{Outcome, Report, ScenarioReport};
use super::summary::{capacity_found, load_label, objective_label, sig, value};
use super::untrusted::for_markdown as md;

/// The whole run: a heading with the outcome of every scenario, then a section each.
pub fn to_markdown(report: &Report) -> String {
    let ran: Vec<&ScenarioReport> = report
        .scenarios
        .iter()
        .filter(|s| s.outcome != Outcome::Skipped)
        .collect();
    let count = |o: Outcome| ran.iter().filter(|s| s.outcome == o).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## windtunnel run {}: {} passed, {} failed, {} inconclusive{}\n",
        md(&report.run_id),
        count(Outcome::Passed),
        count(Outcome::Failed),
        count(Outcome::Inconclusive),
        if report.complete {
            ""
        } else {
            " (incomplete: interrupted, or still running)"
        }
    );
    for s in ran {
        out.push_str(&scenario_markdown(s));
        out.push('\n');
    }
    out
}

fn mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "✅",
        Outcome::Failed => "❌",
        Outcome::Inconclusive => "⚠️",
        _ => "⏸️",
    }
}

/// One scenario's section.
pub fn scenario_markdown(s: &ScenarioReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {} {} {} · {} s · seed {}\n",
        mark(s.outcome),
        md(&s.name),
        s.outcome.as_str(),
        sig(s.duration_s),
        s.seed
    );
    if let Some(load) = &s.load {
        let _ = writeln!(
            out,
            "{} · {} requests · {}\n",
            md(&load_label(load)),
            load.total.count,
            md(&value(load.total.throughput_rps, "req/s"))
        );
        if let Some(c) = &load.capacity {
            let _ = writeln!(out, "Capacity: {}\n", md(&capacity_found(c)));
        }
    }
    for p in &s.problems {
        let _ = writeln!(out, "- **problem**: {}", md(p));
    }
    for d in &s.doubts {
        let _ = writeln!(out, "- **inconclusive**: {}", md(d));
    }
    if !s.problems.is_empty() || !s.doubts.is_empty() {
        out.push('\n');
    }
    if let Some(load) = &s.load {
        if !load.objectives.is_empty() {
            let _ = writeln!(out, "| objective | expected | actual | verdict |");
            let _ = writeln!(out, "|---|--:|--:|---|");
            for o in &load.objectives {
                let actual = match o.actual {
                    Some(a) => value(a, &o.unit),
                    None => o.detail.clone().unwrap_or_else(|| "not measured".into()),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    md(&objective_label(o)),
                    md(&value(o.expected, &o.unit)),
                    md(&actual),
                    if o.passed { "held" } else { "**not met**" }
                );
            }
            out.push('\n');
        }
        let mut rows: Vec<_> = load.requests.iter().collect();
        if load.requests.len() != 1 {
            rows.push(&load.total);
        }
        if load.total.count > 0 {
            let _ = writeln!(
                out,
                "| request | count | failed | error rate | req/s | p50 | p95 | p99 |"
            );
            let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|");
            for r in rows {
                let name = if r.name == "*" {
                    "all requests".to_owned()
                } else {
                    r.name.clone()
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    md(&name),
                    r.count,
                    r.failed,
                    md(&value(r.error_rate, "ratio")),
                    md(&sig(r.throughput_rps)),
                    md(&value(r.latency_ms.p50, "ms")),
                    md(&value(r.latency_ms.p95, "ms")),
                    md(&value(r.latency_ms.p99, "ms")),
                );
            }
            out.push('\n');
        }
        if !load.services.is_empty() {
            let _ = writeln!(
                out,
                "| service | URL | count | failed | req/s | p50 | p95 | p99 |"
            );
            let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|");
            for sv in &load.services {
                let t = &sv.total;
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    md(&sv.name),
                    md(&sv.url),
                    t.count,
                    t.failed,
                    md(&sig(t.throughput_rps)),
                    md(&value(t.latency_ms.p50, "ms")),
                    md(&value(t.latency_ms.p95, "ms")),
                    md(&value(t.latency_ms.p99, "ms")),
                );
            }
            out.push('\n');
        }
        if !load.steps.is_empty() {
            let _ = writeln!(
                out,
                "| step | kind | runs | at once | later | gave up | attempts | max attempts | p95 duration |"
            );
            let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|");
            for st in &load.steps {
                let p95 = st
                    .operation
                    .as_ref()
                    .map_or("–".to_owned(), |o| value(o.latency_ms.p95, "ms"));
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    md(&st.name),
                    md(&st.kind),
                    st.runs,
                    st.first_attempt,
                    st.later_attempt,
                    st.gave_up,
                    st.attempts,
                    st.max_attempts,
                    md(&p95),
                );
            }
            out.push('\n');
        }
    }
    if !s.findings.is_empty() {
        let _ = writeln!(out, "Findings:\n");
        for f in &s.findings {
            let _ = writeln!(
                out,
                "- {} {}: {}",
                f.severity.as_str(),
                f.kind.as_str(),
                md(&f.title)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Replay: {}", md(&s.replay));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn a_scenario_reads_as_markdown_with_every_outside_text_escaped() {
        let mut s = fixture::scenario();
        s.problems = vec![
            "500 from the SUT: <img src=x onerror=alert(1)> [pwn](https://x.io) | cell".into(),
        ];
        let text = scenario_markdown(&s);
        insta::assert_snapshot!(text);
        // Every `<`, `[`, `(` and `|` from the SUT is escaped: it stays text.
        for c in ['<', '[', '(', '|'] {
            let from_sut = text.lines().find(|l| l.contains("problem")).unwrap();
            let all = from_sut.matches(c).count();
            assert_eq!(
                from_sut.matches(&format!("\\{c}")).count(),
                all,
                "{from_sut}"
            );
        }
        // Every table row has the same number of cells as its header.
        for table in text.split("\n\n").filter(|b| b.starts_with('|')) {
            let cells = |l: &str| l.matches(" | ").count();
            let mut lines = table.lines();
            let header = cells(lines.next().unwrap());
            for l in lines.skip(1) {
                assert_eq!(cells(l), header, "{l}");
            }
        }
    }
}
