use windtunnel::prelude::*;

#[scenario(tag = ["a"])]
async fn misspelled(_s: Scenario) -> Result<()> {
    Ok(())
}

#[scenario(tags = "nightly")]
async fn tags_not_array(_s: Scenario) -> Result<()> {
    Ok(())
}

#[scenario(tags = ["has space"])]
async fn bad_tag(_s: Scenario) -> Result<()> {
    Ok(())
}

#[scenario(timeout = "5 parsecs")]
async fn bad_timeout(_s: Scenario) -> Result<()> {
    Ok(())
}

#[scenario(timeout = 300)]
async fn timeout_number(_s: Scenario) -> Result<()> {
    Ok(())
}

#[scenario(ignore = "yes")]
async fn ignore_string(_s: Scenario) -> Result<()> {
    Ok(())
}

#[scenario(name = "a", name = "b")]
async fn named_twice(_s: Scenario) -> Result<()> {
    Ok(())
}

#[scenario(name = "")]
async fn empty_name(_s: Scenario) -> Result<()> {
    Ok(())
}

#[scenario(name = "two\nlines")]
async fn name_with_newline(_s: Scenario) -> Result<()> {
    Ok(())
}

fn main() {}
