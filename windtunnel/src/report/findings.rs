//! Findings: what a scenario's report says went wrong, one item each, with a type, a severity
//! and the evidence. A pure function of the [`ScenarioReport`], so reports of older runs get the
//! same findings when a tool reads them.
//!
//! The rules, in the order findings are made (the README lists them too):
//!
//! | rule | source | type | severity |
//! |---|---|---|---|
//! | `unreachable` | the load was aborted: the target refused every connection | reliability | critical |
//! | `inconclusive` | the measurement cannot be trusted: the generator's CPU was saturated, or an open model started its iterations late | performance | critical |
//! | `panic` | an agent panicked | bug | critical when every iteration of the agent panicked, else high |
//! | `iterations` | iterations of one agent failed (returned an error) with one class: `check`, `http`, `error` | `http`: reliability; `check`, `error`: bug | by the share of the agent's iterations that failed after a request turbulence did not fault: ≥ 50% critical, ≥ 5% high, ≥ 1% medium, else low; `info` when every one followed an injected fault |
//! | `dropped` | an open model did not start iterations that were due | performance | by the share of due iterations: ≥ 10% high, ≥ 1% medium, else low |
//! | `objective` | an objective did not hold | latency, throughputs and dropped iterations: performance; error rate and iteration failure rate: reliability; check pass rate: bug | high when the value is 2× or more off its threshold (or was lost with `abort_on_fail`), else medium |
//! | `check` | a check failed | bug | by the share of its evaluations that failed on responses turbulence did not make: ≥ 10% high, ≥ 1% medium, else low; `info` when every failure was on an injected response |
//! | `errors` | failed requests of one name and kind | `connect`, `request`, `operation`, `unfinished`: reliability; `invalid`: bug; `timeout`: performance; `status`: reliability for 5xx, security for 401/403, bug for other statuses; TLS certificate errors: security | by the share of the name's requests that failed by themselves (not injected): ≥ 50% critical, ≥ 5% high, ≥ 1% medium, else low; `info` when turbulence injected every one of them |

use serde::{Deserialize, Serialize};

use super::model::{ErrorReport, RequestReport, ScenarioReport, StopReason};
use crate::objectives::ObjectiveResult;

/// What kind of problem a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FindingType {
    /// Wrong behaviour: failed checks, panics, unexpected statuses.
    Bug,
    /// Too slow or too little: latency and throughput objectives, timeouts.
    Performance,
    /// Failures under load: errors, refused or reset connections, 5xx responses.
    Reliability,
    /// Authentication refusals and TLS certificate errors.
    Security,
}

impl FindingType {
    /// Its name, as in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingType::Bug => "bug",
            FindingType::Performance => "performance",
            FindingType::Reliability => "reliability",
            FindingType::Security => "security",
        }
    }
}

/// How bad a finding is, from the worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// The run could not measure what it was for.
    Critical,
    /// Users would notice.
    High,
    /// Worth fixing.
    Medium,
    /// Rare.
    Low,
    /// For the record (e.g. failures turbulence injected on purpose).
    Info,
}

impl Severity {
    /// Its name, as in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// What kind of problem it is.
    #[serde(rename = "type")]
    pub kind: FindingType,
    /// How bad it is.
    pub severity: Severity,
    /// The rule that made it: `unreachable`, `inconclusive`, `panic`, `iterations`, `dropped`,
    /// `objective`, `check`, `step` or `errors`.
    pub rule: String,
    /// What it is about: an objective, a check, an agent, or a request name and error kind.
    /// Stable across runs, so findings of many runs group by it.
    pub subject: String,
    /// One line for people.
    pub title: String,
    /// What it rests on.
    pub evidence: Evidence,
}

