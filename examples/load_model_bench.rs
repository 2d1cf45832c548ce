//! Measures the load models end to end, for the figures in the README: the open model's
//! scheduler cost against the closed model at the same request rate, how late iterations start
//! at a high rate, and the memory one more agent costs. It prints one JSON line per run.
//!
//! ```text
//! cargo build --release --example load_model_bench
//! B=target/release/examples/load_model_bench
//! $B closed USERS THINK_MS SECONDS   # closed model, each user thinking THINK_MS per iteration
//! $B open RATE SECONDS POOL_MAX      # constant arrival rate (starts on tokio's timer)
//! $B open-precise RATE SECONDS POOL_MAX   # the same, starts from a ticker thread
//! ```
//!
//! The target is `BENCH_URL` (e.g. nginx from `../shared/bench/nginx-ctl.sh`, or the demo shop
//! run on its own with `cargo run --release -p demo-shop -- 8080`); without it the demo shop
//! starts in-process. Every run is bounded by its duration. CPU time and peak RSS come from
//! `/proc/self` (Linux).

use std::sync::OnceLock;
use std::time::Duration;

use windtunnel::prelude::*;

mod bench_common;

use bench_common::{PATH, cpu_seconds};

static THINK: OnceLock<Duration> = OnceLock::new();

#[agent]
async fn hello(a: &mut Agent) -> Result<()> {
    let path = PATH.get().map(String::as_str).unwrap_or("/");
    a.get(path).name("hello").send().await?;
    let think = THINK.get().copied().unwrap_or_default();
    if !think.is_zero() {
        a.think(think).await;
    }
    Ok(())
}

/// Peak resident set size in KiB, from `/proc/self/status`.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    match args.get(i).map(|v| v.parse()) {
        Some(Ok(v)) => v,
        _ => {
            eprintln!(
                "error: missing or invalid {what} (argument {i})\n\
                 usage: load_model_bench closed USERS THINK_MS SECONDS | open RATE SECONDS POOL_MAX"
            );
            std::process::exit(2)
        }
    }
}

async fn bench(args: Vec<String>) -> Result<String> {
    let (base, path, _shop) = bench_common::target().await?;
    PATH.set(path).ok();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let s = Scenario::new("load-model-bench")
        .seed(1)
        .target(base)
        .agents([hello])
        .graceful_stop(secs(2));
    let rss_before = peak_rss_kib();
    let cpu_before = cpu_seconds();
    let (report, setting) = match mode {
        "closed" => {
            let users: u32 = arg(&args, 2, "USERS");
            let think: u64 = arg(&args, 3, "THINK_MS");
            let seconds: f64 = arg(&args, 4, "SECONDS");
            THINK.set(ms(think)).ok();
            let report = s
                .users(users)
                .ramp_up(Duration::from_secs_f64(seconds / 4.0))
                .duration(Duration::from_secs_f64(seconds))
                .run()
                .await?;
            (report, format!("{users} users, think {think} ms"))
        }
        "open" | "open-precise" => {
            let rate: f64 = arg(&args, 2, "RATE");
            let seconds: f64 = arg(&args, 3, "SECONDS");
            let max: u32 = arg(&args, 4, "POOL_MAX");
            let mut load = Load::rate(per_sec(rate))
                .duration(Duration::from_secs_f64(seconds))
                .pool(max.min(100), max);
            if mode == "open-precise" {
                load = load.precise_starts();
            }
            let report = s.load(load).run().await?;
            (report, format!("{rate}/s, pool up to {max}"))
        }
        other => {
            eprintln!("error: unknown mode `{other}`: expected `closed`, `open` or `open-precise`");
            std::process::exit(2)
        }
    };
    let cpu = cpu_seconds() - cpu_before;
    let total = &report.total;
    let lateness = report.schedule.as_ref().map(|s| &s.start_lateness_ms);
    let peak_agents = report
        .series
        .points
        .iter()
        .map(|p| p.active_agents)
        .max()
        .unwrap_or(0);
    Ok(serde_json::json!({
        "mode": mode,
        "setting": setting,
        "requests": total.count,
        "failed": total.failed,
        "req_per_s": total.throughput_rps,
        "cpu_s": cpu,
        "cpu_us_per_request": if total.count > 0 { cpu * 1e6 / total.count as f64 } else { 0.0 },
        "rss_peak_kib": peak_rss_kib(),
        "rss_peak_before_kib": rss_before,
        "peak_busy_agents": peak_agents,
        "dropped": report.schedule.as_ref().map(|s| s.dropped),
        "start_lateness_ms": lateness.map(|l| serde_json::json!({"p50": l.p50, "p99": l.p99, "max": l.max})),
        "p99_ms": total.latency_ms.p99,
        "intended_p99_ms": total.intended_latency_ms.as_ref().map(|l| l.p99),
    })
    .to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    bench_common::run(2, bench(args));
}
