use windtunnel::prelude::*;

#[agent]
fn sync_agent(_a: &mut Agent) -> Result<()> {
    Ok(())
}

#[scenario]
fn sync_scenario(_s: Scenario) -> Result<()> {
    Ok(())
}

fn main() {}
