use windtunnel::prelude::*;

#[agent(wieght = 3)]
async fn misspelled(_a: &mut Agent) -> Result<()> {
    Ok(())
}

#[agent(weight = 1, weight = 2)]
async fn twice(_a: &mut Agent) -> Result<()> {
    Ok(())
}

#[agent(weight = "3")]
async fn string_weight(_a: &mut Agent) -> Result<()> {
    Ok(())
}

#[agent(weight = 0)]
async fn zero_weight(_a: &mut Agent) -> Result<()> {
    Ok(())
}

#[agent(name = shopper)]
async fn ident_name(_a: &mut Agent) -> Result<()> {
    Ok(())
}

fn main() {}
