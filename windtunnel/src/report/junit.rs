//! JUnit XML from the report model, through `junit-report`: one testsuite per test binary, one
//! testcase per scenario (classname = module path). Valid against Jenkins' `junit-10.xsd`.
//!
//! Every text in it may hold bytes from the SUT or names from a user: attributes go through
//! [`for_xml`], CDATA bodies through [`for_cdata`], so nothing can close an element, add a
//! testcase or make the file ill-formed.

use std::collections::BTreeMap;

use junit_report::{ReportBuilder, TestCase, TestSuite};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::model::{Outcome, Report, ScenarioReport};
use super::summary::{failure_message, scenario_summary};
use super::untrusted::{for_cdata, for_xml};

fn duration(s: &ScenarioReport) -> time::Duration {
    time::Duration::seconds_f64(s.duration_s.max(0.0))
}

fn testcase(s: &ScenarioReport) -> TestCase {
    let name = for_xml(&s.name);
    let mut case = match s.outcome {
        Outcome::Passed => TestCase::success(&name, duration(s)),
        Outcome::Skipped => {
            TestCase::skipped_with_cause(&name, "ignored", "ignored with #[scenario(ignore)]")
        }
        Outcome::Failed => {
            let first = s
                .problems
                .first()
                .map(String::as_str)
                .unwrap_or("scenario failed");
            let mut case =
                TestCase::failure(&name, duration(s), "windtunnel.failure", &for_xml(first));
            // A failure without body text shows as empty in GitLab: always carry the details.
            case.result = with_cause(case.result, failure_message(s));
            case
        }
        Outcome::Inconclusive => {
            let first = s
                .doubts
                .first()
                .map(String::as_str)
                .unwrap_or("the measurement cannot be trusted");
            let message = format!("inconclusive: {first}");
            let mut case =
                TestCase::failure(&name, duration(s), "inconclusive", &for_xml(&message));
            case.result = with_cause(case.result, failure_message(s));
            case
        }
        Outcome::Interrupted | Outcome::Running => {
            let what = if s.outcome == Outcome::Running {
                "the scenario did not finish (the process ended while it ran)"
            } else {
                "the run was interrupted (Ctrl-C or SIGTERM)"
            };
            let mut case = TestCase::error(&name, duration(s), "windtunnel.incomplete", what);
            case.result = with_cause(case.result, format!("{what}\nreplay: {}", s.replay));
            case
        }
    };
    case.set_classname(&for_xml(&s.module));
    let mut out = scenario_summary(s);
    out.push_str(&format!("seed: {}\nreplay: {}\n", s.seed, s.replay));
    case.set_system_out(&for_cdata(&out));
    case
}

fn with_cause(result: junit_report::TestResult, text: String) -> junit_report::TestResult {
    use junit_report::TestResult as R;
    match result {
        R::Failure { type_, message, .. } => R::Failure {
            type_,
            message,
            cause: Some(for_cdata(&text).into_owned()),
        },
        R::Error { type_, message, .. } => R::Error {
            type_,
            message,
            cause: Some(for_cdata(&text).into_owned()),
        },
        other => other,
    }
}

/// Renders the report as JUnit XML.
///
/// # Errors
///
/// Only if the XML writer fails, which writing into memory does not.
pub fn to_junit_xml(report: &Report) -> Result<Vec<u8>, junit_report::Error> {
    let mut by_binary: BTreeMap<&str, Vec<&ScenarioReport>> = BTreeMap::new();
    for s in &report.scenarios {
        by_binary.entry(&s.binary).or_default().push(s);
    }
    let mut builder = ReportBuilder::new();
    for (binary, scenarios) in by_binary {
        let mut suite = TestSuite::new(&for_xml(binary));
        let started = scenarios
            .iter()
            .filter_map(|s| s.started_at.as_deref())
            .filter_map(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .min();
        if let Some(t) = started {
            suite.set_timestamp(t);
        }
        suite.add_testcases(scenarios.iter().map(|s| testcase(s)));
        let count = |o: Outcome| scenarios.iter().filter(|s| s.outcome == o).count();
        suite.set_system_out(&for_cdata(&format!(
            "windtunnel {} run {}: {} passed, {} failed, {} inconclusive, {} skipped, {} \
             incomplete{}\n",
            report.tool.version,
            report.run_id,
            count(Outcome::Passed),
            count(Outcome::Failed),
            count(Outcome::Inconclusive),
            count(Outcome::Skipped),
            count(Outcome::Interrupted) + count(Outcome::Running),
            if report.complete {
                ""
            } else {
                " (the run is not complete)"
            },
        )));
        builder.add_testsuite(suite);
    }
    let mut out = Vec::new();
    builder.build().write_xml(&mut out)?;
    Ok(out)
}