/// What a finding rests on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Evidence {
    /// How many times it happened.
    pub count: u64,
    /// Out of how many (requests, evaluations or iterations), when that is known.
    pub total: Option<u64>,
    /// For an objective: its threshold, the measured value and their unit.
    pub expected: Option<f64>,
    /// The measured value.
    pub actual: Option<f64>,
    /// The unit of `expected` and `actual`.
    pub unit: Option<String>,
    /// A few messages.
    pub samples: Vec<String>,
    /// The turbulence phase (or stage) it is tied to: an objective's window, or the phases in
    /// which requests failed.
    pub phase: Option<String>,
}

/// The findings of one scenario, worst first (then by type: bug, performance, reliability,
/// security).
pub fn findings(s: &ScenarioReport) -> Vec<Finding> {
    let Some(load) = &s.load else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if load.stop.reason == StopReason::Aborted {
        out.push(Finding {
            kind: FindingType::Reliability,
            severity: Severity::Critical,
            rule: "unreachable".into(),
            subject: "target".into(),
            title: format!("the load was aborted: {}", detail_or(&load.stop.detail)),
            evidence: Evidence {
                count: load.total.failed,
                total: Some(load.total.count),
                samples: load.stop.detail.iter().cloned().collect(),
                ..Evidence::default()
            },
        });
    }
    for d in ScenarioReport::doubts_of(Some(load)) {
        out.push(Finding {
            kind: FindingType::Performance,
            severity: Severity::Critical,
            rule: "inconclusive".into(),
            subject: d.subject.into(),
            title: d.text.clone(),
            evidence: Evidence {
                count: 1,
                samples: vec![d.text],
                ..Evidence::default()
            },
        });
    }
    for it in &load.iterations {
        if it.panicked == 0 {
            continue;
        }
        let all = it.count();
        out.push(Finding {
            kind: FindingType::Bug,
            severity: if it.panicked == all {
                Severity::Critical
            } else {
                Severity::High
            },
            rule: "panic".into(),
            subject: format!("agent {}", it.agent),
            title: format!(
                "agent `{}` panicked in {} of {all} iterations",
                it.agent, it.panicked
            ),
            evidence: Evidence {
                count: it.panicked,
                total: Some(all),
                samples: it
                    .panics
                    .iter()
                    .map(|p| format!("{} (agents {:?})", p.message, p.agent_ids))
                    .collect(),
                ..Evidence::default()
            },
        });
    }
    for it in &load.iterations {
        let all = it.count();
        for f in &it.failures {
            let kind = if f.kind == "http" {
                FindingType::Reliability
            } else {
                FindingType::Bug
            };
            out.push(Finding {
                kind,
                severity: attributed(f.count, f.injected, all, FAILURE_SHARES),
                rule: "iterations".into(),
                subject: format!("agent {} {}", it.agent, f.kind),
                title: format!(
                    "agent `{}`: {} of {all} iterations failed ({}){}",
                    it.agent,
                    f.count,
                    f.kind,
                    injected_note(f.count, f.injected)
                ),
                evidence: Evidence {
                    count: f.count,
                    total: Some(all),
                    samples: f.samples.clone(),
                    ..Evidence::default()
                },
            });
        }
    }
    if let Some(schedule) = load.schedule.as_ref().filter(|s| s.dropped > 0) {
        let due = schedule.started + schedule.dropped;
        let pool = load
            .config
            .pool
            .as_ref()
            .map(|p| format!(" (the pool's most agents: {})", p.max))
            .unwrap_or_default();
        out.push(Finding {
            kind: FindingType::Performance,
            severity: by_share(
                schedule.dropped,
                due,
                &[(0.10, Severity::High), (0.01, Severity::Medium)],
            )
            .unwrap_or(Severity::Low),
            rule: "dropped".into(),
            subject: "schedule dropped".into(),
            title: format!(
                "{} of {due} due iterations were not started: no free agent{pool}, or the load \
                 stopped first; the SUT got less load than planned",
                schedule.dropped
            ),
            evidence: Evidence {
                count: schedule.dropped,
                total: Some(due),
                ..Evidence::default()
            },
        });
    }
    // A segment's objectives are judged by the merge of all segments, not on its share.
    let judged = load.config.segment.is_none();
    for o in load.objectives.iter().filter(|o| judged && !o.passed) {
        out.push(objective_finding(o));
    }
    for c in load.checks.iter().filter(|c| c.failed > 0) {
        let total = c.passed + c.failed;
        out.push(Finding {
            kind: FindingType::Bug,
            severity: attributed(
                c.failed,
                c.injected,
                total,
                &[(0.10, Severity::High), (0.01, Severity::Medium)],
            ),
            rule: "check".into(),
            subject: format!("check {}", c.name),
            title: format!(
                "check `{}` failed {} of {total} times{}",
                c.name,
                c.failed,
                injected_note(c.failed, c.injected)
            ),
            evidence: Evidence {
                count: c.failed,
                total: Some(total),
                samples: c.samples.clone(),
                ..Evidence::default()
            },
        });
    }
    for st in load.steps.iter().filter(|s| s.gave_up > 0) {
        let what = if st.kind == "wait" {
            "timed out"
        } else {
            "gave up"
        };
        out.push(Finding {
            kind: FindingType::Reliability,
            severity: attributed(
                st.gave_up,
                0,
                st.runs,
                &[(0.10, Severity::High), (0.01, Severity::Medium)],
            ),
            rule: "step".into(),
            subject: format!("{} {}", st.kind, st.name),
            title: format!(
                "{} `{}` {what} {} of {} times ({} attempts in all)",
                st.kind, st.name, st.gave_up, st.runs, st.attempts
            ),
            evidence: Evidence {
                count: st.gave_up,
                total: Some(st.runs),
                samples: st.samples.clone(),
                ..Evidence::default()
            },
        });
    }
    let failing_phases = load.turbulence.as_ref().and_then(|t| {
        let names: Vec<&str> = t
            .phases
            .iter()
            .filter(|p| p.failed > 0)
            .map(|p| p.name.as_str())
            .collect();
        (!names.is_empty()).then(|| names.join(", "))
    });
    for r in &load.requests {
        for e in &r.errors {
            out.push(error_finding(r, e, &failing_phases));
        }
    }
    out.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.kind.cmp(&b.kind)));
    out
}

