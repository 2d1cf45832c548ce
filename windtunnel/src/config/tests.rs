use super::*;

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn every_flag_in_a_replay_command_is_one_replay_accepts() {
    let dir = dir_with("replay-flags", None);
    std::fs::write(dir.join("s.toml"), "").unwrap();
    let flags = Flags::of(&[
        (&settings::CONFIG, dir.join("s.toml").display().to_string()),
        (&settings::TARGET, "http://127.0.0.1:9".to_owned()),
        (&settings::TURBULENCE, "off".to_owned()),
        (&settings::USERS, "2".to_owned()),
        (&settings::RATE, "5/s".to_owned()),
        (&settings::DURATION, "1s".to_owned()),
        (&settings::RAMP_UP, "1s".to_owned()),
        (&settings::ITERATIONS, "3".to_owned()),
        (&settings::SEGMENT, "1/2".to_owned()),
    ]);
    let c = RunConfig::resolve_in(flags, env_of(&[]), &dir).unwrap();
    let names: Vec<&str> = c
        .replay_flags
        .iter()
        .step_by(2)
        .map(String::as_str)
        .collect();
    assert_eq!(names.len(), 9, "{names:?}");
    for n in names {
        assert!(crate::report::REPLAY_FLAGS.contains(&n), "{n}");
    }
}

/// A fresh directory, with `windtunnel.toml` holding `toml` when given.
fn dir_with(test: &str, toml: Option<&str>) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("windtunnel-config-{}", std::process::id()))
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(text) = toml {
        std::fs::write(dir.join("windtunnel.toml"), text).unwrap();
    }
    dir
}

fn resolve(
    test: &str,
    toml: Option<&str>,
    flags: Flags,
    env: &'static [(&'static str, &'static str)],
) -> Result<RunConfig, ConfigError> {
    RunConfig::resolve_in(flags, env_of(env), &dir_with(test, toml))
}

#[test]
fn flags_win_over_environment() {
    let flags = Flags::of(&[(&settings::SEED, "7".to_owned())]);
    let env = &[
        ("WINDTUNNEL_SEED", "9"),
        ("WINDTUNNEL_TARGET", "http://127.0.0.1:1"),
    ];
    let c = resolve("flags-env", None, flags, env).unwrap();
    let o = c.for_scenario("any");
    assert_eq!(o.seed.unwrap().value, 7);
    let target = o.target.unwrap();
    assert_eq!(target.value.url, "http://127.0.0.1:1");
    assert_eq!(target.source, Source::Env("WINDTUNNEL_TARGET"));
    assert_eq!(c.replay_flags, ["--target", "http://127.0.0.1:1"]);
}

const FILE: &str = r#"
seed = 1
target = "shop/local"

[report]
keep_runs = 5

[targets.shop.environments.local]
url = "http://127.0.0.1:8080"
[targets.shop.environments.staging.regions.eu]
url = "http://127.0.0.1:8081"

[scenarios.browse]
users = 20
duration = "30s"
seed = 2
objectives = [{ p99 = "250ms" }, { error_rate = "1%", of = "checkout" }]

[scenarios.spike]
stages = [{ duration = "10s", rate = "50/s" }, { duration = "20s", rate = "500/s", name = "spike" }]
"#;

#[test]
fn code_then_file_then_environment_then_flags() {
    let flags = Flags::of(&[
        (&settings::USERS, "200".to_owned()),
        (&settings::TARGET, "staging/eu".to_owned()),
    ]);
    let env = &[("WINDTUNNEL_USERS", "50"), ("WINDTUNNEL_DURATION", "2m")];
    let c = resolve("layers", Some(FILE), flags, env).unwrap();
    let o = c.for_scenario("browse");
    let users = o.load.users.unwrap();
    assert_eq!((users.value, users.source), (200, Source::Flag("--users")));
    let duration = o.load.duration.unwrap();
    assert_eq!(duration.value, Duration::from_secs(120));
    assert_eq!(duration.source.short(), "env WINDTUNNEL_DURATION");
    let seed = o.seed.unwrap();
    assert_eq!(seed.value, 2);
    assert!(
        seed.source
            .short()
            .ends_with("/layers/windtunnel.toml scenarios.browse.seed"),
        "{:?}",
        seed.source
    );
    let target = o.target.unwrap().value;
    assert_eq!(target.describe(), "shop/staging/eu (http://127.0.0.1:8081)");
    assert_eq!(o.objectives.unwrap().value.len(), 2);
    // Another scenario gets the file's top level.
    let o = c.for_scenario("spike");
    assert!(
        o.seed
            .unwrap()
            .source
            .short()
            .ends_with("windtunnel.toml seed")
    );
    assert_eq!(o.load.stages.unwrap().value.len(), 2);
    assert_eq!(c.keep_runs.value, 5);
    assert_eq!(
        c.replay_flags,
        [
            "--target",
            "staging/eu",
            "--users",
            "200",
            "--duration",
            "2m"
        ]
    );
    c.check_scenario_names(["browse", "spike", "other"].into_iter())
        .unwrap();
}

