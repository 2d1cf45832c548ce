//! What the bench examples share: reading `BENCH_URL`.

use windtunnel::prelude::*;

/// Splits `BENCH_URL` into its base (`scheme://host:port`) and path.
pub(crate) fn split_url(url: &str) -> Result<(String, String)> {
    let (scheme, rest) = url
        .split_once("://")
        .with_context(|| format!("BENCH_URL `{url}` has no scheme"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok((format!("{scheme}://{authority}"), path.to_owned()))
}