fn objective_finding(o: &ObjectiveResult) -> Finding {
    let kind = match o.metric.as_str() {
        "error_rate" | "iteration_failure_rate" => FindingType::Reliability,
        "check_pass_rate" => FindingType::Bug,
        _ => FindingType::Performance,
    };
    // How far off the threshold the value is, as a factor ≥ 1.
    let off = o.actual.map(|a| {
        if o.comparison == "below" {
            if o.expected > 0.0 {
                a / o.expected
            } else {
                f64::INFINITY
            }
        } else if a > 0.0 {
            o.expected / a
        } else {
            f64::INFINITY
        }
    });
    let severity = if o.abort_on_fail || off.is_some_and(|f| f >= 2.0) {
        Severity::High
    } else {
        Severity::Medium
    };
    let actual = match o.actual {
        Some(a) => super::summary::value(a, &o.unit),
        None => format!("not measured ({})", detail_or(&o.detail)),
    };
    let phase = o
        .window
        .as_ref()
        .and_then(|w| w.phase.clone().or_else(|| w.stage.clone()));
    Finding {
        kind,
        severity,
        rule: "objective".into(),
        subject: format!("objective {}", o.objective),
        title: format!("{}: {actual}", o.objective),
        evidence: Evidence {
            count: 1,
            total: None,
            expected: Some(o.expected),
            actual: o.actual,
            unit: Some(o.unit.clone()),
            samples: o.detail.iter().cloned().collect(),
            phase,
        },
    }
}

