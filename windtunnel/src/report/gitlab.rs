//! `load-performance.json`: a run in the shape of k6's end-of-test summary export
//! (`k6 run --summary-export`), which GitLab's Load Performance merge-request widget reads
//! (`artifacts: reports: load_performance:`). The widget shows `http_reqs.rate` as RPS,
//! `http_req_waiting`'s `p(90)` and `p(95)` as TTFB P90/P95, and `checks` as a pass rate.
//!
//! windtunnel measures a request until its whole response is read, so `http_req_waiting` is
//! the service time, as `http_req_duration` is: an upper bound of the time to the first byte.
//! Several scenarios in one run are summed into one summary (their exact histograms merged, the
//! rates over their loads' combined time); run one scenario for a widget about one thing.

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use super::model::{LatencyReport, LoadReport, Report};
use crate::metrics::new_histogram;

/// k6's statistics of a trend, in milliseconds.
fn trend(l: &LatencyReport) -> Value {
    json!({
        "avg": l.mean,
        "min": l.min,
        "med": l.p50,
        "max": l.max,
        "p(90)": l.p90,
        "p(95)": l.p95,
    })
}

/// The merged service-time histogram of the loads, when every one has exact histograms.
fn merged(loads: &[&LoadReport]) -> Option<Histogram<u64>> {
    let mut all = new_histogram();
    for l in loads {
        let snap = l.exact.as_ref()?.snapshot(l, 0).ok()?;
        all.add(&snap.total().histogram).ok()?;
    }
    Some(all)
}

/// The run as k6's summary export. `None` when no scenario ran a load, or (with several
/// scenarios) one of them has no exact histograms to merge.
pub fn to_load_performance(report: &Report) -> Option<Value> {
    let loads: Vec<&LoadReport> = report
        .scenarios
        .iter()
        .filter_map(|s| s.load.as_ref())
        .filter(|l| l.total.count > 0)
        .collect();
    let latency = match loads.as_slice() {
        [] => return None,
        [one] => one.total.latency_ms.clone(),
        many => LatencyReport::of(&merged(many)?),
    };
    let secs: f64 = loads.iter().map(|l| l.elapsed_s).sum::<f64>().max(1e-9);
    let count: u64 = loads.iter().map(|l| l.total.count).sum();
    let failed: u64 = loads.iter().map(|l| l.total.failed).sum();
    let iterations: u64 = loads
        .iter()
        .flat_map(|l| &l.iterations)
        .map(|i| i.completed + i.failed)
        .sum();
    let mut metrics = Map::new();
    metrics.insert(
        "http_reqs".into(),
        json!({ "count": count, "rate": count as f64 / secs }),
    );
    metrics.insert("http_req_duration".into(), trend(&latency));
    metrics.insert("http_req_waiting".into(), trend(&latency));
    // A k6 rate metric: `passes` counts the requests that failed (the metric is true for them).
    metrics.insert(
        "http_req_failed".into(),
        json!({
            "passes": failed,
            "fails": count - failed,
            "value": failed as f64 / count as f64,
        }),
    );
    metrics.insert(
        "iterations".into(),
        json!({ "count": iterations, "rate": iterations as f64 / secs }),
    );
    let (passed, failed_checks) = loads
        .iter()
        .flat_map(|l| &l.checks)
        .fold((0, 0), |(p, f), c| (p + c.passed, f + c.failed));
    if passed + failed_checks > 0 {
        metrics.insert(
            "checks".into(),
            json!({
                "passes": passed,
                "fails": failed_checks,
                "value": passed as f64 / (passed + failed_checks) as f64,
            }),
        );
    }
    if let Some(users) = loads.iter().filter_map(|l| l.config.users).max() {
        metrics.insert(
            "vus_max".into(),
            json!({ "value": users, "min": users, "max": users }),
        );
    }
    Some(json!({
        "metrics": metrics,
        "windtunnel": {
            "run_id": report.run_id,
            "scenarios": report
                .scenarios
                .iter()
                .filter(|s| s.load.as_ref().is_some_and(|l| l.total.count > 0))
                .map(|s| s.name.clone())
                .collect::<Vec<_>>(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ToolInfo, fixture};

    fn report() -> Report {
        Report {
            schema_version: crate::report::SCHEMA_VERSION,
            tool: ToolInfo::default(),
            run_id: "r1".into(),
            started_at: "2026-12-01T00:00:00Z".into(),
            ended_at: None,
            complete: true,
            scenarios: vec![fixture::scenario()],
        }
    }

    /// What GitLab's widget reads, read the way it reads it.
    #[test]
    fn the_widget_finds_rps_ttfb_and_checks() {
        let v = to_load_performance(&report()).unwrap();
        let m = &v["metrics"];
        let load = fixture::scenario().load.unwrap();
        assert_eq!(m["http_reqs"]["rate"], json!(1600.0 / 4.0));
        assert_eq!(m["http_reqs"]["count"], 1600);
        assert_eq!(
            m["http_req_waiting"]["p(90)"],
            json!(load.total.latency_ms.p90)
        );
        assert_eq!(
            m["http_req_waiting"]["p(95)"],
            json!(load.total.latency_ms.p95)
        );
        let checks = &m["checks"];
        let (p, f) = (
            checks["passes"].as_u64().unwrap(),
            checks["fails"].as_u64().unwrap(),
        );
        assert!(p + f > 0);
        assert_eq!(m["http_req_failed"]["passes"], 20);
        assert_eq!(m["vus_max"]["value"], 10);
    }

    #[test]
    fn no_load_no_summary_and_several_loads_need_exact_histograms() {
        let mut r = report();
        r.scenarios[0].load = None;
        assert!(to_load_performance(&r).is_none());
        let mut r = report();
        r.scenarios.push(fixture::scenario());
        assert!(
            to_load_performance(&r).is_none(),
            "the fixture has no exact histograms"
        );
    }
}
