//! `report.html`: the run for people, in one self-contained file (inline CSS, charts as inline
//! SVG drawn by plotters; nothing fetched from the network, so it opens from a CI artifact).
//!
//! Everything that came from the SUT or from user code (names, messages, samples, URLs) goes
//! through [`esc`]. Charts carry only our own labels; names appear in the HTML around them.

use std::fmt::Write;

use plotters::prelude::*;

use super::findings::Finding;
use super::model::{LoadReport, Outcome, Report, RequestReport, ScenarioReport, SeriesPoint};
use super::summary::{
    iteration_basis, latency, latency_basis, load_label, objective_label, sig, value,
};

/// Renders `report` as a self-contained HTML page. Findings are shown as the report holds them
/// (the harness stores them; [`read_report`](super::read_report) computes them for older
/// reports).
pub fn to_html(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("windtunnel · run {}", report.run_id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let passed = report
        .scenarios
        .iter()
        .filter(|s| s.outcome == Outcome::Passed)
        .count();
    let _ = writeln!(
        out,
        "<header><h1>windtunnel report</h1><p class=\"meta\">run <code>{}</code> · started {} · \
         ended {} · {} of {} scenarios passed{} · windtunnel {}</p></header>",
        esc(&report.run_id),
        esc(&report.started_at),
        esc(report.ended_at.as_deref().unwrap_or("(not yet)")),
        passed,
        report.scenarios.len(),
        if report.complete {
            ""
        } else {
            " · <strong>incomplete run</strong>"
        },
        esc(&report.tool.version),
    );
    out.push_str("<nav><ul>\n");
    for (i, s) in report.scenarios.iter().enumerate() {
        let _ = writeln!(
            out,
            "<li><a href=\"#s{i}\">{}</a> {}</li>",
            esc(&s.name),
            badge(s.outcome)
        );
    }
    out.push_str("</ul></nav>\n<main>\n");
    for (i, s) in report.scenarios.iter().enumerate() {
        scenario(&mut out, i, s);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn badge(o: Outcome) -> String {
    let name = o.as_str();
    format!("<span class=\"badge {name}\">{name}</span>")
}

fn scenario(out: &mut String, i: usize, s: &ScenarioReport) {
    let _ = write!(
        out,
        "<section class=\"scenario\" id=\"s{i}\">\n<h2>{} {}</h2>\n<dl>",
        esc(&s.name),
        badge(s.outcome)
    );
    let mut item = |k: &str, v: String| {
        let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
    };
    item("seed", s.seed.to_string());
    item("duration", format!("{} s", sig(s.duration_s)));
    if let Some(load) = &s.load {
        item("load", esc(&load_label(load)));
        item(
            "target",
            format!("<code>{}</code>", esc(&load.config.target)),
        );
        item("stopped", esc(&stop_text(load)));
    }
    item("defined at", esc(&format!("{}:{}", s.file, s.line)));
    item("replay", format!("<code>{}</code>", esc(&s.replay)));
    out.push_str("</dl>\n");
    if !s.problems.is_empty() {
        out.push_str("<ul class=\"problems\">");
        for p in &s.problems {
            let _ = write!(out, "<li>{}</li>", esc(p));
        }
        out.push_str("</ul>\n");
    }
    if !s.doubts.is_empty() {
        out.push_str("<ul class=\"doubts\">");
        for d in &s.doubts {
            let _ = write!(out, "<li>measurement in doubt: {}</li>", esc(d));
        }
        out.push_str("</ul>\n");
    }
    findings_table(out, &s.findings);
    settings_table(out, &s.settings);
    let Some(load) = &s.load else {
        out.push_str("</section>\n");
        return;
    };
    objectives_table(out, load);
    charts(out, load);
    requests_table(out, load);
    errors_list(out, load);
    checks_and_iterations(out, load);
    turbulence_table(out, load);
    out.push_str("</section>\n");
}

/// Each resolved setting and where it came from, folded: it answers "why did it run like this?".
fn settings_table(out: &mut String, settings: &[crate::report::Setting]) {
    if settings.is_empty() {
        return;
    }
    out.push_str(
        "<details><summary>Settings</summary>\n<table><thead><tr><th>setting</th><th>value</th>\
         <th>from</th></tr></thead><tbody>\n",
    );
    for s in settings {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&s.name),
            esc(&s.value),
            esc(&s.source)
        );
    }
    out.push_str("</tbody></table></details>\n");
}

fn stop_text(load: &LoadReport) -> String {
    let reason = serde_json::to_value(load.stop.reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match &load.stop.detail {
        Some(d) => format!("{reason}: {d} (after {} s)", sig(load.elapsed_s)),
        None => format!("{reason} (after {} s)", sig(load.elapsed_s)),
    }
}

fn findings_table(out: &mut String, findings: &[Finding]) {
    out.push_str("<h3>Findings</h3>\n");
    if findings.is_empty() {
        out.push_str("<p class=\"none\">No findings.</p>\n");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>severity</th><th>type</th><th>finding</th><th>evidence</th></tr>\
         </thead><tbody>\n",
    );
    for f in findings {
        let mut evidence = String::new();
        match f.evidence.total {
            Some(t) => {
                let _ = write!(evidence, "{} of {t}", f.evidence.count);
            }
            None => {
                let _ = write!(evidence, "{}×", f.evidence.count);
            }
        }
        if let Some(p) = &f.evidence.phase {
            let _ = write!(evidence, " · during <em>{}</em>", esc(p));
        }
        for sample in f.evidence.samples.iter().take(3) {
            let _ = write!(evidence, "<br><code>{}</code>", esc(sample));
        }
        let _ = writeln!(
            out,
            "<tr><td><span class=\"sev {sev}\">{sev}</span></td><td>{}</td><td>{}</td><td>{evidence}</td></tr>",
            f.kind.as_str(),
            esc(&f.title),
            sev = f.severity.as_str(),
        );
    }
    out.push_str("</tbody></table>\n");
}

fn objectives_table(out: &mut String, load: &LoadReport) {
    if load.objectives.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Objectives</h3>\n<table><thead><tr><th>objective</th><th>expected</th>\
         <th>actual</th><th></th></tr></thead><tbody>\n",
    );
    for o in &load.objectives {
        let op = if o.comparison == "below" {
            "≤"
        } else {
            "≥"
        };
        let actual = match o.actual {
            Some(a) => value(a, &o.unit),
            None => format!("— ({})", o.detail.as_deref().unwrap_or("not measured")),
        };
        let _ = writeln!(
            out,
            "<tr class=\"{cls}\"><td>{}</td><td>{op} {}</td><td>{}</td><td>{cls}</td></tr>",
            esc(&objective_label(o)),
            esc(&value(o.expected, &o.unit)),
            esc(&actual),
            cls = if o.passed { "pass" } else { "fail" },
        );
    }
    out.push_str("</tbody></table>\n");
}

/// One line of a chart: its legend, colour and points.
struct Line {
    label: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

fn charts(out: &mut String, load: &LoadReport) {
    let points = &load.series.points;
    if points.is_empty() {
        return;
    }
    let step = load.series.interval_s;
    let x_max = points
        .last()
        .map_or(1.0, |p| p.t_s + step)
        .max(load.elapsed_s);
    let phases: Vec<(f64, f64)> = load.turbulence.as_ref().map_or(Vec::new(), |t| {
        t.phases
            .iter()
            .flat_map(|p| p.occurrences.iter().map(|o| (o[0], o[1].min(x_max))))
            .collect()
    });
    let at = |p: &SeriesPoint| p.t_s + step / 2.0;
    let of = |f: &dyn Fn(&SeriesPoint) -> Option<f64>| -> Vec<(f64, f64)> {
        points.iter().filter_map(|p| Some((at(p), f(p)?))).collect()
    };
    out.push_str("<h3>Over time</h3>\n");
    if let Some(t) = &load.turbulence {
        out.push_str("<p class=\"legend\">Shaded: turbulence phases (");
        let names: Vec<String> = t
            .phases
            .iter()
            .map(|p| {
                let spans: Vec<String> = p
                    .occurrences
                    .iter()
                    .map(|o| format!("{}–{} s", sig(o[0]), sig(o[1])))
                    .collect();
                format!("<em>{}</em> {}", esc(&p.name), spans.join(", "))
            })
            .collect();
        out.push_str(&names.join("; "));
        out.push_str(").</p>\n");
    }
    out.push_str("<div class=\"charts\">\n");
    // The last point may cover less than an interval (the load ended inside it): rates are
    // per second of the time it covered, and a sliver of under 100 ms is left out.
    let covered = |p: &SeriesPoint| (load.elapsed_s - p.t_s).min(step);
    let per_second = |p: &SeriesPoint, n: u64| {
        let c = covered(p);
        (c >= 0.1).then(|| n as f64 / c)
    };
    let throughput = [
        Line {
            label: "requests/s",
            color: RGBColor(31, 119, 180),
            points: of(&|p| per_second(p, p.requests)),
        },
        Line {
            label: "failed/s",
            color: RGBColor(214, 39, 40),
            points: of(&|p| per_second(p, p.failed)),
        },
    ];
    out.push_str(&chart(
        "Throughput",
        "per second",
        &throughput,
        &phases,
        x_max,
    ));
    let percentile =
        |f: fn(&super::model::Percentiles) -> f64| of(&move |p| p.latency_ms.as_ref().map(f));
    let latency_lines = [
        Line {
            label: "p50",
            color: RGBColor(44, 160, 44),
            points: percentile(|q| q.p50),
        },
        Line {
            label: "p95",
            color: RGBColor(255, 127, 14),
            points: percentile(|q| q.p95),
        },
        Line {
            label: "p99",
            color: RGBColor(214, 39, 40),
            points: percentile(|q| q.p99),
        },
    ];
    out.push_str(&chart(
        "Latency (service time)",
        "ms",
        &latency_lines,
        &phases,
        x_max,
    ));
    let errors = [Line {
        label: "error rate %",
        color: RGBColor(214, 39, 40),
        points: of(&|p| (p.requests > 0).then(|| 100.0 * p.failed as f64 / p.requests as f64)),
    }];
    out.push_str(&chart("Errors", "% of requests", &errors, &phases, x_max));
    let agents = [Line {
        label: "active agents",
        color: RGBColor(148, 103, 189),
        points: of(&|p| Some(p.active_agents as f64)),
    }];
    out.push_str(&chart("Active agents", "agents", &agents, &phases, x_max));
    out.push_str("</div>\n");
}

/// One chart as inline SVG, or a note saying why it could not be drawn.
fn chart(title: &str, y_desc: &str, lines: &[Line], phases: &[(f64, f64)], x_max: f64) -> String {
    let mut svg = String::new();
    let drawn = draw(&mut svg, title, y_desc, lines, phases, x_max);
    match drawn {
        Ok(()) => format!("<figure>{svg}</figure>\n"),
        Err(e) => format!(
            "<figure><p class=\"none\">{} not drawn: {}</p></figure>\n",
            esc(title),
            esc(&e)
        ),
    }
}

fn draw(
    svg: &mut String,
    title: &str,
    y_desc: &str,
    lines: &[Line],
    phases: &[(f64, f64)],
    x_max: f64,
) -> Result<(), String> {
    let y_top = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let y_max = if y_top > 0.0 { y_top * 1.1 } else { 1.0 };
    let root = SVGBackend::with_string(svg, (640, 260)).into_drawing_area();
    let e = |e: plotters::drawing::DrawingAreaErrorKind<std::io::Error>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max.max(1.0), 0.0..y_max)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(y_desc)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    chart
        .draw_series(phases.iter().map(|&(a, b)| {
            Rectangle::new(
                [(a, 0.0), (b, y_max)],
                RGBColor(255, 165, 0).mix(0.2).filled(),
            )
        }))
        .map_err(e)?;
    for line in lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(e)?
            .label(line.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

fn requests_table(out: &mut String, load: &LoadReport) {
    out.push_str(
        "<h3>Requests</h3>\n<table class=\"num\"><caption>latency: service time, from \
         sending the request to its complete response</caption><thead><tr><th>request</th>\
         <th>count</th><th>failed</th><th>error rate</th><th>req/s</th><th>p50</th><th>p90</th>\
         <th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>statuses</th></tr></thead>\
         <tbody>\n",
    );
    for r in load.requests.iter().chain(std::iter::once(&load.total)) {
        request_row(out, r, std::ptr::eq(r, &load.total));
    }
    out.push_str("</tbody></table>\n");
    if !load.config.open {
        return;
    }
    let _ = writeln!(
        out,
        "<table class=\"num\"><caption>latency {}: what objectives judge by default in an \
         open model</caption><thead><tr><th>request</th><th>p50</th><th>p90</th><th>p95</th>\
         <th>p99</th><th>p99.9</th><th>max</th></tr></thead><tbody>",
        esc(latency_basis(load))
    );
    for r in load.requests.iter().chain(std::iter::once(&load.total)) {
        let Some(l) = &r.intended_latency_ms else {
            continue;
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td>{}</tr>",
            if std::ptr::eq(r, &load.total) {
                "all requests".to_owned()
            } else {
                esc(&r.name)
            },
            latency_cells(l)
        );
    }
    out.push_str("</tbody></table>\n");
}

fn request_row(out: &mut String, r: &RequestReport, total: bool) {
    let l = &r.latency_ms;
    let statuses: Vec<String> = r
        .statuses
        .iter()
        .map(|(code, n)| format!("{}: {n}", esc(code)))
        .collect();
    let _ = writeln!(
        out,
        "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td></tr>",
        if total { " class=\"total\"" } else { "" },
        if total {
            "all requests".to_owned()
        } else {
            esc(&r.name)
        },
        r.count,
        r.failed,
        value(r.error_rate, "ratio"),
        sig(r.throughput_rps),
        latency_cells(l),
        statuses.join(", "),
    );
}

/// The cells p50, p90, p95, p99, p99.9 and max of a latency.
fn latency_cells(l: &super::model::LatencyReport) -> String {
    [l.p50, l.p90, l.p95, l.p99, l.p999, l.max]
        .iter()
        .map(|&v| format!("<td>{}</td>", latency(v)))
        .collect()
}

fn errors_list(out: &mut String, load: &LoadReport) {
    let failing: Vec<&RequestReport> = load
        .requests
        .iter()
        .filter(|r| !r.errors.is_empty())
        .collect();
    if failing.is_empty() {
        return;
    }
    out.push_str("<h3>Errors</h3>\n<table><thead><tr><th>request</th><th>kind</th><th>count</th><th>samples</th></tr></thead><tbody>\n");
    for r in failing {
        for e in &r.errors {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.name),
                esc(&e.kind),
                e.count,
                code_lines(&e.samples)
            );
        }
    }
    out.push_str("</tbody></table>\n");
}

fn checks_and_iterations(out: &mut String, load: &LoadReport) {
    if !load.services.is_empty() {
        out.push_str(
            "<h3>Services</h3>\n<table><thead><tr><th>service</th><th>URL</th><th>requests</th>\
             <th>failed</th><th>req/s</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th>\
             <th>p99.9</th><th>max</th></tr></thead><tbody>\n",
        );
        for s in &load.services {
            let t = &s.total;
            let _ = writeln!(
                out,
                "<tr class=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>\
                 <td>{}</td>{}</tr>",
                if t.failed > 0 { "fail" } else { "pass" },
                esc(&s.name),
                esc(&s.url),
                t.count,
                t.failed,
                sig(t.throughput_rps),
                latency_cells(t.intended_latency_ms.as_ref().unwrap_or(&t.latency_ms))
            );
        }
        out.push_str("</tbody></table>\n");
    }
    if !load.variations.is_empty() {
        out.push_str(
            "<h3>Variations</h3>\n<table><thead><tr><th>variation</th><th>value</th>\
             <th>iterations</th><th>failed</th><th>failed share</th></tr></thead><tbody>\n",
        );
        for v in &load.variations {
            for x in &v.values {
                let share = if x.iterations == 0 {
                    0.0
                } else {
                    x.failed as f64 / x.iterations as f64
                };
                let _ = writeln!(
                    out,
                    "<tr class=\"{}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>\
                     <td>{}</td></tr>",
                    if x.failed > 0 { "fail" } else { "pass" },
                    esc(&v.name),
                    esc(&x.value),
                    x.iterations,
                    x.failed,
                    super::summary::value(share, "ratio")
                );
            }
        }
        out.push_str("</tbody></table>\n");
    }
    if !load.steps.is_empty() {
        out.push_str(
            "<h3>Workflow steps</h3>\n<table><thead><tr><th>step</th><th>kind</th><th>runs</th>\
             <th>at once</th><th>after more attempts</th><th>gave up</th><th>attempts</th>\
             <th>max in one</th><th>duration p50</th><th>p90</th><th>p95</th><th>p99</th>\
             <th>p99.9</th><th>max</th><th>why it gave up</th></tr></thead><tbody>\n",
        );
        for st in &load.steps {
            let durations = st.operation.as_ref().map_or_else(
                || "<td colspan=\"6\">(its requests are its record)</td>".to_owned(),
                |o| latency_cells(o.intended_latency_ms.as_ref().unwrap_or(&o.latency_ms)),
            );
            let _ = writeln!(
                out,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td>{durations}<td>{}</td></tr>",
                if st.gave_up > 0 { "fail" } else { "pass" },
                esc(&st.name),
                esc(&st.kind),
                st.runs,
                st.first_attempt,
                st.later_attempt,
                st.gave_up,
                st.attempts,
                st.max_attempts,
                code_lines(&st.samples)
            );
        }
        out.push_str("</tbody></table>\n");
    }
    if !load.checks.is_empty() {
        out.push_str("<h3>Checks</h3>\n<table><thead><tr><th>check</th><th>passed</th><th>failed</th><th>samples</th></tr></thead><tbody>\n");
        for c in &load.checks {
            let _ = writeln!(
                out,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if c.failed > 0 { "fail" } else { "pass" },
                esc(&c.name),
                c.passed,
                c.failed,
                code_lines(&c.samples)
            );
        }
        out.push_str("</tbody></table>\n");
    }
    let _ = writeln!(
        out,
        "<h3>Agents</h3>\n<table><thead><tr><th>agent</th><th>completed</th><th>failed</th>\
         <th>panicked</th><th>duration p50 / p95 / max ({})</th><th>why</th></tr></thead><tbody>",
        iteration_basis(load)
    );
    for it in &load.iterations {
        let mut why: Vec<String> = it
            .failures
            .iter()
            .map(|f| {
                let sample = f
                    .samples
                    .first()
                    .map_or(String::new(), |s| format!(": <code>{}</code>", esc(s)));
                format!("{} × {}{sample}", f.count, esc(&f.kind))
            })
            .collect();
        why.extend(it.panics.iter().map(|p| {
            format!(
                "{} × panic <code>{}</code> (agents {})",
                p.count,
                esc(&p.message),
                p.agent_ids
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }));
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&it.agent),
            it.completed,
            it.failed,
            it.panicked,
            it.duration_ms.as_ref().map_or("—".to_owned(), |d| format!(
                "{} / {} / {}",
                latency(d.p50),
                latency(d.p95),
                latency(d.max)
            )),
            why.join("<br>")
        );
    }
    out.push_str("</tbody></table>\n");
}

