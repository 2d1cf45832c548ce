//! What the bench examples share: where the load goes.

use windtunnel::prelude::*;

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
