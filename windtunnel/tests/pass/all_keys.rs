use windtunnel::prelude::*;

/// Doc comments stay on the generated constant.
#[agent]
async fn plain(a: &mut Agent) -> Result<()> {
    a.get("/").send().await?;
    Ok(())
}

#[agent(weight = 3, name = "heavy user")]
pub async fn weighted(agent: &mut windtunnel::Agent) -> windtunnel::Result<()> {
    #![allow(unused_variables)]
    let unused = 1;
    agent.think(ms(1)).await;
    Ok(())
}

#[scenario]
async fn minimal(_s: Scenario) -> Result<()> {
    Ok(())
}

#[scenario(name = "renamed", tags = ["a", "b-c", "d.e:f"], ignore, timeout = "1h 30m")]
async fn everything(s: Scenario) -> Result<()> {
    s.agents([plain, weighted.with_weight(2)]).iterations(1).run().await?;
    Ok(())
}

#[scenario(ignore = false, timeout = "500ms")]
pub async fn explicit_ignore(_s: Scenario) -> Result<()> {
    Ok(())
}

mod nested {
    use windtunnel::prelude::*;

    #[scenario(tags = [])]
    async fn inside(_s: Scenario) -> Result<()> {
        Ok(())
    }
}

fn main() {
    assert_eq!(plain.name(), "plain");
    assert_eq!(weighted.name(), "heavy user");
    assert_eq!(weighted.weight(), 3);
}
