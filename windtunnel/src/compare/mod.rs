//! Comparing runs for CI: whether a run is worse than its baseline, judged against the noise the
//! data shows, never on raw deltas.
//!
//! For each scenario both sides ran, per request name (and `*` for all requests): p50, p95 and
//! p99 of the service time (and, in open models, of the latency from the intended start), the
//! error rate and the throughput. Each change is an estimate with a simultaneous interval: each
//! line's confidence is `1 − (1 − confidence) / lines` (Bonferroni), so that two runs of
//! identical code show no significant line at all with the chosen confidence (95%):
//!
//! - Within a run, a percentile's uncertainty comes from its exact histogram (the
//!   distribution-free interval of an order statistic), an error rate's from the binomial, a
//!   throughput's from the run's per-second series; percentiles and error rates are widened by
//!   how much more the series varies from batch to batch than independent samples would.
//! - With several baseline runs, the spread between them is measured too, and the interval uses
//!   whichever is wider, with Student's t for the few runs it rests on.
//!
//! A change is a **regression** only when it is significant (the interval lies on the worse side
//! of zero) *and* its estimate goes beyond the [`Tolerance`]: a small but real slowdown is
//! reported as significant and within tolerance, not failed. An objective held in every baseline
//! run and lost in the new run is a regression too.
//!
//! ```no_run
//! use windtunnel::compare::{Options, compare};
//! use windtunnel::report::read_report;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let base = read_report("target/windtunnel/runs/before/report.json".as_ref())?;
//! let new = read_report("target/windtunnel/latest/report.json".as_ref())?;
//! let result = compare(&[&base], &new, &Options::default())?;
//! for line in result.lines.iter().filter(|l| l.verdict.is_regression()) {
//!     println!("{}", line.sentence());
//! }
//! # Ok(()) }
//! ```

mod noise;
pub mod trend;

use std::collections::BTreeSet;

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::report::{LoadReport, Outcome, Report, ScenarioReport};
use noise::{Estimate, Measured, QUANTILES};

/// How much worse the new run may be, in the estimate, before a significant change fails.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerance {
    /// Latency may grow by this share (0.10: 10%)...
    pub latency: f64,
    /// ...or by this many milliseconds, whichever is more (fast requests are noisy).
    pub latency_slack_ms: f64,
    /// The error rate may rise by this much (0.01: one percentage point).
    pub error_rate: f64,
    /// Throughput may drop by this share.
    pub throughput: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            latency: 0.10,
            latency_slack_ms: 1.0,
            error_rate: 0.01,
            throughput: 0.10,
        }
    }
}

/// How to compare.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// The tolerances.
    pub tolerance: Tolerance,
    /// The confidence that a comparison of two runs of identical code flags nothing
    /// significant (0.95 by default): each line's interval is drawn at a confidence that much
    /// higher that all of them together hold it.
    pub confidence: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tolerance: Tolerance::default(),
            confidence: 0.95,
        }
    }
}

impl Options {
    /// Options with these tolerances and confidence; an error names the value that is out of
    /// range.
    pub fn new(tolerance: Tolerance, confidence: f64) -> Result<Self, CompareError> {
        let t = &tolerance;
        for (name, v) in [
            ("the latency tolerance", t.latency),
            ("the latency slack", t.latency_slack_ms),
            ("the error-rate tolerance", t.error_rate),
            ("the throughput tolerance", t.throughput),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(CompareError(format!("{name} must be ≥ 0, not {v}")));
            }
        }
        if t.throughput > 1.0 || t.error_rate > 1.0 {
            return Err(CompareError(
                "the throughput and error-rate tolerances are shares: at most 100%".into(),
            ));
        }
        if !(confidence > 0.5 && confidence < 1.0) {
            return Err(CompareError(format!(
                "the confidence is a share between 50% and 100% (like 0.95), not {confidence}"
            )));
        }
        Ok(Options {
            tolerance,
            confidence,
        })
    }
}

/// Why two runs cannot be compared.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompareError(String);

