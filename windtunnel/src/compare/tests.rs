//! The comparison on synthetic runs whose answer is known: independent samples from the same
//! distributions (an A/A pair), and the same with a known slowdown or more errors (A/B).

use std::time::{Duration, UNIX_EPOCH};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use super::*;
use crate::metrics::{MetricsSnapshot, Point, RequestMetrics, compact};
use crate::report::{ExactMetrics, Report, ToolInfo, fixture};

/// How a synthetic run is drawn.
#[derive(Clone)]
struct Draw {
    seed: u64,
    /// Requests per second of each name.
    per_second: u64,
    seconds: u64,
    /// The median latency of `b` in ms (that of `a` is 5 ms).
    b_median_ms: f64,
    /// The share of `b` that fails.
    b_failures: f64,
    /// Every latency of the run multiplied by this (run-to-run noise).
    run_factor: f64,
}

impl Draw {
    fn new(seed: u64) -> Self {
        Draw {
            seed,
            per_second: 200,
            seconds: 10,
            b_median_ms: 20.0,
            b_failures: 0.02,
            run_factor: 1.0,
        }
    }
}

/// A standard normal from two uniforms (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u = |rng: &mut ChaCha8Rng| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let (a, b) = (u(rng).max(1e-12), u(rng));
    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
}

/// A report of one run of scenario `shop::checkout` drawn as `d` says: two request names, log-
/// normal latencies (σ = 0.4), every second of the series filled.
fn run(d: &Draw) -> Report {
    let mut rng = ChaCha8Rng::seed_from_u64(d.seed);
    let mut snap = MetricsSnapshot::new(0);
    for second in 0..d.seconds {
        let mut point_hist = crate::metrics::histogram_of(&Vec::new());
        let mut point = Point::default();
        for (name, median, failures) in [("a", 5.0, 0.0), ("b", d.b_median_ms, d.b_failures)] {
            let m = snap
                .requests
                .entry(name.to_owned())
                .or_insert_with(|| RequestMetrics::new(false));
            for _ in 0..d.per_second {
                let ms = median * d.run_factor * (0.4 * normal(&mut rng)).exp();
                let us = (ms * 1000.0).max(1.0) as u64;
                let failed = (rng.next_u64() as f64 / u64::MAX as f64) < failures;
                m.histogram.record(us).unwrap();
                m.count += 1;
                m.failed += u64::from(failed);
                point.requests += 1;
                point.failed += u64::from(failed);
                point_hist.saturating_record(us);
            }
        }
        point.service = compact(&point_hist);
        snap.series.add(second, point);
    }
    let elapsed = Duration::from_secs(d.seconds);
    let mut scenario = fixture::scenario();
    let config = scenario.load.as_ref().unwrap().config.clone();
    let mut load = crate::report::LoadReport::build(
        config,
        crate::report::StopInfo::new(crate::report::StopReason::Duration, None),
        elapsed,
        0,
        &snap,
        Vec::new(),
    );
    load.config.ramp_up_s = None;
    load.config.duration_s = Some(d.seconds as f64);
    load.exact = Some(ExactMetrics::of(UNIX_EPOCH, &snap, &[]));
    scenario.load = Some(load);
    scenario.outcome = Outcome::Passed;
    Report {
        schema_version: crate::report::SCHEMA_VERSION,
        tool: ToolInfo {
            name: "windtunnel".into(),
            version: "test".into(),
        },
        run_id: format!("run-{}", d.seed),
        started_at: "2026-12-01T00:00:00Z".into(),
        ended_at: None,
        complete: true,
        scenarios: vec![scenario],
    }
}

fn line<'c>(c: &'c Comparison, subject: &str, metric: &str) -> &'c Line {
    c.lines
        .iter()
        .find(|l| l.subject == subject && l.metric == metric)
        .unwrap_or_else(|| panic!("no line {subject} {metric}"))
}

#[test]
fn identical_distributions_are_rarely_flagged() {
    let mut flagged = 0;
    let mut significant = 0;
    let pairs = 40;
    for i in 0..pairs {
        let base = run(&Draw::new(2 * i));
        let new = run(&Draw::new(2 * i + 1));
        let c = compare(&[&base], &new, &Options::default()).unwrap();
        flagged += usize::from(c.regressions() > 0);
        for l in c.lines.iter().filter(|l| l.verdict.is_regression()) {
            eprintln!("{i}: {} base {:?} new {:?}", l.sentence(), l.base, l.new);
        }
        significant += c
            .lines
            .iter()
            .filter(|l| matches!(l.verdict, Verdict::WithinTolerance | Verdict::Improvement))
            .count();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }
    assert_eq!(flagged, 0, "{flagged} of {pairs} A/A pairs flagged");
    // 15 lines a pair at 95%: about 5% of them significant either way, and not many more.
    let lines = pairs as usize * 15;
    assert!(
        significant <= lines / 10,
        "{significant} of {lines} lines significant"
    );
}