fn error_finding(r: &RequestReport, e: &ErrorReport, failing_phases: &Option<String>) -> Finding {
    let certificate = e.samples.iter().any(|s| {
        let s = s.to_ascii_lowercase();
        s.contains("certificate") || s.contains("handshake")
    });
    let (kind, what) = match e.kind.as_str() {
        "connect" if certificate => (FindingType::Security, "TLS errors".to_owned()),
        "connect" => (FindingType::Reliability, "connection errors".to_owned()),
        "timeout" => (FindingType::Performance, "timeouts".to_owned()),
        "status" => status_type(r),
        "operation" => (FindingType::Reliability, "failed operations".to_owned()),
        "assertion" => (
            FindingType::Bug,
            "responses that missed their assertions".to_owned(),
        ),
        "invalid" => (FindingType::Bug, "invalid requests (never sent)".to_owned()),
        "unfinished" => (
            FindingType::Reliability,
            "requests abandoned unanswered".to_owned(),
        ),
        _ => (FindingType::Reliability, "failed requests".to_owned()),
    };
    let severity = attributed(e.count, e.injected, r.count, FAILURE_SHARES);
    let injected = injected_note(e.count, e.injected);
    Finding {
        kind,
        severity,
        rule: "errors".into(),
        subject: format!("request {} {}", r.name, e.kind),
        title: format!(
            "`{}`: {} {what} in {} requests{injected}",
            r.name, e.count, r.count
        ),
        evidence: Evidence {
            count: e.count,
            total: Some(r.count),
            samples: e.samples.clone(),
            phase: failing_phases.clone(),
            ..Evidence::default()
        },
    }
}

/// The type of failed statuses, from the codes the request got: any 5xx is the server failing;
/// else 401 and 403 are refusals; else the server and the agent disagree on the API.
fn status_type(r: &RequestReport) -> (FindingType, String) {
    let codes = |f: &dyn Fn(u16) -> bool| -> Vec<String> {
        r.statuses
            .iter()
            .filter(|(c, n)| **n > 0 && c.parse().is_ok_and(|c: u16| f(c)))
            .map(|(c, _)| c.clone())
            .collect()
    };
    let server = codes(&|c| c >= 500);
    if !server.is_empty() {
        return (
            FindingType::Reliability,
            format!("{} responses", server.join("/")),
        );
    }
    let refused = codes(&|c| c == 401 || c == 403);
    if !refused.is_empty() {
        return (
            FindingType::Security,
            format!("{} responses", refused.join("/")),
        );
    }
    let other = codes(&|c| !(200..400).contains(&c));
    let what = if other.is_empty() {
        "unaccepted responses".to_owned()
    } else {
        format!("{} responses", other.join("/"))
    };
    (FindingType::Bug, what)
}

/// The severities of failed requests and iterations by their share.
const FAILURE_SHARES: &[(f64, Severity)] = &[
    (0.50, Severity::Critical),
    (0.05, Severity::High),
    (0.01, Severity::Medium),
];

/// The severity of `failed` of `total`, of which turbulence injected `injected`: `info` when it
/// injected them all; else by the share of the rest, which the SUT (or the agent) did itself.
fn attributed(failed: u64, injected: u64, total: u64, thresholds: &[(f64, Severity)]) -> Severity {
    if failed > 0 && injected >= failed {
        return Severity::Info;
    }
    by_share(failed - injected.min(failed), total, thresholds).unwrap_or(Severity::Low)
}

/// What a title says of the injected part of `failed`.
fn injected_note(failed: u64, injected: u64) -> String {
    match injected {
        0 => String::new(),
        n if n >= failed => " (all injected by turbulence)".into(),
        n => format!(" ({n} injected by turbulence)"),
    }
}

/// The severity of the first threshold `part / total` reaches, if any.
fn by_share(part: u64, total: u64, thresholds: &[(f64, Severity)]) -> Option<Severity> {
    let share = if total == 0 {
        1.0
    } else {
        part as f64 / total as f64
    };
    thresholds
        .iter()
        .find(|(t, _)| share >= *t)
        .map(|&(_, s)| s)
}