/// The result of a comparison.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Comparison {
    /// The baseline runs' ids.
    pub baselines: Vec<String>,
    /// The new run's id.
    pub new: String,
    /// The confidence that no line of a comparison of identical runs is significant (the
    /// family's).
    pub confidence: f64,
    /// The confidence of each line's interval: `1 − (1 − confidence) / lines judged`
    /// (Bonferroni), so that the family's holds.
    pub line_confidence: f64,
    /// One line per compared metric.
    pub lines: Vec<Line>,
    /// Differences in how the runs were set up (turbulence, load model, target, segments) that
    /// make their numbers less comparable.
    pub warnings: Vec<String>,
    /// What was not compared, and why.
    pub notes: Vec<String>,
}

impl Comparison {
    /// How many lines are regressions.
    pub fn regressions(&self) -> usize {
        self.lines
            .iter()
            .filter(|l| l.verdict.is_regression())
            .count()
    }
}

/// One compared metric.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Line {
    /// The scenario.
    pub scenario: String,
    /// The request name, `*` for all requests, or the objective.
    pub subject: String,
    /// `p50`, `p95`, `p99` (service time), `p50 from intended start`, ..., `error rate`,
    /// `throughput` or `objective`.
    pub metric: String,
    /// `ms`, `ratio` (error rates and other shares), `req/s`, or empty (an objective counted
    /// in iterations).
    pub unit: &'static str,
    /// The baseline's value: one run's, or the geometric mean (the mean, for error rates) of
    /// several runs'.
    pub base: Option<f64>,
    /// The new run's value.
    pub new: Option<f64>,
    /// The estimated change: relative (0.21: +21%) for latencies and throughput, in absolute
    /// terms (0.02: two percentage points) for error rates.
    pub change: Option<f64>,
    /// The interval of the change at the comparison's confidence.
    pub interval: Option<[f64; 2]>,
    /// What the interval rests on: `within runs`, `between N baseline runs`, or `none`.
    pub noise: String,
    /// The verdict.
    pub verdict: Verdict,
}

/// What a line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Significantly worse, beyond the tolerance (or an objective lost).
    Regression,
    /// Significantly worse, but within the tolerance.
    WithinTolerance,
    /// Significantly better.
    Improvement,
    /// The interval holds zero.
    NoSignificantChange,
    /// Could not be judged: a side has no data for it (see the notes).
    NotJudged,
}

impl Verdict {
    /// Whether this fails the comparison.
    pub fn is_regression(self) -> bool {
        self == Verdict::Regression
    }

    /// In words.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::WithinTolerance => "significant, within tolerance",
            Verdict::Improvement => "improvement",
            Verdict::NoSignificantChange => "no significant change",
            Verdict::NotJudged => "not judged",
        }
    }
}

impl Line {
    /// The verdict in words: [`Verdict::as_str`], or for an objective `lost`, `now met` or `as
    /// in the baseline`.
    pub fn verdict_text(&self) -> &'static str {
        if self.metric != "objective" {
            return self.verdict.as_str();
        }
        match self.verdict {
            Verdict::Regression => "lost (held in every baseline run)",
            Verdict::Improvement => "now met (not met in any baseline run)",
            _ => "as in the baseline",
        }
    }

    /// The line as a sentence: "p99 of `checkout` +21% (+14% to +28%), regression".
    pub fn sentence(&self) -> String {
        if self.metric == "objective" {
            return format!("objective `{}`: {}", self.subject, self.verdict_text());
        }
        let what = if self.subject == "*" {
            format!("{} of all requests", self.metric)
        } else {
            format!("{} of `{}`", self.metric, self.subject)
        };
        match (self.change, self.interval) {
            (Some(c), Some([lo, hi])) => format!(
                "{what} {} ({} to {}), {}",
                self.format_change(c),
                self.format_change(lo),
                self.format_change(hi),
                self.verdict.as_str()
            ),
            (Some(c), None) => format!(
                "{what} {}, {}",
                self.format_change(c),
                self.verdict.as_str()
            ),
            _ => format!("{what}: {}", self.verdict.as_str()),
        }
    }

    /// A value of this line's metric for people: `27.5 ms`, `1.55%`, `1266 req/s`, `—` for none.
    pub fn format_value(&self, v: Option<f64>) -> String {
        match v {
            None => "—".into(),
            Some(v) if self.unit.is_empty() => crate::text::trim_float(v),
            Some(v) => crate::report::format_value(v, self.unit),
        }
    }

    /// A change as this line's metric counts it: `+21%`, or `+1.2 points` for error rates.
    pub fn format_change(&self, c: f64) -> String {
        if self.unit == "ratio" {
            format!("{:+.2} points", c * 100.0)
        } else {
            format!("{:+.1}%", c * 100.0)
        }
    }
}