#[test]
fn a_slowdown_is_a_regression_with_an_interval_that_covers_it() {
    let mut covered = 0;
    for i in 0..20 {
        let base = run(&Draw::new(100 + 2 * i));
        let new = run(&Draw {
            b_median_ms: 24.0,
            ..Draw::new(101 + 2 * i)
        });
        let c = compare(&[&base], &new, &Options::default()).unwrap();
        let p50 = line(&c, "b", "p50");
        assert_eq!(p50.verdict, Verdict::Regression, "{}", p50.sentence());
        let [lo, hi] = p50.interval.unwrap();
        covered += usize::from(lo <= 0.2 && 0.2 <= hi);
        // `a` did not change.
        assert_ne!(line(&c, "a", "p50").verdict, Verdict::Regression);
        assert!(
            p50.sentence().starts_with("p50 of `b` +"),
            "{}",
            p50.sentence()
        );
        assert!(
            p50.sentence().ends_with("), regression"),
            "{}",
            p50.sentence()
        );
    }
    assert!(
        covered >= 17,
        "the interval covered +20% in {covered} of 20"
    );
}

#[test]
fn a_real_but_small_change_is_significant_within_tolerance() {
    // 4% slower with 20,000 samples a name: significant, but inside the 10% tolerance.
    let base = run(&Draw {
        per_second: 2000,
        ..Draw::new(7)
    });
    let new = run(&Draw {
        per_second: 2000,
        b_median_ms: 20.8,
        ..Draw::new(8)
    });
    let c = compare(&[&base], &new, &Options::default()).unwrap();
    assert_eq!(line(&c, "b", "p50").verdict, Verdict::WithinTolerance);
    assert_eq!(c.regressions(), 0);
}

#[test]
fn more_errors_count_only_when_significant_and_beyond_the_tolerance() {
    // 2% of 2,000 against 2.4% of 2,000: inside noise and tolerance.
    let base = run(&Draw::new(11));
    let new = run(&Draw {
        b_failures: 0.024,
        ..Draw::new(12)
    });
    let c = compare(&[&base], &new, &Options::default()).unwrap();
    assert_ne!(line(&c, "b", "error rate").verdict, Verdict::Regression);
    // 2% against 8%: a regression, in points.
    let new = run(&Draw {
        b_failures: 0.08,
        ..Draw::new(13)
    });
    let c = compare(&[&base], &new, &Options::default()).unwrap();
    let e = line(&c, "b", "error rate");
    assert_eq!(e.verdict, Verdict::Regression, "{}", e.sentence());
    assert!(e.sentence().contains("points"), "{}", e.sentence());
    let change = e.change.unwrap();
    assert!((change - 0.06).abs() < 0.015, "{change}");
}

#[test]
fn several_baselines_bring_the_noise_between_runs() {
    // Runs that differ by up to ±15% as a whole: one baseline cannot see it, five can.
    let factors = [0.88, 1.12, 0.95, 1.07, 1.0];
    let bases: Vec<Report> = factors
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            run(&Draw {
                run_factor: f,
                ..Draw::new(200 + i as u64)
            })
        })
        .collect();
    let new = run(&Draw {
        run_factor: 1.12,
        ..Draw::new(300)
    });
    let refs: Vec<&Report> = bases.iter().collect();
    let c = compare(&refs, &new, &Options::default()).unwrap();
    let p50 = line(&c, "b", "p50");
    assert_eq!(p50.noise, "between 5 baseline runs");
    assert_ne!(p50.verdict, Verdict::Regression, "{}", p50.sentence());
    // The same new run against only the fastest baseline looks like a regression.
    let c = compare(&[&bases[0]], &new, &Options::default()).unwrap();
    assert_eq!(line(&c, "b", "p50").verdict, Verdict::Regression);
    assert_eq!(line(&c, "b", "p50").noise, "within runs");
}

#[test]
fn without_exact_histograms_nothing_is_judged_on_raw_deltas() {
    let base = run(&Draw::new(1));
    let mut new = run(&Draw {
        b_median_ms: 40.0,
        ..Draw::new(2)
    });
    new.scenarios[0].load.as_mut().unwrap().exact = None;
    let c = compare(&[&base], &new, &Options::default()).unwrap();
    assert!(
        c.lines.iter().all(|l| l.metric == "objective"),
        "{:?}",
        c.lines
    );
    assert!(
        c.notes[0].contains("no exact histograms") && c.notes[0].contains("raw deltas"),
        "{:?}",
        c.notes
    );
}

#[test]
fn different_setups_are_warned_about_and_different_scenarios_refused() {
    let base = run(&Draw::new(1));
    let mut new = run(&Draw::new(2));
    let load = new.scenarios[0].load.as_mut().unwrap();
    load.config.users = Some(50);
    load.config.target = "http://10.0.0.1:9".into();
    let c = compare(&[&base], &new, &Options::default()).unwrap();
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("the load model differs"),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings[1].contains("the target differs"),
        "{:?}",
        c.warnings
    );
    // A loopback SUT on another port is the same target.
    let mut other_port = run(&Draw::new(3));
    other_port.scenarios[0].load.as_mut().unwrap().config.target = "http://127.0.0.1:4321".into();
    let c = compare(&[&base], &other_port, &Options::default()).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    new.scenarios[0].name = "other".into();
    let e = compare(&[&base], &new, &Options::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("ran different scenarios (base: shop::checkout; new: other)"),
        "{e}"
    );
}

#[test]
fn options_are_checked() {
    let t = |latency| Tolerance {
        latency,
        ..Tolerance::default()
    };
    assert!(Options::new(t(-0.1), 0.95).is_err());
    assert!(Options::new(t(0.1), 1.0).is_err());
    let e = Options::new(
        Tolerance {
            throughput: 1.5,
            ..Tolerance::default()
        },
        0.95,
    )
    .unwrap_err();
    assert!(e.to_string().contains("at most 100%"), "{e}");
    assert!(Options::new(t(2.0), 0.99).is_ok());
}
