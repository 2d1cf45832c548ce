//! Measures what turbulence costs when it does nothing, for the figures in the README: a closed
//! load with no turbulence, with turbulence configured but never firing (probability 0), and
//! through the TCP proxy with no toxic active, and through it with an HTTP toxic that never
//! fires (every request framed by the proxy's HTTP stage). It prints one JSON line per run.
//!
//! ```text
//! cargo build --release --example turbulence_bench
//! B=target/release/examples/turbulence_bench
//! $B none USERS SECONDS    # no turbulence
//! $B idle USERS SECONDS    # three HTTP faults matching every request, at probability 0
//! $B proxy USERS SECONDS   # through the proxy (`Scenario::through_proxy`), no toxic
//! $B http USERS SECONDS    # through the proxy, an HTTP toxic on a path never requested
//! ```
//!
//! The target is `BENCH_URL` (e.g. the demo shop run on its own with
//! `cargo run --release -p demo-shop -- 8080`, or nginx from `../shared/bench/nginx-ctl.sh`);
//! without it the demo shop starts in-process. Every run is bounded by its duration. CPU time
//! comes from `/proc/self` (Linux).

use std::time::Duration;

use windtunnel::prelude::*;

mod bench_common;

use bench_common::{PATH, cpu_seconds, hello};

fn usage() -> ! {
    eprintln!("usage: turbulence_bench none|idle|proxy|http USERS SECONDS");
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
        "http" => {
            s = s.through_proxy().turbulence(Phase::new("framed").toxic(
                "target",
                Toxic::http(Fault::abort(503).path("/never-requested")),
            ));
        }
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
    bench_common::run(2, bench(args));
}