/// Compares `new` against one or more baseline runs. Scenarios are matched by name; a scenario
/// in only one side is noted, not compared. It is an error when no scenario is in both.
pub fn compare(
    baselines: &[&Report],
    new: &Report,
    options: &Options,
) -> Result<Comparison, CompareError> {
    if baselines.is_empty() {
        return Err(CompareError("no baseline run to compare against".into()));
    }
    let mut out = Comparison {
        baselines: baselines.iter().map(|r| r.run_id.clone()).collect(),
        new: new.run_id.clone(),
        confidence: options.confidence,
        line_confidence: options.confidence,
        lines: Vec::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
    };
    let ran = |r: &Report| -> Vec<String> {
        r.scenarios
            .iter()
            .filter(|s| s.outcome != Outcome::Skipped)
            .map(|s| s.name.clone())
            .collect()
    };
    let new_names = ran(new);
    let base_names: BTreeSet<String> = baselines.iter().flat_map(|r| ran(r)).collect();
    if !new_names.iter().any(|n| base_names.contains(n)) {
        return Err(CompareError(format!(
            "the runs ran different scenarios (base: {}; new: {}): nothing to compare",
            base_names.into_iter().collect::<Vec<_>>().join(", "),
            new_names.join(", ")
        )));
    }
    for name in base_names.iter().filter(|n| !new_names.contains(n)) {
        out.notes
            .push(format!("`{name}` only in the baseline (not compared)"));
    }
    let mut pending = Vec::new();
    for s in new
        .scenarios
        .iter()
        .filter(|s| s.outcome != Outcome::Skipped)
    {
        let bases: Vec<&ScenarioReport> = baselines
            .iter()
            .filter_map(|r| {
                r.scenarios
                    .iter()
                    .find(|b| b.name == s.name && b.outcome != Outcome::Skipped)
            })
            .collect();
        if bases.is_empty() {
            out.notes
                .push(format!("`{}` only in the new run (not compared)", s.name));
            continue;
        }
        compare_scenario(&bases, s, options, &mut out, &mut pending);
    }
    // Simultaneous intervals (Bonferroni): identical runs flag any line at most 1 − confidence
    // of the time, however many lines there are.
    let judged = pending.iter().filter(|p| p.raw.is_some()).count().max(1);
    out.line_confidence = 1.0 - (1.0 - options.confidence) / judged as f64;
    out.lines = pending
        .into_iter()
        .map(|p| p.finish(out.line_confidence))
        .collect();
    Ok(out)
}

fn compare_scenario(
    bases: &[&ScenarioReport],
    new: &ScenarioReport,
    options: &Options,
    out: &mut Comparison,
    lines: &mut Vec<Pending>,
) {
    let name = &new.name;
    let Some(new_load) = &new.load else {
        out.notes.push(format!(
            "`{name}`: no load measured in the new run (not compared)"
        ));
        return;
    };
    let base_loads: Vec<&LoadReport> = bases.iter().filter_map(|b| b.load.as_ref()).collect();
    if base_loads.len() < bases.len() {
        out.notes.push(format!(
            "`{name}`: {} baseline run(s) measured no load (left out)",
            bases.len() - base_loads.len()
        ));
    }
    if base_loads.is_empty() {
        return;
    }
    for b in bases.iter().filter(|b| b.module != new.module) {
        out.warnings.push(format!(
            "`{name}`: the baseline's is `{}`, the new run's `{}`: same name, other code",
            b.module, new.module
        ));
    }
    setup_warnings(name, &base_loads, new_load, &mut out.warnings);

    let measured_new = Measured::of(new_load);
    let measured_bases: Result<Vec<Measured>, String> =
        base_loads.iter().map(|l| Measured::of(l)).collect();
    match (&measured_bases, &measured_new) {
        (Ok(bases), Ok(new)) => {
            if new.batches == 0 || bases.iter().any(|b| b.batches == 0) {
                out.notes.push(format!(
                    "`{name}`: a run is too short for its series to show noise over time (under \
                     4 whole seconds after the ramp-up); its intervals rest on its samples alone"
                ));
            }
            compare_metrics(name, bases, new, &options.tolerance, lines, &mut out.notes)
        }
        (Err(why), _) | (_, Err(why)) => out.notes.push(format!(
            "`{name}`: its requests are not compared: {why}; there is nothing to estimate their \
             noise from, and raw deltas are not a verdict"
        )),
    }
    if let Some(line) = capacity_line(name, &base_loads, new_load) {
        lines.push(Pending { line, raw: None });
    }
    objective_lines(name, &base_loads, new_load, lines);
}

