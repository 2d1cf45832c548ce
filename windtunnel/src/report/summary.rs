//! The terminal summary of a scenario and its failure message: plain text from the report model.

use std::fmt::Write;

use super::model::{Outcome, RequestReport, ScenarioReport, StepReport, TurbulenceReport};
use crate::objectives::ObjectiveResult;

/// A value with its unit, for people: `12.3 ms`, `0.52%`, `410.2 req/s`.
pub(crate) fn value(v: f64, unit: &str) -> String {
    match unit {
        "ms" => latency(v),
        "ratio" => format!("{}%", sig(v * 100.0)),
        "req/s" => format!("{} req/s", sig(v)),
        other => format!("{} {other}", sig(v)),
    }
}

/// `v` with up to 4 decimals, for values that rounding would make look equal.
fn exact(v: f64, unit: &str) -> String {
    let trim = crate::text::trim_float;
    match unit {
        "ratio" => format!("{}%", trim(v * 100.0)),
        other => format!("{} {other}", trim(v)),
    }
}

pub(super) fn latency(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{} ms", sig(ms))
    }
}

/// Three significant digits without float noise: 0.123, 1.23, 12.3, 123, 1234.
pub(super) fn sig(v: f64) -> String {
    let a = v.abs();
    let s = if a == 0.0 {
        "0".to_owned()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// One objective's line: verdict, label, actual value, and by how much it missed.
/// The objective's text, saying which latency it judged when its text does not: `[service
/// time]` or `[from intended start]`.
pub(super) fn objective_label(o: &ObjectiveResult) -> String {
    let said = o.objective.contains("(service time)") || o.objective.contains("(from intended");
    match o.latency.as_deref() {
        Some("service") if !said => format!("{} [service time]", o.objective),
        Some("intended") if !said => format!("{} [from intended start]", o.objective),
        _ => o.objective.clone(),
    }
}

/// Where an iteration's duration runs from: its intended start in an open model, else its start.
pub(super) fn iteration_basis(load: &crate::report::LoadReport) -> &'static str {
    if load.config.open {
        "from intended start"
    } else {
        "from start"
    }
}

/// One workflow step: how its runs ended and what they cost in attempts; a wait's duration.
fn step_line(out: &mut String, s: &StepReport) {
    let duration = s
        .operation
        .as_ref()
        .map(|o| {
            let l = o.intended_latency_ms.as_ref().unwrap_or(&o.latency_ms);
            format!(
                " · took p50 {} · p95 {} · max {}",
                latency(l.p50),
                latency(l.p95),
                latency(l.max)
            )
        })
        .unwrap_or_default();
    let (at_once, later, gave_up) = if s.kind == "wait" {
        ("met at once", "after polling", "timed out")
    } else {
        ("succeeded at once", "after retries", "gave up")
    };
    let _ = writeln!(
        out,
        "  {} `{}`: {} run(s) · {} {at_once} · {} {later} · {} {gave_up} · {} attempt(s), at \
         most {} in one{duration}",
        s.kind,
        s.name,
        s.runs,
        s.first_attempt,
        s.later_attempt,
        s.gave_up,
        s.attempts,
        s.max_attempts,
    );
    if s.gave_up > 0 {
        let sample = s.samples.first().map(String::as_str).unwrap_or("");
        let _ = writeln!(
            out,
            "  ! {} `{}`: {} of {} gave up — {sample}",
            s.kind, s.name, s.gave_up, s.runs
        );
    }
}

/// Which latency a report's request numbers are: the latency from each iteration's intended
/// start in an open model, else the service time.
pub(super) fn latency_basis(load: &crate::report::LoadReport) -> &'static str {
    if load.config.open {
        "from intended start = service time + start lateness"
    } else {
        "service time"
    }
}

fn objective_line(o: &ObjectiveResult) -> String {
    let verdict = if o.passed { "ok  " } else { "FAIL" };
    let actual = match o.actual {
        Some(a) => {
            let mut shown = value(a, &o.unit);
            // Rounded to the threshold's label, a value just under it would read as equal to
            // it: show its exact digits then.
            if a != o.expected && shown == value(o.expected, &o.unit) {
                shown = exact(a, &o.unit);
            }
            let mut s = format!("actual {shown}");
            if !o.passed {
                let (diff, word) = if o.comparison == "below" {
                    (a - o.expected, "over")
                } else {
                    (o.expected - a, "short")
                };
                let _ = write!(s, ", {} {word}", value(diff, &o.unit));
                // A relative miss reads well for latency and throughput, not for a share.
                if o.expected != 0.0 && o.unit != "ratio" {
                    let _ = write!(s, " ({}%)", sig(diff / o.expected * 100.0));
                }
            }
            s
        }
        None => o.detail.clone().unwrap_or_else(|| "not measured".into()),
    };
    format!("{verdict}  {}: {actual}", objective_label(o))
}