fn turbulence_table(out: &mut String, load: &LoadReport) {
    let Some(t) = &load.turbulence else {
        return;
    };
    out.push_str("<h3>Turbulence</h3>\n<table><thead><tr><th>phase</th><th>active</th><th>requests</th><th>failed</th><th>injected</th><th>by the SUT</th><th>rules</th></tr></thead><tbody>\n");
    for p in &t.phases {
        let rules: Vec<String> = p
            .rules
            .iter()
            .map(|r| format!("{} ×{} of {}", esc(&r.rule), r.injected, r.matched))
            .chain(
                p.toxics
                    .iter()
                    .map(|x| format!("{} ×{}", esc(&x.toxic), x.applied)),
            )
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{} s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.name),
            sig(p.active_s),
            p.requests,
            p.failed,
            p.injected_failures,
            p.sut_failures,
            rules.join("<br>")
        );
    }
    out.push_str("</tbody></table>\n");
    for w in &t.warnings {
        let _ = writeln!(out, "<p class=\"warning\">{}</p>", esc(w));
    }
}

/// Messages as escaped code, one per line.
fn code_lines(samples: &[String]) -> String {
    let lines: Vec<String> = samples
        .iter()
        .map(|s| format!("<code>{}</code>", esc(s)))
        .collect();
    lines.join("<br>")
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:22px}
.meta{margin:0;color:#d1d5db;font-size:14px}
nav{padding:8px 24px;background:#fff;border-bottom:1px solid #e5e7eb}
nav ul{margin:0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:6px 18px}
main{padding:0 24px 40px}
.scenario{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:20px 0;padding:8px 20px 20px}
h2{font-size:19px}
h3{font-size:16px;margin:22px 0 8px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:14px}
dt{color:#6b7280}
dd{margin:0}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
table.num td+td{text-align:right}
tr.total td{font-weight:600}
tr.fail td{background:#fef2f2}
code{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.badge{font-size:12px;padding:2px 8px;border-radius:10px;color:#fff;vertical-align:middle}
.passed{background:#16a34a}.failed{background:#dc2626}.skipped{background:#6b7280}
.running{background:#2563eb}.interrupted{background:#d97706}.inconclusive{background:#7c3aed}
.doubts{color:#6d28d9}
.sev{font-size:12px;padding:1px 6px;border-radius:4px;color:#fff}
.critical{background:#7f1d1d}.high{background:#dc2626}.medium{background:#d97706}.low{background:#2563eb}.info{background:#6b7280}
.problems{color:#b91c1c}
.none,.legend{color:#6b7280;font-size:13px}
.warning{color:#b45309;font-size:13px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:8px}
figure{margin:0}
figure svg{max-width:100%;height:auto}
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::scenario;
    use crate::report::model::{SeriesPoint, SeriesReport, ToolInfo};

    fn report() -> Report {
        let mut s = scenario();
        let load = s.load.as_mut().unwrap();
        load.series = SeriesReport {
            interval_s: 1.0,
            points: (0..4)
                .map(|t| SeriesPoint {
                    t_s: f64::from(t),
                    requests: 400,
                    failed: 5,
                    throughput_rps: 400.0,
                    iterations: 400,
                    started: None,
                    dropped: None,
                    active_agents: 10,
                    latency_ms: Some(crate::report::Percentiles {
                        p50: 5.0,
                        p90: 9.0,
                        p95: 12.0,
                        p99: 30.0,
                        max: 40.0,
                    }),
                    intended_latency_ms: None,
                })
                .collect(),
        };
        // What the SUT sent back ends up in samples: it must stay text.
        load.requests[0].errors[0].samples = vec!["503: <script>alert('x')</script>".into()];
        s.findings = crate::report::findings(&s);
        s.settings = vec![crate::report::Setting {
            name: "users".into(),
            value: "200".into(),
            source: "flag --users".into(),
        }];
        Report {
            schema_version: crate::report::SCHEMA_VERSION,
            tool: ToolInfo::default(),
            run_id: "run-1".into(),
            started_at: "2026-11-21T03:00:00Z".into(),
            ended_at: Some("2026-11-21T03:00:04Z".into()),
            complete: true,
            scenarios: vec![s],
        }
    }

    #[test]
    fn one_page_with_header_tables_and_four_charts() {
        let html = to_html(&report());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        for part in [
            "<h2>shop::checkout <span class=\"badge failed\">failed</span></h2>",
            "<h3>Findings</h3>",
            "<h3>Objectives</h3>",
            "<h3>Requests</h3>",
            "<h3>Errors</h3>",
            "<dt>seed</dt><dd>42</dd>",
            "<tr><td>users</td><td><code>200</code></td><td>flag --users</td></tr>",
            "<td>p99 latency of `checkout` below 20 ms [service time]</td><td>≤ 20 ms</td><td>31.5 ms</td>",
        ] {
            assert!(html.contains(part), "missing {part}");
        }
        assert_eq!(html.matches("<svg").count(), 4);
        assert_eq!(
            html.matches("<section").count(),
            html.matches("</section>").count()
        );
        // Self-contained: nothing is loaded from anywhere.
        for external in ["<script", "<link", "src=", "http://", "https://"] {
            let outside_data = html
                .replace("http://127.0.0.1:1234", "")
                .replace("http://www.w3.org/2000/svg", "");
            assert!(!outside_data.contains(external), "found {external}");
        }
    }

    #[test]
    fn what_the_sut_sent_stays_text() {
        let html = to_html(&report());
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    }

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            esc(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
