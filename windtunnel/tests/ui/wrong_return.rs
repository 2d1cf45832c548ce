use windtunnel::prelude::*;

#[agent]
async fn nothing(_a: &mut Agent) {}

#[scenario]
async fn also_nothing(_s: Scenario) {}

#[agent]
async fn a_string(_a: &mut Agent) -> String {
    String::new()
}

#[scenario]
async fn a_number(_s: Scenario) -> u32 {
    1
}

fn main() {}