/// The message libtest prints (and JUnit carries) for a failed scenario: every problem, the
/// objectives with expected and actual values, the seed and the replay command.
pub fn failure_message(s: &ScenarioReport) -> String {
    let mut out = String::new();
    if s.outcome == Outcome::Inconclusive {
        let _ = writeln!(
            out,
            "scenario `{}` is inconclusive: its measurement cannot be trusted (seed {}; \
             `--inconclusive warn` passes it with a warning)",
            s.name, s.seed
        );
    } else {
        let _ = writeln!(out, "scenario `{}` failed (seed {})", s.name, s.seed);
    }
    for p in &s.problems {
        let _ = writeln!(out, "  - {p}");
    }
    for d in &s.doubts {
        let _ = writeln!(out, "  - measurement in doubt: {d}");
    }
    if let Some(load) = &s.load {
        if !load.objectives.is_empty() {
            let _ = writeln!(out, "objectives:");
            for o in &load.objectives {
                let _ = writeln!(out, "  {}", objective_line(o));
            }
        }
        let t = &load.total;
        let _ = writeln!(
            out,
            "requests: {} ({} failed, {}), p99 {}",
            t.count,
            t.failed,
            value(t.error_rate, "ratio"),
            latency(t.latency_ms.p99)
        );
    }
    let _ = write!(out, "replay: {}", s.replay);
    let turbulence = s.load.as_ref().and_then(|l| l.turbulence.as_ref());
    if let Some(tape) = turbulence.and_then(|t| t.tape.as_ref()) {
        let _ = write!(
            out,
            "\n{}",
            tape_line(tape, turbulence.and_then(|t| t.replayed_tape.as_deref()))
        );
    }
    out
}

/// The load model in a few words: "20 users", "500/s", "ramping rate (3 stages)".
pub(super) fn load_label(load: &crate::report::LoadReport) -> String {
    let c = &load.config;
    let whole = match (c.model.as_str(), c.users, c.rate) {
        ("ramping_users", Some(u), _) => {
            format!("ramping users (up to {u}, {} stages)", c.stages.len())
        }
        ("ramping_rate", _, _) => format!("ramping rate ({} stages)", c.stages.len()),
        ("capacity", _, Some(r)) => format!("capacity search from {}/s", sig(r)),
        (_, Some(u), _) => format!("{u} users"),
        (_, _, Some(r)) => format!("{}/s", sig(r)),
        (model, _, _) => model.to_owned(),
    };
    match &c.segment {
        Some(seg) => format!("segment {seg} of {whole}"),
        None => whole,
    }
}

/// A capacity search's result in words: "150/s (125–175/s)", "at least 400/s (the maximum)".
pub(crate) fn capacity_found(c: &crate::report::CapacityReport) -> String {
    let repeats = if c.repeats > 1 {
        format!(", each rate {} times", c.repeats)
    } else {
        String::new()
    };
    match (c.rate, c.interval) {
        (None, _) => "none".into(),
        (Some(r), Some([lo, hi])) => {
            format!(
                "{}/s (between {}/s and {}/s{repeats})",
                sig(r),
                sig(lo),
                sig(hi)
            )
        }
        (Some(r), None) => match c.generator_bound_from {
            Some(g) => format!(
                "at least {}/s (the generator became the bottleneck at {}/s{repeats})",
                sig(r),
                sig(g)
            ),
            None if c.at_least => format!("at least {}/s (the maximum tried{repeats})", sig(r)),
            None => format!("{}/s{repeats}", sig(r)),
        },
    }
}

