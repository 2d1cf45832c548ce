//! Scenarios shared as a library: any test binary runs them with
//! `windtunnel::main!(shared_scenarios)`. They target the demo shop, started in-process unless a
//! target is given from outside.

use windtunnel::prelude::*;

/// Checks the shop answers its health endpoint under light load.
#[agent]
pub async fn health_checker(a: &mut Agent) -> Result<()> {
    a.get("/health")
        .name("health")
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

/// Smoke scenarios, in a module: listed as `smoke::...`.
pub mod smoke {
    use super::*;

    /// Two users, ten health checks each.
    #[scenario(tags = ["smoke", "shared"])]
    pub async fn health(s: Scenario) -> Result<()> {
        let shop = match s.target_url() {
            Some(_) => None,
            None => Some(demo_shop::spawn(demo_shop::ShopConfig::instant()).await?),
        };
        let s = match &shop {
            Some(shop) => s.target(shop.url()),
            None => s,
        };
        s.agents([health_checker])
            .users(2)
            .iterations(10)
            .slo(error_rate().below(0.001))
            .slo(p99("health").below(ms(500)))
            .run()
            .await?;
        Ok(())
    }
}
