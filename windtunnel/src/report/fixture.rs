//! A scenario report for the report module's tests: a failed checkout objective, a failed
//! check, 5% of `checkout` failing with 503s.

use std::collections::BTreeMap;

use super::model::*;
use crate::objectives::ObjectiveResult;

pub(crate) fn request(name: &str, count: u64, failed: u64, p99: f64) -> RequestReport {
    RequestReport {
        name: name.into(),
        count,
        failed,
        error_rate: failed as f64 / count as f64,
        throughput_rps: count as f64 / 4.0,
        latency_ms: LatencyReport {
            min: 0.2,
            mean: 3.1,
            p50: 2.5,
            p90: 8.0,
            p95: 11.0,
            p99,
            p999: 60.0,
            max: 1234.5,
        },
        intended_latency_ms: None,
        statuses: BTreeMap::from([
            ("200".to_string(), count - failed),
            ("503".to_string(), failed),
        ]),
        errors: if failed > 0 {
            vec![ErrorReport {
                kind: "status".into(),
                count: failed,
                injected: 0,
                samples: vec!["503 Service Unavailable: try later".into()],
            }]
        } else {
            vec![]
        },
    }
}

pub(crate) fn scenario() -> ScenarioReport {
    let objectives = vec![
        ObjectiveResult {
            objective: "p99 latency of `checkout` below 20 ms".into(),
            metric: "p99".into(),
            scope: Some("checkout".into()),
            comparison: "below".into(),
            expected: 20.0,
            actual: Some(31.5),
            unit: "ms".into(),
            passed: false,
            detail: None,
            latency: Some("service".into()),
            window: None,
            abort_on_fail: false,
        },
        ObjectiveResult {
            objective: "error rate below 5%".into(),
            metric: "error_rate".into(),
            scope: None,
            comparison: "below".into(),
            expected: 0.05,
            actual: Some(0.0125),
            unit: "ratio".into(),
            passed: true,
            detail: None,
            latency: None,
            window: None,
            abort_on_fail: false,
        },
    ];
    ScenarioReport {
        name: "shop::checkout".into(),
        module: "load::shop".into(),
        binary: "load".into(),
        file: "tests/load.rs".into(),
        line: 42,
        tags: vec!["smoke".into()],
        outcome: Outcome::Failed,
        problems: vec!["objective not met: p99 latency of `checkout` below 20 ms".into()],
        doubts: vec![],
        seed: 42,
        replay: "cargo test -p demo --test load -- --exact shop::checkout --seed 42".into(),
        rerun: None,
        started_at: Some("2026-11-21T03:00:00Z".into()),
        ended_at: Some("2026-11-21T03:00:04Z".into()),
        duration_s: 4.02,
        load: Some(LoadReport {
            config: LoadConfig {
                model: "constant_users".into(),
                open: false,
                target: "http://127.0.0.1:1234".into(),
                users: Some(10),
                ramp_up_s: Some(1.0),
                duration_s: Some(4.0),
                iterations: None,
                shared_iterations: None,
                rate: None,
                start: None,
                stages: vec![],
                pool: None,
                graceful_stop_s: 5.0,
                request_timeout_s: 30.0,
                agents: vec![AgentAssignment {
                    name: "shopper".into(),
                    weight: 1,
                    users: Some(10),
                }],
                segment: None,
            },
            stop: StopInfo {
                reason: StopReason::Duration,
                detail: None,
            },
            elapsed_s: 4.0,
            cancelled_iterations: 0,
            schedule: None,
            generator: None,
            capacity: None,
            turbulence: None,
            series: SeriesReport {
                interval_s: 1.0,
                points: vec![],
            },
            exact: None,
            objectives,
            total: request("*", 1600, 20, 30.0),
            requests: vec![
                request("checkout", 400, 20, 31.5),
                request("list", 1200, 0, 9.25),
            ],
            checks: vec![CheckReport {
                name: "checkout: status 200".into(),
                passed: 380,
                failed: 20,
                injected: 0,
                samples: vec![],
            }],
            services: vec![],
            variations: vec![],
            steps: vec![StepReport {
                name: "order shipped".into(),
                kind: "wait".into(),
                runs: 40,
                first_attempt: 0,
                later_attempt: 40,
                gave_up: 0,
                attempts: 330,
                max_attempts: 9,
                samples: vec![],
                operation: Some(request("order shipped", 40, 0, 1620.0)),
            }],
            iterations: vec![IterationReport {
                agent: "shopper".into(),
                completed: 380,
                failed: 20,
                panicked: 0,
                failures: vec![],
                panics: vec![],
                duration_ms: None,
            }],
        }),
        findings: Vec::new(),
        settings: Vec::new(),
    }
}