#[test]
fn file_errors_name_the_file_line_and_key() {
    let err = resolve(
        "typo",
        Some("[scenarios.browse]\nusres = 3\n"),
        Flags::default(),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("windtunnel.toml:2:1: `scenarios.browse.usres`: unknown key `usres` (did you mean `users`?)"),
        "{err}"
    );
    let err = resolve(
        "unit",
        Some("[scenarios.x]\nduration = 30\n"),
        Flags::default(),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(":2:12: `scenarios.x.duration`") && err.contains("needs a unit"),
        "{err}"
    );
    let err = resolve(
        "negative",
        Some("[scenarios.x]\nusers = -3\n"),
        Flags::default(),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(":2:9: `scenarios.x.users`"), "{err}");
    let err = resolve(
        "stage",
        Some("[scenarios.x]\nstages = [{ duration = \"1s\" }]\n"),
        Flags::default(),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`scenarios.x.stages[0]`") && err.contains("needs `users`"),
        "{err}"
    );
    let err = resolve(
        "target",
        Some("target = \"nowhere/x\"\n"),
        Flags::default(),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("windtunnel.toml:1:10: `target`") && err.contains("no targets catalog"),
        "{err}"
    );
    let c = resolve("names", Some(FILE), Flags::default(), &[]).unwrap();
    let err = c
        .check_scenario_names(["browse_and_buy", "spike"].into_iter())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`scenarios.browse`: there is no scenario named `browse`")
            && err.contains("the scenarios are: `browse_and_buy`, `spike`"),
        "{err}"
    );
}

#[test]
fn a_combination_the_catalog_lacks_is_an_error_not_a_fallback() {
    let flags = Flags::of(&[(&settings::TARGET, "staging/us".to_owned())]);
    let err = resolve("missing-combination", Some(FILE), flags, &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "invalid value `staging/us` for flag `--target`: no region `us` in `shop/staging`"
        ),
        "{err}"
    );
}

#[test]
fn settings_files_are_found_or_named() {
    let dir = dir_with("both", Some("seed = 1\n"));
    std::fs::write(dir.join("windtunnel.json"), "{}").unwrap();
    let err = RunConfig::resolve_in(Flags::default(), env_of(&[]), &dir)
        .unwrap_err()
        .to_string();
    assert!(err.contains("keep one"), "{err}");
    let err = resolve(
        "missing",
        None,
        Flags::default(),
        &[("WINDTUNNEL_CONFIG", "/nonexistent/wt.toml")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("invalid value `/nonexistent/wt.toml` for environment variable `WINDTUNNEL_CONFIG`: no such file"),
        "{err}"
    );
    let dir = dir_with("json", None);
    std::fs::write(
        dir.join("windtunnel.json"),
        "{\"scenarios\": {\"x\": {\"rate\": 100}}}",
    )
    .unwrap();
    let err = RunConfig::resolve_in(Flags::default(), env_of(&[]), &dir)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("windtunnel.json:1:")
            && err.contains("`scenarios.x.rate`")
            && err.contains("\"100/s\""),
        "{err}"
    );
}