/// How the runs were set up, as (what, how) pairs whose differences are worth a warning.
fn setup_of(load: &LoadReport) -> Vec<(&'static str, String)> {
    let c = &load.config;
    let mut model = c.model.clone();
    for (label, v) in [
        ("users", c.users.map(|u| u.to_string())),
        ("rate", c.rate.map(|r| format!("{r}/s"))),
        ("duration", c.duration_s.map(|d| format!("{d} s"))),
        ("iterations", c.iterations.map(|i| i.to_string())),
        (
            "shared iterations",
            c.shared_iterations.map(|i| i.to_string()),
        ),
    ] {
        if let Some(v) = v {
            model.push_str(&format!(", {label} {v}"));
        }
    }
    if !c.stages.is_empty() {
        model.push_str(&format!(", {} stage(s)", c.stages.len()));
    }
    let turbulence = match &load.turbulence {
        None => "none".to_owned(),
        Some(t) if t.phases.is_empty() => "none".to_owned(),
        Some(t) => {
            let phases: Vec<&str> = t.phases.iter().map(|p| p.name.as_str()).collect();
            let mut s = format!("phases {}", phases.join(", "));
            if let Some(by) = &t.overridden_by {
                s.push_str(&format!(" (set by {by})"));
            }
            s
        }
    };
    vec![
        ("turbulence", turbulence),
        ("load model", model),
        ("target", comparable_target(&c.target)),
        (
            "segment",
            c.segment.clone().unwrap_or_else(|| "whole".into()),
        ),
    ]
}

/// A target as compared: on loopback without its port, since a SUT started by the test (like the
/// demo's embedded shop) listens on a fresh port every run.
fn comparable_target(target: &str) -> String {
    match url::Url::parse(target) {
        Ok(mut u) if crate::http::is_loopback(&u) => {
            let _ = u.set_port(None);
            format!("{u} (loopback, any port)")
        }
        _ => target.to_owned(),
    }
}

fn setup_warnings(name: &str, bases: &[&LoadReport], new: &LoadReport, warnings: &mut Vec<String>) {
    let theirs = setup_of(new);
    for (i, b) in bases.iter().enumerate() {
        for ((what, base), (_, now)) in setup_of(b).into_iter().zip(&theirs) {
            if base != *now {
                let which = if bases.len() > 1 {
                    format!("baseline {}", i + 1)
                } else {
                    "the baseline".to_owned()
                };
                warnings.push(format!(
                    "`{name}`: the {what} differs: {which} `{base}`, the new run `{now}`"
                ));
            }
        }
    }
}

/// Which way is worse for a metric.
#[derive(Clone, Copy, PartialEq)]
enum Worse {
    Up,
    Down,
}

/// The critical value for `confidence` with `df` degrees of freedom (`None`: the normal).
fn critical(confidence: f64, df: Option<usize>) -> f64 {
    let p = 1.0 - (1.0 - confidence) / 2.0;
    match df {
        Some(df) => StudentsT::new(0.0, 1.0, df as f64)
            .expect("df ≥ 1 is a valid Student t")
            .inverse_cdf(p),
        None => Normal::standard().inverse_cdf(p),
    }
}

/// The change between baseline estimates and the new one, before an interval is put on it: on
/// the log scale when `log` (a relative change), else in absolute terms.
struct Raw {
    d: f64,
    sd: f64,
    /// The degrees of freedom of Student's t when the spread between baseline runs is the
    /// noise; `None`: the normal.
    df: Option<usize>,
    log: bool,
    worse: Worse,
    /// Whether the estimate goes beyond the tolerance, in the worse direction.
    beyond: bool,
}

