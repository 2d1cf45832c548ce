//! `windtunnel compare [BASE...] NEW`: whether NEW is worse than its baseline, each metric's
//! change judged against the noise the data shows (`windtunnel::compare`), printed as a table,
//! JSON or Markdown. A significant change beyond the tolerance, or an objective lost, is a
//! regression: exit 1.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use windtunnel::compare::{Comparison, Line, Options, Tolerance, Verdict, compare};
use windtunnel::report::untrusted::for_markdown;
use windtunnel::report::{self, Report};

/// A share from a flag: `10%` or `0.1`. A bare number above 1 is refused (it would be more
/// than 100%: write `150%` if that is meant).
pub(crate) fn parse_share(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, percent) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (t, false),
    };
    let v: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a share: write it like `10%` or `0.1`"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{text}`: a tolerance is ≥ 0"));
    }
    if percent {
        Ok(v / 100.0)
    } else if v > 1.0 {
        Err(format!(
            "`{text}` would be {}%: write a share as `0.1` or `10%` (or `{}%` if that is meant)",
            v * 100.0,
            v * 100.0
        ))
    } else {
        Ok(v)
    }
}

/// Milliseconds from a flag: `1ms`, `500us`, `0.5ms`, `2s`.
pub(crate) fn parse_ms(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let units = [("ms", 1.0), ("us", 1e-3), ("µs", 1e-3), ("s", 1000.0)];
    for (unit, scale) in units {
        if let Some(n) = t.strip_suffix(unit) {
            let v: f64 = n
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a duration like `1ms`"))?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!("`{text}`: the slack is ≥ 0"));
            }
            return Ok(v * scale);
        }
    }
    Err(format!("`{text}` needs a unit: `1ms`, `500us` or `0.5s`"))
}

/// The command's inputs, as parsed.
pub(crate) struct Args {
    pub(crate) runs: Vec<String>,
    pub(crate) baseline: Vec<String>,
    pub(crate) last: Option<usize>,
    pub(crate) tolerance: Tolerance,
    pub(crate) confidence: f64,
    pub(crate) json: bool,
    pub(crate) markdown: Option<std::path::PathBuf>,
}