fn detail_or(detail: &Option<String>) -> &str {
    detail.as_deref().unwrap_or("no detail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::scenario;
    use crate::report::model::{PanicReport, PhaseReport, StopInfo, TurbulenceReport};

    fn kinds(f: &[Finding]) -> Vec<(&str, &str, &str, &str)> {
        f.iter()
            .map(|f| {
                (
                    f.rule.as_str(),
                    f.kind.as_str(),
                    f.severity.as_str(),
                    f.subject.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn objectives_checks_and_errors_become_findings_by_the_rules() {
        let f = findings(&scenario());
        assert_eq!(
            kinds(&f),
            [
                // 5% of checkout failed with 503: high, the server's fault.
                ("errors", "reliability", "high", "request checkout status"),
                // 20 of 400 checks failed (5%): medium.
                ("check", "bug", "medium", "check checkout: status 200"),
                // p99 31.5 ms against 20 ms: less than 2× off, medium.
                (
                    "objective",
                    "performance",
                    "medium",
                    "objective p99 latency of `checkout` below 20 ms"
                ),
            ]
        );
        let objective = &f[2].evidence;
        assert_eq!(
            (
                objective.expected,
                objective.actual,
                objective.unit.as_deref()
            ),
            (Some(20.0), Some(31.5), Some("ms"))
        );
        assert_eq!(f[0].evidence.count, 20);
        assert_eq!(f[0].evidence.total, Some(400));
        assert_eq!(f[0].title, "`checkout`: 20 503 responses in 400 requests");
    }

    #[test]
    fn severity_follows_how_far_off_and_how_often() {
        let mut s = scenario();
        let load = s.load.as_mut().unwrap();
        load.objectives[0].actual = Some(45.0); // 2.25× the threshold
        load.checks[0].failed = 1; // 1 of 381: low
        load.checks[0].passed = 380;
        load.requests[0].errors[0].count = 300; // 75% of checkout
        let f = findings(&s);
        let severities: Vec<&str> = f.iter().map(|f| f.severity.as_str()).collect();
        assert_eq!(severities, ["critical", "high", "low"]);
    }

    #[test]
    fn unreachable_targets_panics_and_refusals() {
        let mut s = scenario();
        let load = s.load.as_mut().unwrap();
        load.objectives.clear();
        load.checks.clear();
        load.stop = StopInfo::new(
            StopReason::Aborted,
            Some("target http://127.0.0.1:9 is unreachable".into()),
        );
        load.iterations[0].panicked = 400;
        load.iterations[0].completed = 0;
        load.iterations[0].failed = 0;
        load.iterations[0].panics = vec![PanicReport {
            message: "boom".into(),
            count: 400,
            agent_ids: vec![1, 2],
        }];
        load.requests[0].statuses = [("401".to_owned(), 20), ("200".to_owned(), 380)].into();
        let f = findings(&s);
        assert_eq!(
            kinds(&f),
            [
                ("panic", "bug", "critical", "agent shopper"),
                ("unreachable", "reliability", "critical", "target"),
                ("errors", "security", "high", "request checkout status"),
            ]
        );
        assert_eq!(f[0].evidence.samples, ["boom (agents [1, 2])"]);
    }

    #[test]
    fn failures_turbulence_injected_are_info_and_name_their_phase() {
        let mut s = scenario();
        let load = s.load.as_mut().unwrap();
        load.objectives.clear();
        load.checks.clear();
        load.turbulence = Some(TurbulenceReport {
            overridden_by: None,
            phases: vec![PhaseReport {
                name: "brownout".into(),
                occurrences: vec![[1.0, 3.0]],
                active_s: 2.0,
                ramp: None,
                requests: 100,
                failed: 20,
                injected_failures: 20,
                sut_failures: 0,
                rules: vec![],
                toxics: vec![],
            }],
            injected_failures: 20,
            sut_failures: 0,
            warnings: vec![],
            faults: vec![],
            faults_not_listed: 0,
            tape: None,
            replayed_tape: None,
            tape_bytes: None,
        });
        // Turbulence made each of checkout's 20 failures.
        load.requests[0].errors[0].injected = 20;
        let f = findings(&s);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert_eq!(f[0].evidence.phase.as_deref(), Some("brownout"));
        assert!(
            f[0].title.ends_with("(all injected by turbulence)"),
            "{}",
            f[0].title
        );
    }

    #[test]
    fn a_wait_that_timed_out_is_a_reliability_finding_with_its_reason() {
        let mut s = scenario();
        let load = s.load.as_mut().unwrap();
        load.objectives.clear();
        load.checks.clear();
        load.requests.clear();
        let step = &mut load.steps[0];
        step.gave_up = 2;
        step.later_attempt = 38;
        step.samples = vec![
            "not met within 5s (26 attempt(s)); the last: expected `/status` \
                             equals \"shipped\", got \"paid\""
                .into(),
        ];
        let f = findings(&s);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].rule.as_str(), f[0].kind),
            ("step", FindingType::Reliability)
        );
        // 2 of 40 is past 1%, short of 10%.
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(
            f[0].title,
            "wait `order shipped` timed out 2 of 40 times (330 attempts in all)"
        );
        assert!(f[0].evidence.samples[0].contains("got \"paid\""));
    }

    #[test]
    fn injected_failures_are_attributed_per_request_in_every_rule() {
        let mut s = scenario();
        let load = s.load.as_mut().unwrap();
        load.objectives.clear();
        // The 20 503s were injected, and the check on them failed on the same responses: both
        // rules say so. 10 of the agent's 20 failed iterations followed an injected fault.
        load.requests[0].errors[0].injected = 20;
        load.checks[0].injected = 20;
        load.iterations[0].failures = vec![ErrorReport {
            kind: "check".into(),
            count: 20,
            injected: 10,
            samples: vec!["expected status 200, got 503".into()],
        }];
        // And the SUT failed by itself on `list`: 30 of 1200 (2.5%), medium.
        load.requests[1].failed = 30;
        load.requests[1].errors = vec![ErrorReport {
            kind: "status".into(),
            count: 30,
            injected: 0,
            samples: vec!["500".into()],
        }];
        let f = findings(&s);
        let by = |rule: &str| f.iter().find(|f| f.rule == rule).unwrap();
        let errors: Vec<_> = f.iter().filter(|f| f.rule == "errors").collect();
        assert_eq!(errors.len(), 2);
        let checkout = errors
            .iter()
            .find(|f| f.subject.contains("checkout"))
            .unwrap();
        assert_eq!(checkout.severity, Severity::Info);
        let list = errors.iter().find(|f| f.subject.contains("list")).unwrap();
        assert_eq!(list.severity, Severity::Medium);
        assert_eq!(by("check").severity, Severity::Info);
        assert!(by("check").title.ends_with("(all injected by turbulence)"));
        // 10 of 400 iterations (2.5%) failed by themselves: medium, and the title says how many
        // were injected.
        let it = by("iterations");
        assert_eq!(it.severity, Severity::Medium);
        assert!(
            it.title.ends_with("(10 injected by turbulence)"),
            "{}",
            it.title
        );
    }

    #[test]
    fn a_scenario_without_a_load_has_none() {
        let mut s = scenario();
        s.load = None;
        assert!(findings(&s).is_empty());
    }
}

#[cfg(test)]
mod shape {
    use crate::report::fixture::scenario;

    /// The JSON of a scenario with findings, as report.json carries it: a change to the shape
    /// shows up here (and needs a schema version bump if a field changes meaning or goes away).
    #[test]
    fn scenario_json_shape() {
        let mut s = scenario();
        s.findings = super::findings(&s);
        insta::assert_snapshot!(serde_json::to_string_pretty(&s).unwrap());
    }
}