/// The table printed on the terminal after a scenario.
pub fn scenario_summary(s: &ScenarioReport) -> String {
    let mut out = String::new();
    // A failure is shouted: it is what the reader looks for.
    let outcome = match s.outcome {
        Outcome::Failed => "FAILED",
        Outcome::Inconclusive => "INCONCLUSIVE",
        other => other.as_str(),
    };
    let _ = write!(
        out,
        "── {} ── {outcome} in {:.2} s · seed {}",
        s.name, s.duration_s, s.seed
    );
    let Some(load) = &s.load else {
        out.push('\n');
        return out;
    };
    let _ = writeln!(
        out,
        " · {} · {} requests · {}",
        load_label(load),
        load.total.count,
        value(load.total.throughput_rps, "req/s")
    );
    // Under `inconclusive = "warn"` the scenario passed, and these are its warnings.
    let doubt = if s.outcome == Outcome::Inconclusive {
        "inconclusive"
    } else {
        "warning: measurement in doubt"
    };
    for d in &s.doubts {
        let _ = writeln!(out, "  ? {doubt}: {d}");
    }
    if let Some(g) = load.generator.as_ref().filter(|g| g.sampled_s > 0.0) {
        let _ = writeln!(
            out,
            "  generator CPU: {:.0}% of {} core(s) on average, peak {:.0}%, saturated {:.1} of \
             {:.1} s",
            g.cpu_mean * 100.0,
            g.cores,
            g.cpu_peak * 100.0,
            g.saturated_s,
            g.sampled_s
        );
    }
    if let Some(s) = &load.schedule {
        let _ = writeln!(
            out,
            "  latency from each iteration's intended start · iterations: {} started, {} \
             dropped (due, not started) · start lateness p99 {}",
            s.started,
            s.dropped,
            latency(s.start_lateness_ms.p99)
        );
    }
    if let Some(c) = &load.capacity {
        let _ = writeln!(
            out,
            "  capacity: {} · first broken: {} · steps: {}",
            capacity_found(c),
            c.broke_first.as_deref().unwrap_or("none"),
            c.curve
                .iter()
                .map(|s| {
                    let verdict = match (&s.generator_bound, s.passed) {
                        (Some(_), _) => "generator-bound",
                        (None, true) => "ok",
                        (None, false) => "FAIL",
                    };
                    format!("{}/s {verdict}", sig(s.rate))
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        if c.rate.is_some() {
            let _ = writeln!(out, "  the tables below are the knee step's");
        }
    }
    if let Some(t) = &load.turbulence {
        turbulence_lines(&mut out, t);
    }
    let mut rows: Vec<&RequestReport> = load.requests.iter().collect();
    if load.requests.len() > 1 {
        rows.push(&load.total);
    }
    if rows.is_empty() {
        let _ = writeln!(out, "  no requests recorded");
    }
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>8}  {:>7}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  (latency: {})",
            "request",
            "count",
            "failed",
            "req/s",
            "p50",
            "p90",
            "p99",
            "max",
            latency_basis(load)
        );
    }
    for r in rows {
        // An open model's latency counts from each iteration's intended start.
        let l = r.intended_latency_ms.as_ref().unwrap_or(&r.latency_ms);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>8}  {:>7}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
            if r.name == "*" { "(all)" } else { &r.name },
            r.count,
            value(r.error_rate, "ratio"),
            sig(r.throughput_rps),
            latency(l.p50),
            latency(l.p90),
            latency(l.p99),
            latency(l.max),
        );
    }
    if !load.services.is_empty() {
        let width = load
            .services
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(7);
        let _ = writeln!(
            out,
            "  {:<width$}  {:>8}  {:>7}  {:>9}  {:>9}  {:>9}  {:>9}  url",
            "service", "count", "failed", "req/s", "p50", "p99", "max"
        );
        for s in &load.services {
            let t = &s.total;
            let l = t.intended_latency_ms.as_ref().unwrap_or(&t.latency_ms);
            let _ = writeln!(
                out,
                "  {:<width$}  {:>8}  {:>7}  {:>9}  {:>9}  {:>9}  {:>9}  {}",
                s.name,
                t.count,
                value(t.error_rate, "ratio"),
                sig(t.throughput_rps),
                latency(l.p50),
                latency(l.p99),
                latency(l.max),
                s.url
            );
        }
    }
    for r in load.requests.iter().filter(|r| !r.errors.is_empty()) {
        for e in &r.errors {
            let sample = e.samples.first().map(String::as_str).unwrap_or("");
            let _ = writeln!(out, "  ! {}: {} × {} — {sample}", r.name, e.count, e.kind);
        }
    }
    for s in &load.steps {
        step_line(&mut out, s);
    }
    for v in &load.variations {
        let values: Vec<String> = v
            .values
            .iter()
            .map(|x| format!("{} {} ({} failed)", x.value, x.iterations, x.failed))
            .collect();
        let _ = writeln!(out, "  variation `{}`: {}", v.name, values.join(" · "));
    }
    for c in load.checks.iter().filter(|c| c.failed > 0) {
        let _ = writeln!(
            out,
            "  ! check `{}`: {} of {} failed",
            c.name,
            c.failed,
            c.passed + c.failed
        );
    }
    for it in &load.iterations {
        if let Some(d) = &it.duration_ms {
            let _ = writeln!(
                out,
                "  agent `{}`: {} iterations · duration p50 {} · p95 {} · max {} ({})",
                it.agent,
                it.count(),
                latency(d.p50),
                latency(d.p95),
                latency(d.max),
                iteration_basis(load)
            );
        }
    }
    for it in &load.iterations {
        let all = it.count();
        for f in &it.failures {
            let sample = f.samples.first().map(String::as_str).unwrap_or("");
            let _ = writeln!(
                out,
                "  ! agent `{}`: {} of {all} iterations failed ({}) — {sample}",
                it.agent, f.count, f.kind
            );
        }
        for p in &it.panics {
            let _ = writeln!(
                out,
                "  ! agent `{}` panicked {} × — {}",
                it.agent, p.count, p.message
            );
        }
    }
    if load.cancelled_iterations > 0 {
        let _ = writeln!(
            out,
            "  ! {} in-flight iterations cancelled after the graceful stop",
            load.cancelled_iterations
        );
    }
    if let (Some(seg), false) = (&load.config.segment, load.objectives.is_empty()) {
        let _ = writeln!(
            out,
            "  objectives on segment {seg} alone (they do not fail it; `windtunnel merge` \
             judges the whole):"
        );
    }
    for o in &load.objectives {
        let _ = writeln!(out, "  {}", objective_line(o));
    }
    out
}