/// The change, its standard error, the degrees of freedom (see [`Raw`]), what the noise rests on,
/// and the baseline's value: the mean of the runs' values (on the log scale: their geometric
/// mean).
fn raw_change(
    base: &[Estimate],
    new: Estimate,
    log: bool,
) -> (f64, f64, Option<usize>, String, f64) {
    let t = |v: f64| if log { v.ln() } else { v };
    let k = base.len() as f64;
    let values: Vec<f64> = base.iter().map(|e| t(e.value)).collect();
    let mean = values.iter().sum::<f64>() / k;
    let d = t(new.value) - mean;
    let shown = if log { mean.exp() } else { mean };
    let within = new.se.powi(2) + base.iter().map(|e| e.se.powi(2)).sum::<f64>() / k / k;
    let between = noise::variance(&values) * (1.0 + 1.0 / k);
    if base.len() >= 2 && between > within {
        (
            d,
            between.sqrt(),
            Some(base.len() - 1),
            format!("between {} baseline runs", base.len()),
            shown,
        )
    } else {
        (d, within.sqrt(), None, "within runs".to_owned(), shown)
    }
}

/// A line, and what its interval will be computed from once the number of judged lines (and
/// with it each line's confidence) is known.
struct Pending {
    line: Line,
    raw: Option<Raw>,
}

impl Pending {
    /// The line with its interval at `confidence` and its verdict.
    fn finish(self, confidence: f64) -> Line {
        let Pending { mut line, raw } = self;
        let Some(r) = raw else {
            return line;
        };
        let half = critical(confidence, r.df) * r.sd;
        let back = |v: f64| if r.log { v.exp() - 1.0 } else { v };
        let (lo, hi) = (back(r.d - half), back(r.d + half));
        let (worse_sig, better_sig) = match r.worse {
            Worse::Up => (lo > 0.0, hi < 0.0),
            Worse::Down => (hi < 0.0, lo > 0.0),
        };
        line.change = Some(back(r.d));
        line.interval = Some([lo, hi]);
        line.verdict = if worse_sig && r.beyond {
            Verdict::Regression
        } else if worse_sig {
            Verdict::WithinTolerance
        } else if better_sig {
            Verdict::Improvement
        } else {
            Verdict::NoSignificantChange
        };
        line
    }
}

#[allow(clippy::too_many_arguments)]
fn judged_line(
    scenario: &str,
    subject: &str,
    metric: String,
    unit: &'static str,
    base: Vec<Option<Estimate>>,
    new: Option<Estimate>,
    worse: Worse,
    beyond: impl Fn(f64, f64) -> bool,
) -> Pending {
    let mut line = Line {
        scenario: scenario.to_owned(),
        subject: subject.to_owned(),
        metric,
        unit,
        base: None,
        new: new.map(|e| e.value),
        change: None,
        interval: None,
        noise: "none".into(),
        verdict: Verdict::NotJudged,
    };
    let log = unit != "ratio";
    let base: Option<Vec<Estimate>> = base.into_iter().collect();
    let (Some(base), Some(new)) = (base, new) else {
        return Pending { line, raw: None };
    };
    if log && (new.value <= 0.0 || base.iter().any(|e| e.value <= 0.0)) {
        return Pending { line, raw: None };
    }
    let (d, sd, df, noise, b) = raw_change(&base, new, log);
    line.base = Some(b);
    line.noise = noise;
    Pending {
        line,
        raw: Some(Raw {
            d,
            sd,
            df,
            log,
            worse,
            beyond: beyond(b, new.value),
        }),
    }
}

