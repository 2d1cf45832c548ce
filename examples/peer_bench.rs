//! windtunnel in the `custom` slot of `../shared/bench/run-peers.sh`: a closed-model load through
//! the full engine (agents, named requests, per-worker HDR histograms, checks off) against
//! `BENCH_URL` with `BENCH_CONNS` users for `BENCH_DURATION` seconds on `BENCH_THREADS` worker
//! threads, printing the one JSON line the bench script reads.
//!
//! ```text
//! cargo build --release --example peer_bench
//! TOOLS="wrk reqwest-hdr goose custom" CUSTOM_NAME=windtunnel \
//!   CUSTOM_CMD="$PWD/target/release/examples/peer_bench" ROUNDS=5 ../shared/bench/run-peers.sh
//! ```
//!
//! Without `BENCH_URL` it starts the demo shop on 127.0.0.1 and loads its `/health` for 5 s, so
//! it runs anywhere.

use std::time::Duration;

use windtunnel::prelude::*;

mod bench_common;

use bench_common::{PATH, hello};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("error: invalid {name}=`{v}`");
            std::process::exit(2)
        }),
        Err(_) => default,
    }
}

async fn bench() -> Result<String> {
    let users: u32 = env_or("BENCH_CONNS", 50);
    let seconds: f64 = env_or("BENCH_DURATION", 5.0);
    let (base, path, _shop) = bench_common::target().await?;
    PATH.set(path).ok();
    let report = Scenario::new("peer-bench")
        .target(base)
        .agents([hello])
        .users(users)
        .duration(Duration::from_secs_f64(seconds))
        .graceful_stop(secs(1))
        .run()
        .await?;
    let r = report.request("hello").context("no requests were sent")?;
    let ok = r.count - r.failed;
    Ok(format!(
        "{{\"tool\":\"windtunnel\",\"ok\":{ok},\"errors\":{},\"rps\":{:.1},\"p50_us\":{:.1},\"p99_us\":{:.1},\"elapsed_s\":{:.3}}}",
        r.failed,
        ok as f64 / report.elapsed_s,
        r.latency_ms.p50 * 1000.0,
        r.latency_ms.p99 * 1000.0,
        report.elapsed_s,
    ))
}

fn main() {
    bench_common::run(1, bench());
}