/// One line per turbulence phase: when, what it injected, and the SUT's own failures; then the
/// warnings.
fn turbulence_lines(out: &mut String, t: &TurbulenceReport) {
    if let Some(spec) = &t.overridden_by {
        let _ = writeln!(out, "  turbulence from outside the code: {spec}");
    }
    for phase in &t.phases {
        let injected: Vec<String> = phase
            .rules
            .iter()
            .map(|r| format!("{} ×{}", r.rule, r.injected))
            .chain(
                phase
                    .toxics
                    .iter()
                    .map(|x| format!("{} on `{}` ×{}", x.toxic, x.proxy, x.applied)),
            )
            .collect();
        let when = match phase.occurrences.as_slice() {
            [] => "never active".to_owned(),
            [[from, to]] => format!("{}–{} s", sig(*from), sig(*to)),
            many => format!(
                "{} times from {} s, {} s in all",
                many.len(),
                sig(many[0][0]),
                sig(phase.active_s)
            ),
        };
        let _ = writeln!(
            out,
            "  turbulence `{}` ({when}): {} requests, {} failed ({} injected, {} by the SUT) · {}",
            phase.name,
            phase.requests,
            phase.failed,
            phase.injected_failures,
            phase.sut_failures,
            injected.join(", ")
        );
    }
    if let Some(tape) = &t.tape {
        let _ = writeln!(out, "  {}", tape_line(tape, t.replayed_tape.as_deref()));
    }
    for w in &t.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
}

/// The fault tape in one line: where, its hash, what it holds, and whether this run replayed one.
fn tape_line(tape: &crate::report::TapeRef, replayed: Option<&str>) -> String {
    let short = |h: &str| h.chars().take(16).collect::<String>();
    let mut line = format!(
        "fault tape {} (sha256 {}…): {} HTTP faults, {} toxic decisions",
        tape.file,
        short(&tape.sha256),
        tape.requests,
        tape.connections
    );
    if !tape.complete {
        line.push_str(", incomplete (cannot be replayed exactly)");
    }
    match replayed {
        Some(h) => {
            let _ = write!(line, "; this run replayed tape {}…", short(h));
        }
        None => line.push_str("; `windtunnel replay` injects exactly these"),
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::scenario;

    #[test]
    fn summary_table() {
        insta::assert_snapshot!(scenario_summary(&scenario()));
    }

    #[test]
    fn failure_message_lists_objectives_seed_and_replay() {
        insta::assert_snapshot!(failure_message(&scenario()));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(sig(0.0), "0");
        assert_eq!(sig(0.1234), "0.123");
        assert_eq!(sig(12.0), "12");
        assert_eq!(sig(1234.4), "1234");
        assert_eq!(latency(1500.0), "1.50 s");
        assert_eq!(value(0.0125, "ratio"), "1.25%");
    }

    #[test]
    fn a_value_just_under_its_threshold_does_not_read_as_equal() {
        let mut o = scenario().load.unwrap().objectives.remove(0);
        (o.expected, o.actual, o.passed) = (400.0, Some(399.87), true);
        assert!(
            objective_line(&o).ends_with("actual 399.87 ms"),
            "{}",
            objective_line(&o)
        );
        o.actual = Some(250.0);
        assert!(
            objective_line(&o).ends_with("actual 250 ms"),
            "{}",
            objective_line(&o)
        );
    }
}
