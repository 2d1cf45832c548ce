use super::*;
use crate::{ms, secs};

fn err(load: impl Into<Load>) -> String {
    let e = load.into().resolve().unwrap_err();
    format!("{}: {}", e.field, e.reason)
}

#[test]
fn bad_settings_name_their_field() {
    assert_eq!(
        err(Load::rate(per_sec(0)).duration(secs(1))),
        "rate: must be a number above 0 iterations per second, not 0"
    );
    assert!(err(Load::rate(per_sec(-5)).duration(secs(1))).starts_with("rate: "));
    assert!(err(Load::rate(per_sec(f64::NAN)).duration(secs(1))).starts_with("rate: "));
    assert!(err(Load::rate(per_sec(1)).duration(secs(1)).pool(0, 0)).starts_with("pool.max"));
    assert!(
        err(Load::rate(per_sec(1)).duration(secs(1)).pool(0, 5)).starts_with("pool.preallocated")
    );
    assert!(
        err(Load::rate(per_sec(1)).duration(secs(1)).pool(6, 5)).contains("more than the maximum")
    );
    assert!(err(Load::rate(per_sec(5e6)).duration(secs(1))).contains("more than any agent pool"));
    assert!(err(Load::rate(per_sec(5))).starts_with("duration: is not set"));
    assert_eq!(
        err(Load::ramping_rate([])),
        "stages: is empty: give at least one stage"
    );
    assert_eq!(
        err(Load::ramping_rate([
            stage(secs(1), per_sec(5)),
            stage(Duration::ZERO, per_sec(5))
        ])),
        "stages[1].duration: must be above zero"
    );
    assert!(
        err(Load::ramping_rate([stage(secs(1), per_sec(-1))]))
            .starts_with("stages[0].target: must be a number at least 0")
    );
    assert!(err(Load::ramping_rate([stage(secs(1), per_sec(0))])).contains("every rate is 0"));
    assert!(err(Load::ramping_users([stage(secs(1), 0)])).contains("every target is 0"));
    assert!(
        err(Load::ramping_users([
            stage(secs(1), 3).named("a"),
            stage(secs(1), 3).named("a")
        ]))
        .contains("`a` names two stages")
    );
    assert_eq!(
        err(Load::users(0).duration(secs(1))),
        "users: must be at least 1"
    );
    assert!(err(Load::users(2)).starts_with("duration: is not set"));
    assert!(err(Load::users(2).ramp_up(secs(5)).duration(secs(1))).starts_with("ramp_up"));
    assert!(err(Load::users(2).iterations(3).shared_iterations(5)).contains("cannot be combined"));
    assert!(err(Load::capacity(per_sec(10)).max(per_sec(5))).contains("below the start"));
    assert!(err(Load::capacity(per_sec(10)).hold(Duration::ZERO)).starts_with("hold"));
}

#[test]
fn stages_get_names_and_spans() {
    let r = Load::ramping_rate([
        stage(secs(10), per_sec(100)),
        stage(secs(30), per_sec(100)).named("peak"),
    ])
    .into();
    let r = Load::resolve(&r).unwrap();
    assert_eq!(r.stages[0].name, "stage 1");
    assert_eq!(r.stages[1].name, "peak");
    assert_eq!((r.stages[1].from, r.stages[1].to), (secs(10), secs(40)));
    assert_eq!(r.duration, Some(secs(40)));
    let r: Load = Load::users(4).ramp_up(ms(500)).duration(secs(2)).into();
    let r = r.resolve().unwrap();
    assert_eq!(r.stages[1].name, "steady");
    let Plan::Closed(plan) = r.plan else { panic!() };
    let starts: Vec<_> = plan.users.iter().map(|u| u[0].0).collect();
    assert_eq!(starts, [0, 125, 250, 375].map(ms));
}

#[test]
fn rates_read_as_per_second() {
    assert_eq!(per_min(30).per_second(), 0.5);
    assert_eq!(per_sec(2.5).to_string(), "2.5/s");
}