fn compare_metrics(
    scenario: &str,
    bases: &[Measured],
    new: &Measured,
    tol: &Tolerance,
    lines: &mut Vec<Pending>,
    notes: &mut Vec<String>,
) {
    let mut subjects: Vec<&String> = new.subjects.keys().collect();
    for b in bases {
        for n in b.subjects.keys() {
            if !subjects.contains(&n) {
                subjects.push(n);
            }
        }
    }
    // All requests first, then by name.
    subjects.sort_by_key(|s| (s.as_str() != "*", s.as_str()));
    for subject in &subjects {
        let in_new = new.subjects.get(*subject).is_some_and(|s| s.count > 0);
        let in_bases = bases
            .iter()
            .filter(|b| b.subjects.get(*subject).is_some_and(|s| s.count > 0))
            .count();
        if !in_new {
            notes.push(format!(
                "`{scenario}`: `{subject}` was requested in the baseline but not in the new run"
            ));
        } else if in_bases < bases.len() {
            notes.push(format!(
                "`{scenario}`: `{subject}` is new: {} of {} baseline run(s) never requested it",
                bases.len() - in_bases,
                bases.len()
            ));
        }
    }
    for subject in subjects {
        let latency_beyond = |b: f64, n: f64| n - b > (b * tol.latency).max(tol.latency_slack_ms);
        let intended = new.has_intended(subject) && bases.iter().all(|b| b.has_intended(subject));
        for from_intended in [false, true] {
            if from_intended && !intended {
                continue;
            }
            for (i, (_, label)) in QUANTILES.iter().enumerate() {
                let metric = if from_intended {
                    format!("{label} from intended start")
                } else {
                    (*label).to_owned()
                };
                lines.push(judged_line(
                    scenario,
                    subject,
                    metric,
                    "ms",
                    bases
                        .iter()
                        .map(|b| b.quantile(subject, i, from_intended))
                        .collect(),
                    new.quantile(subject, i, from_intended),
                    Worse::Up,
                    latency_beyond,
                ));
            }
        }
        lines.push(judged_line(
            scenario,
            subject,
            "error rate".into(),
            "ratio",
            bases.iter().map(|b| b.error_rate(subject)).collect(),
            new.error_rate(subject),
            Worse::Up,
            |b, n| n - b > tol.error_rate,
        ));
        lines.push(judged_line(
            scenario,
            subject,
            "throughput".into(),
            "req/s",
            bases.iter().map(|b| b.throughput(subject)).collect(),
            new.throughput(subject),
            Worse::Down,
            |b, n| n < b * (1.0 - tol.throughput),
        ));
    }
}

/// A capacity search's result against the baselines': a regression when the new run's
/// interval lies wholly below every baseline's.
fn capacity_line(scenario: &str, bases: &[&LoadReport], new: &LoadReport) -> Option<Line> {
    let interval = |l: &LoadReport| {
        let c = l.capacity.as_ref()?;
        Some((c.rate?, c.interval.unwrap_or([c.rate?, c.rate?])))
    };
    let (rate, [lo, hi]) = interval(new)?;
    let base: Vec<(f64, [f64; 2])> = bases.iter().filter_map(|l| interval(l)).collect();
    if base.len() < bases.len() {
        return None;
    }
    let b = base.iter().map(|(r, _)| r).sum::<f64>() / base.len() as f64;
    let verdict = if base.iter().all(|(_, [blo, _])| hi < *blo) {
        Verdict::Regression
    } else if base.iter().all(|(_, [_, bhi])| lo > *bhi) {
        Verdict::Improvement
    } else {
        Verdict::NoSignificantChange
    };
    Some(Line {
        scenario: scenario.to_owned(),
        subject: "*".into(),
        metric: "capacity".into(),
        unit: "req/s",
        base: Some(b),
        new: Some(rate),
        change: (b > 0.0).then(|| rate / b - 1.0),
        interval: None,
        noise: "the searches' intervals".into(),
        verdict,
    })
}

/// Every objective of the new run against the baselines: lost when it held in every baseline
/// and not in the new run.
fn objective_lines(
    scenario: &str,
    bases: &[&LoadReport],
    new: &LoadReport,
    lines: &mut Vec<Pending>,
) {
    for o in &new.objectives {
        let before: Vec<_> = bases
            .iter()
            .filter_map(|b| b.objectives.iter().find(|x| x.objective == o.objective))
            .collect();
        if before.len() < bases.len() {
            continue;
        }
        let held_before = before.iter().all(|b| b.passed);
        let verdict = match (held_before, o.passed) {
            (true, false) => Verdict::Regression,
            (false, true) if before.iter().all(|b| !b.passed) => Verdict::Improvement,
            _ => Verdict::NoSignificantChange,
        };
        let base = before.iter().filter_map(|b| b.actual).collect::<Vec<_>>();
        let base = (base.len() == before.len() && !base.is_empty())
            .then(|| base.iter().sum::<f64>() / base.len() as f64);
        let unit = match o.unit.as_str() {
            "ms" => "ms",
            "ratio" => "ratio",
            "req/s" => "req/s",
            _ => "",
        };
        let line = Line {
            scenario: scenario.to_owned(),
            subject: o.objective.clone(),
            metric: "objective".into(),
            unit,
            base,
            new: o.actual,
            change: None,
            interval: None,
            noise: "the objective's verdict".into(),
            verdict,
        };
        lines.push(Pending { line, raw: None });
    }
}

#[cfg(test)]
mod tests;
