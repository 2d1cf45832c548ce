//! Measures what turbulence costs when it does nothing, for the figures in the README: a closed
//! load with no turbulence, with turbulence configured but never firing (probability 0), and
//! through the TCP proxy with no toxic active. It prints one JSON line per run.
//!
//! ```text
//! cargo build --release --example turbulence_bench
//! B=target/release/examples/turbulence_bench
//! $B none USERS SECONDS    # no turbulence
//! $B idle USERS SECONDS    # three HTTP faults matching every request, at probability 0
//! $B proxy USERS SECONDS   # through the proxy (`Scenario::through_proxy`), no toxic
//! ```
//!
//! The target is `BENCH_URL` (e.g. the demo shop run on its own with
//! `cargo run --release -p demo-shop -- 8080`, or nginx from `../shared/bench/nginx-ctl.sh`);
//! without it the demo shop starts in-process. Every run is bounded by its duration. CPU time
//! comes from `/proc/self` (Linux).

use std::sync::OnceLock;
use std::time::Duration;

use windtunnel::prelude::*;

mod bench_common;

static PATH: OnceLock<String> = OnceLock::new();

#[agent]
async fn hello(a: &mut Agent) -> Result<()> {
    let path = PATH.get().map(String::as_str).unwrap_or("/");
    a.get(path).name("hello").send().await?;
    Ok(())
}

/// User plus system CPU time of this process, from `/proc/self/stat` (in clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn usage() -> ! {
    eprintln!("usage: turbulence_bench none|idle|proxy USERS SECONDS");
    std::process::exit(2)
}

async fn bench(args: Vec<String>) -> Result<String> {
    let (base, path, _shop) = bench_common::target().await?;
    PATH.set(path).ok();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let users: u32 = args
        .get(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage());
    let seconds: f64 = args
        .get(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| usage());
    let mut s = Scenario::new("turbulence-bench")
        .seed(1)
        .target(base)
        .agents([hello])
        .users(users)
        .duration(Duration::from_secs_f64(seconds))
        .graceful_stop(secs(2));
    match mode {
        "none" => {}
        "idle" => {
            s = s.turbulence(
                Phase::new("idle")
                    .fault(Fault::delay(ms(100)).probability(0.0))
                    .fault(Fault::abort(503).path("/*").probability(0.0))
                    .fault(Fault::drop_response().on("hello").probability(0.0)),
            );
        }
        "proxy" => s = s.through_proxy(),
        _ => usage(),
    }
    let cpu_before = cpu_seconds();
    let report = s.run().await?;
    let cpu = cpu_seconds() - cpu_before;
    let total = &report.total;
    Ok(serde_json::json!({
        "mode": mode,
        "users": users,
        "requests": total.count,
        "failed": total.failed,
        "req_per_s": total.throughput_rps,
        "cpu_s": cpu,
        "cpu_us_per_request": if total.count > 0 { cpu * 1e6 / total.count as f64 } else { 0.0 },
        "p99_ms": total.latency_ms.p99,
    })
    .to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(bench(args)) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
