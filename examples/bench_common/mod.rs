//! What the bench examples share: where the load goes, the agent that hits it, the runtime and
//! the CPU clock.

use std::future::Future;
use std::sync::OnceLock;

use windtunnel::prelude::*;

/// The path [`hello`] requests (from `BENCH_URL`, set by the bench).
pub(crate) static PATH: OnceLock<String> = OnceLock::new();

/// One request per iteration, body read, as every peer in the bench does.
#[agent]
pub(crate) async fn hello(a: &mut Agent) -> Result<()> {
    let path = PATH.get().map(String::as_str).unwrap_or("/");
    a.get(path).name("hello").send().await?;
    Ok(())
}

/// Runs `bench` on a runtime of `BENCH_THREADS` workers (default `default_threads`) and prints
/// its JSON line, or the error (exit code 1).
pub(crate) fn run(default_threads: usize, bench: impl Future<Output = Result<String>>) {
    let threads = match std::env::var("BENCH_THREADS") {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("error: invalid BENCH_THREADS=`{v}`");
            std::process::exit(2)
        }),
        Err(_) => default_threads,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(bench) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// User plus system CPU time of this process, from `/proc/self/stat` (in clock ticks of 10 ms).
#[allow(dead_code)] // Not every bench reports CPU time.
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is the 12th, stime
    // the 13th.
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

/// The base URL and path of `BENCH_URL`; without it, the demo shop started in-process and its
/// `/health` (keep the handle: dropping it stops the shop).
pub(crate) async fn target() -> Result<(String, String, Option<demo_shop::ShopHandle>)> {
    match std::env::var("BENCH_URL") {
        Ok(url) => {
            let (base, path) = split_url(&url)?;
            Ok((base, path, None))
        }
        Err(_) => {
            let shop = demo_shop::spawn(demo_shop::ShopConfig::instant()).await?;
            Ok((shop.url(), "/health".to_owned(), Some(shop)))
        }
    }
}

/// Splits `BENCH_URL` into its base (`scheme://host:port`) and path.
fn split_url(url: &str) -> Result<(String, String)> {
    let (scheme, rest) = url
        .split_once("://")
        .with_context(|| format!("BENCH_URL `{url}` has no scheme"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok((format!("{scheme}://{authority}"), path.to_owned()))
}