pub(crate) fn run(root: &Path, args: Args) -> Result<ExitCode> {
    let options = Options::new(args.tolerance, args.confidence)?;
    let Some((new_run, given)) = args.runs.split_last() else {
        bail!("name the run to judge: `windtunnel compare BASE NEW` or `--last N NEW`");
    };
    let (_, new) = crate::load(root, new_run)?;
    let mut bases: Vec<Report> = Vec::new();
    for b in given.iter().chain(&args.baseline) {
        bases.push(crate::load(root, b)?.1);
    }
    if let Some(n) = args.last {
        if n == 0 {
            bail!("--last takes the number of stored runs to compare against, at least 1");
        }
        let found = last_runs(root, &new, n)?;
        if found.is_empty() {
            bail!(
                "--last {n}: no stored run under `{}` before `{}` ran any of its scenarios",
                root.display(),
                new.run_id
            );
        }
        bases.extend(found);
    }
    // A run named twice (given, and among the last N) counts once.
    let mut seen = std::collections::BTreeSet::new();
    bases.retain(|b| seen.insert(b.run_id.clone()));
    if bases.iter().any(|b| b.run_id == new.run_id) {
        bail!(
            "`{}` is both the baseline and the run under test",
            new.run_id
        );
    }
    if bases.is_empty() {
        bail!("no baseline: `windtunnel compare BASE NEW`, `--baseline RUN NEW` or `--last N NEW`");
    }
    let refs: Vec<&Report> = bases.iter().collect();
    let result = compare(&refs, &new, &options)?;
    let regressions = result.regressions();
    let markdown = to_markdown(&result);
    if let Some(path) = &args.markdown {
        if path.as_os_str() == "-" {
            say!("{markdown}");
        } else {
            report::write_atomically(path, markdown.as_bytes())?;
        }
    }
    report::append_to_step_summary(&markdown)?;
    if args.json {
        let mut v = serde_json::to_value(&result)?;
        v["regressions"] = regressions.into();
        v["tolerance"] = serde_json::json!({
            "latency": options.tolerance.latency,
            "latency_slack_ms": options.tolerance.latency_slack_ms,
            "error_rate": options.tolerance.error_rate,
            "throughput": options.tolerance.throughput,
        });
        for (line, out) in result.lines.iter().zip(
            v["lines"]
                .as_array_mut()
                .expect("lines serialize as an array"),
        ) {
            out["sentence"] = line.sentence().into();
        }
        say!("{}", serde_json::to_string_pretty(&v)?);
    } else if args
        .markdown
        .as_deref()
        .is_none_or(|p| p.as_os_str() != "-")
    {
        print_table(&result);
    }
    Ok(if regressions == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The `n` newest stored runs before `new` that ran one of its scenarios, newest first.
fn last_runs(root: &Path, new: &Report, n: usize) -> Result<Vec<Report>> {
    let runs = report::list_runs(root)
        .with_context(|| format!("cannot list the runs under `{}`", root.display()))?;
    let names: Vec<&str> = new.scenarios.iter().map(|s| s.name.as_str()).collect();
    Ok(runs
        .into_iter()
        .filter_map(|r| r.report.ok())
        .filter(|r| {
            r.complete
                && r.run_id != new.run_id
                && r.started_at < new.started_at
                && r.scenarios
                    .iter()
                    .any(|s| names.contains(&s.name.as_str()) && s.load.is_some())
        })
        .take(n)
        .collect())
}

fn change(l: &Line) -> String {
    match (l.change, l.interval) {
        (Some(c), Some([lo, hi])) => format!(
            "{} ({} to {})",
            l.format_change(c),
            l.format_change(lo),
            l.format_change(hi)
        ),
        (Some(c), None) => l.format_change(c),
        _ => String::new(),
    }
}

fn headline(c: &Comparison) -> String {
    let base = match c.baselines.as_slice() {
        [one] => one.clone(),
        many => format!("{} runs ({})", many.len(), many.join(", ")),
    };
    format!(
        "base {base}  →  new {} · intervals at {}% each, {}% for all lines together",
        c.new,
        trim(c.line_confidence * 100.0),
        trim(c.confidence * 100.0)
    )
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn outcome(c: &Comparison) -> String {
    let count = |v: Verdict| c.lines.iter().filter(|l| l.verdict == v).count();
    let regressions = c.regressions();
    let tail = format!(
        "{} significant within tolerance, {} improvement(s), {} not judged",
        count(Verdict::WithinTolerance),
        count(Verdict::Improvement),
        count(Verdict::NotJudged)
    );
    if regressions == 0 {
        format!("no regression ({tail})")
    } else {
        format!("{regressions} regression(s) ({tail})")
    }
}

fn print_table(c: &Comparison) {
    say!("{}", headline(c));
    say!(
        "{:<20} {:<28} {:<24} {:>11} {:>11}  {:<44} verdict",
        "scenario",
        "request / objective",
        "metric",
        "base",
        "new",
        "change (interval)"
    );
    for l in &c.lines {
        let verdict = if l.verdict.is_regression() {
            l.verdict_text().to_uppercase()
        } else {
            l.verdict_text().to_owned()
        };
        say!(
            "{:<20} {:<28} {:<24} {:>11} {:>11}  {:<44} {verdict}",
            l.scenario,
            l.subject,
            l.metric,
            l.format_value(l.base),
            l.format_value(l.new),
            change(l),
        );
    }
    for w in &c.warnings {
        say!("warning: {w}");
    }
    for n in &c.notes {
        say!("note: {n}");
    }
    for l in c.lines.iter().filter(|l| l.verdict.is_regression()) {
        say!("regression: {}: {}", l.scenario, l.sentence());
    }
    say!("{}", outcome(c));
}

/// The comparison in GitHub-flavoured Markdown: the outcome, the regressions as sentences,
/// warnings, and every line in a table. Everything from the reports is escaped.
pub(crate) fn to_markdown(c: &Comparison) -> String {
    let md = |s: &str| for_markdown(s);
    let mut out = String::new();
    let mark = if c.regressions() == 0 { "✅" } else { "❌" };
    let _ = writeln!(out, "### {mark} windtunnel compare: {}\n", md(&outcome(c)));
    let _ = writeln!(out, "{}\n", md(&headline(c)));
    for l in c.lines.iter().filter(|l| l.verdict.is_regression()) {
        let _ = writeln!(
            out,
            "- **regression**: {}: {}",
            md(&l.scenario),
            md(&l.sentence())
        );
    }
    for w in &c.warnings {
        let _ = writeln!(out, "- warning: {}", md(w));
    }
    for n in &c.notes {
        let _ = writeln!(out, "- note: {}", md(n));
    }
    let _ = writeln!(
        out,
        "\n| scenario | request / objective | metric | base | new | change (interval) | verdict |"
    );
    let _ = writeln!(out, "|---|---|---|--:|--:|---|---|");
    for l in &c.lines {
        let verdict = if l.verdict.is_regression() {
            format!("**{}**", md(l.verdict_text()))
        } else {
            md(l.verdict_text())
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {verdict} |",
            md(&l.scenario),
            md(&l.subject),
            md(&l.metric),
            md(&l.format_value(l.base)),
            md(&l.format_value(l.new)),
            md(&change(l)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_read_as_percent_or_fraction() {
        assert_eq!(parse_share("10%"), Ok(0.1));
        assert_eq!(parse_share("0.1"), Ok(0.1));
        assert_eq!(parse_share(" 2.5 % "), Ok(0.025));
        assert_eq!(parse_share("150%"), Ok(1.5));
        assert!(parse_share("10").unwrap_err().contains("would be 1000%"));
        assert!(parse_share("-1%").is_err());
        assert!(
            parse_share("ten")
                .unwrap_err()
                .contains("like `10%` or `0.1`")
        );
    }

    #[test]
    fn slack_needs_a_unit() {
        assert_eq!(parse_ms("1ms"), Ok(1.0));
        assert_eq!(parse_ms("500us"), Ok(0.5));
        assert_eq!(parse_ms("0.5s"), Ok(500.0));
        assert!(parse_ms("1").unwrap_err().contains("needs a unit"));
    }
}
