//! Measures the capacity search against a route whose capacity is known: the demo shop's
//! `/serial` serves one request at a time for 5 ms (at most 200/s, less the machine's overhead).
//! Each round first measures that capacity independently (a closed model of 4 users keeping the
//! route busy for 3 s: its throughput), then runs a capacity search with repeats on a fixed grid
//! and prints one JSON line: the measured capacity, the knee, its interval, and whether the knee
//! is within 10% of the capacity and the interval covers it.
//!
//! ```text
//! cargo build --release --example capacity_bench
//! target/release/examples/capacity_bench ROUNDS [REPEATS]
//! ```
//!
//! `scripts/compare-bench.sh` runs it. Every load is bounded (3 s, then at most 15 rates of
//! 3 s per repeat).

use windtunnel::prelude::*;

// Only its runtime is used here.
#[allow(dead_code)]
mod bench_common;

/// One request at a time, 5 ms each.
#[agent]
async fn serial(a: &mut Agent) -> Result<()> {
    a.get("/serial")
        .name("serial")
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

async fn round(url: &str, repeats: u32) -> Result<serde_json::Value> {
    let direct = Scenario::new("serial-direct")
        .seed(1)
        .target(url)
        .agents([serial])
        .users(4)
        .duration(secs(3))
        .run()
        .await?;
    let capacity = direct.total.throughput_rps;
    // A fixed grid, not one derived from the measurement (which would put a step on the answer
    // by construction): from 100/s by 25/s, then two bisections, so the interval is 6.25/s wide.
    let searched = Scenario::new("serial-capacity")
        .seed(1)
        .target(url)
        .agents([serial])
        .load(
            Load::capacity(per_sec(100))
                .step(per_sec(25))
                .hold(secs(3))
                .max(per_sec(400))
                .bisections(2)
                .repeats(repeats)
                // Two agents, as a client with two requests in flight at most: below capacity
                // one is always free when the next iteration is due; above it the route's queue
                // holds both, and due iterations are dropped within the step once the rate is
                // about 1/s over.
                .pool(2, 2),
        )
        .graceful_stop(ms(500))
        .slo(dropped_iteration_count().below(1.0))
        .run()
        .await?;
    let c = searched
        .capacity
        .as_ref()
        .context("a capacity search reports its capacity")?;
    let knee = c.rate;
    Ok(serde_json::json!({
        "measured": capacity,
        "knee": knee,
        "interval": c.interval,
        "at_least": c.at_least,
        "generator_bound_from": c.generator_bound_from,
        "steps": c.curve.len(),
        "within_10pct": knee.is_some_and(|k| (k / capacity - 1.0).abs() <= 0.10),
        "covered": c.interval.is_some_and(|[lo, hi]| lo <= capacity && capacity <= hi),
    }))
}

async fn bench(args: Vec<String>) -> Result<String> {
    let rounds: u32 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1);
    let repeats: u32 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(2);
    let shop = demo_shop::spawn(demo_shop::ShopConfig::instant()).await?;
    let mut lines = Vec::new();
    for _ in 0..rounds {
        let line = round(&shop.url(), repeats).await?;
        eprintln!("{line}");
        lines.push(line);
    }
    let count = |key: &str| lines.iter().filter(|l| l[key] == true).count();
    Ok(serde_json::json!({
        "rounds": rounds,
        "repeats": repeats,
        "within_10pct": count("within_10pct"),
        "covered": count("covered"),
    })
    .to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    bench_common::run(2, bench(args));
}