#[test]
fn bad_values_name_their_source() {
    let err = resolve(
        "bad-seed",
        None,
        Flags::default(),
        &[("WINDTUNNEL_SEED", "x1")],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value `x1` for environment variable `WINDTUNNEL_SEED`: expected an unsigned 64-bit integer, like `--seed 42`"
    );
    let flags = Flags::of(&[(&settings::TARGET, "localhost:80".to_owned())]);
    let err = resolve("bad-target", None, flags, &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("flag `--target`") && err.contains("not a URL"),
        "{err}"
    );
    for (var, value, expected) in [
        ("WINDTUNNEL_USERS", "-5", "whole number of users"),
        ("WINDTUNNEL_RATE", "100", "`100/s`"),
        ("WINDTUNNEL_DURATION", "30", "needs a unit"),
        ("WINDTUNNEL_RAMP_UP", "soon", "like `30s`"),
        ("WINDTUNNEL_ITERATIONS", "1.5", "whole number of iterations"),
    ] {
        let env: &'static [(&'static str, &'static str)] =
            Box::leak(vec![(var, value)].into_boxed_slice());
        let err = resolve("bad-load", None, Flags::default(), env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(var) && err.contains(expected), "{err}");
    }
}

#[test]
fn retention_and_run_id_are_checked() {
    let c = resolve("keep", None, Flags::default(), &[]).unwrap();
    assert_eq!((c.keep_runs.value, c.run_id), (DEFAULT_KEEP_RUNS, None));
    let c = resolve(
        "keep-flag",
        None,
        Flags::of(&[(&settings::KEEP_RUNS, "3".to_owned())]),
        &[
            ("WINDTUNNEL_KEEP_RUNS", "9"),
            ("WINDTUNNEL_RUN_ID", "replay-1"),
        ],
    )
    .unwrap();
    assert_eq!(
        (c.keep_runs.value, c.run_id.as_deref()),
        (3, Some("replay-1"))
    );
    let err = resolve(
        "keep-bad",
        None,
        Flags::default(),
        &[("WINDTUNNEL_KEEP_RUNS", "-1")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`WINDTUNNEL_KEEP_RUNS`") && err.contains("0 keeps all"),
        "{err}"
    );
    let err = resolve(
        "run-id",
        None,
        Flags::default(),
        &[("WINDTUNNEL_RUN_ID", "../x")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`WINDTUNNEL_RUN_ID`") && err.contains("directory name"),
        "{err}"
    );
}

#[test]
fn tags_come_from_flags_or_a_comma_list() {
    let c = resolve(
        "tags",
        None,
        Flags::default(),
        &[("WINDTUNNEL_TAGS", "smoke, nightly,")],
    )
    .unwrap();
    assert_eq!(c.tags, ["smoke", "nightly"]);
    let flags = Flags::of(&[(&settings::TAG, "a".to_owned())]);
    let c = resolve("tags-flag", None, flags, &[("WINDTUNNEL_TAGS", "b")]).unwrap();
    assert_eq!(c.tags, ["a"]);
}

#[test]
fn the_run_id_flag_wins_over_its_variable_and_is_checked_alike() {
    let flags = Flags::of(&[(&settings::RUN_ID, "from-flag".to_owned())]);
    let c = resolve(
        "run-id-flag",
        None,
        flags,
        &[("WINDTUNNEL_RUN_ID", "from-env")],
    )
    .unwrap();
    assert_eq!(c.run_id.as_deref(), Some("from-flag"));
    let flags = Flags::of(&[(&settings::RUN_ID, "../x".to_owned())]);
    let err = resolve("run-id-flag-bad", None, flags, &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid value `../x` for flag `--run-id`") && err.contains("directory name"),
        "{err}"
    );
}

#[test]
fn check_config_is_a_flag_or_a_variable_of_1_or_0() {
    let flags = Flags::of(&[(&settings::CHECK_CONFIG, String::new())]);
    assert!(resolve("check-flag", None, flags, &[]).unwrap().check_only);
    let on = &[("WINDTUNNEL_CHECK_CONFIG", "1")];
    assert!(
        resolve("check-env", None, Flags::default(), on)
            .unwrap()
            .check_only
    );
    let off = &[("WINDTUNNEL_CHECK_CONFIG", "0")];
    assert!(
        !resolve("check-off", None, Flags::default(), off)
            .unwrap()
            .check_only
    );
    let err = resolve(
        "check-bad",
        None,
        Flags::default(),
        &[("WINDTUNNEL_CHECK_CONFIG", "maybe")],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "invalid value `maybe` for environment variable `WINDTUNNEL_CHECK_CONFIG`: expected `1` \
         (on) or `0` (off)"
    );
}
