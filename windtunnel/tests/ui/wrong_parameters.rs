use windtunnel::prelude::*;

#[agent]
async fn no_agent() -> Result<()> {
    Ok(())
}

#[agent]
async fn by_value(_a: Agent) -> Result<()> {
    Ok(())
}

#[agent]
async fn shared_ref(_a: &Agent) -> Result<()> {
    Ok(())
}

#[agent]
async fn two(_a: &mut Agent, _b: u32) -> Result<()> {
    Ok(())
}

#[scenario]
async fn by_reference(_s: &Scenario) -> Result<()> {
    Ok(())
}

#[scenario]
async fn generic<T>(_s: Scenario) -> Result<()> {
    Ok(())
}

fn main() {}
