//! Runs the demo shop on its own: `cargo run -p demo-shop -- [PORT]` (default 8080), on 127.0.0.1,
//! and its payment provider on the next port (8081).

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = match std::env::args().nth(1) {
        None => 8080,
        Some(p) => match p.parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("error: invalid port `{p}`; usage: demo-shop [PORT]");
                std::process::exit(2);
            }
        },
    };
    let shop =
        demo_shop::spawn_on(SocketAddr::from(([127, 0, 0, 1], port)), Default::default()).await?;
    let payments = demo_shop::spawn_payments_on(
        SocketAddr::from(([127, 0, 0, 1], port.wrapping_add(1))),
        Default::default(),
    )
    .await?;
    eprintln!(
        "demo shop listening on {}, its payments on {} (Ctrl-C to stop)",
        shop.url(),
        payments.url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
