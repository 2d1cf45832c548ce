//! Splits the command line into windtunnel's own flags and libtest's. libtest-mimic rejects any
//! flag it does not know, so ours are taken out first, and an unknown flag is reported with the
//! full list of flags both accept.

use std::ffi::OsString;

use crate::config::Flags;

/// windtunnel's flags, shown in errors and `--help`.
pub(crate) const WINDTUNNEL_FLAGS: &str = "\
windtunnel options (after `--`, e.g. `cargo test --test load -- --seed 7`):
      --seed <N>        seed of every scenario's random decisions (env: WINDTUNNEL_SEED)
      --target <URL>    send the load to URL instead of the scenario's target (env: WINDTUNNEL_TARGET)
      --tag <TAG>       run only scenarios with this tag; repeat for several (env: WINDTUNNEL_TAGS=a,b)
      --out <DIR>       write reports under DIR (env: WINDTUNNEL_OUT; default: <target dir>/windtunnel)
      --log <FILTER>    log to stderr: a level (`info`) or `target=level,...` (env: WINDTUNNEL_LOG, RUST_LOG)
      --turbulence <SPEC>
                        replace every scenario's turbulence, e.g. `brownout@10s..20s: delay=300ms p=0.2`,
                        or `off` (env: WINDTUNNEL_TURBULENCE; syntax: README, section Turbulence)
      --keep-runs <N>   keep the N newest runs under the report root, 0 for all (env: WINDTUNNEL_KEEP_RUNS;
                        default: 30)
      --config <FILE>   read settings from FILE instead of ./windtunnel.toml or ./windtunnel.json
                        (env: WINDTUNNEL_CONFIG)
      --users <N>       users of a closed model (env: WINDTUNNEL_USERS)
      --rate <R>        arrival rate of an open model, like `100/s` or `300/m` (env: WINDTUNNEL_RATE)
      --duration <D>    how long the load runs, like `2m` (env: WINDTUNNEL_DURATION)
      --ramp-up <D>     ramp-up of constant users, like `10s` (env: WINDTUNNEL_RAMP_UP)
      --iterations <N>  iterations per user of a closed model (env: WINDTUNNEL_ITERATIONS)
      --segment <I/N>   run segment I of N of each load: its share of users, iterations or arrivals
                        (env: WINDTUNNEL_SEGMENT; or WINDTUNNEL_SEGMENTS=N with JOB_COMPLETION_INDEX)
      --start-at <TIME> wait until TIME (RFC 3339, like `2026-11-21T10:00:00Z`) before the first
                        scenario, so that segments start together (env: WINDTUNNEL_START_AT)
      --metrics <ADDR>  serve live metrics in Prometheus format at http://ADDR/metrics; a bare
                        port binds 127.0.0.1 (env: WINDTUNNEL_METRICS)
      --inconclusive <fail|warn>
                        what a scenario whose measurement cannot be trusted (a saturated generator,
                        late starts) comes to: `fail` (default) or `warn`: pass with warnings
                        (env: WINDTUNNEL_INCONCLUSIVE)
      --check-config    check the settings file, environment and flags against every selected
                        scenario, print each resolved setting and its source, send no request
Precedence: code < settings file < environment < flags. `--target` takes a URL or a catalog
combination `app/env/region` from the settings file.";

/// windtunnel's own flags: `--check-config` alone, the others each with a value.
const OWN_FLAGS: &[&str] = &[
    "--seed",
    "--target",
    "--out",
    "--tag",
    "--log",
    "--turbulence",
    "--keep-runs",
    "--config",
    "--users",
    "--rate",
    "--duration",
    "--ramp-up",
    "--iterations",
    "--segment",
    "--start-at",
    "--metrics",
    "--inconclusive",
    "--check-config",
];

/// The flags libtest-mimic 0.8 accepts.
const LIBTEST_FLAGS: &[&str] = &[
    "--include-ignored",
    "--ignored",
    "--test",
    "--bench",
    "--list",
    "--nocapture",
    "--show-output",
    "--exact",
    "--quiet",
    "-q",
    "--test-threads",
    "--logfile",
    "--skip",
    "--color",
    "--format",
    "--help",
    "-h",
    "-Z",
];

const LIBTEST_SUMMARY: &str = "\
test harness options: --list, --exact, --skip <FILTER>, --ignored, --include-ignored,
      --test-threads <N>, --format pretty|terse|json, -q/--quiet, --color auto|always|never,
      --nocapture, --show-output, --logfile <PATH>, [FILTER]";

/// A command line that cannot be understood.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ArgsError {
    #[error("unknown flag `{0}`{1}\n\n{WINDTUNNEL_FLAGS}\n{LIBTEST_SUMMARY}")]
    Unknown(String, String),
    #[error("flag `{0}` needs a value\n\n{WINDTUNNEL_FLAGS}")]
    MissingValue(&'static str),
    #[error("flag `{0}` takes no value")]
    NoValue(&'static str),
    #[error("flag `{0}` is not valid UTF-8")]
    NotUtf8(String),
}

/// Takes windtunnel's flags out of `args` (the program name first) and returns them with the
/// rest, for libtest-mimic.
pub(crate) fn split(args: Vec<OsString>) -> Result<(Flags, Vec<OsString>), ArgsError> {
    let mut flags = Flags::default();
    let mut rest = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    if let Some(program) = it.next() {
        rest.push(program);
    }
    let mut after_double_dash = false;
    while let Some(arg) = it.next() {
        let Some(text) = arg.to_str() else {
            rest.push(arg);
            continue;
        };
        if after_double_dash || !text.starts_with('-') || text == "-" {
            rest.push(arg);
            continue;
        }
        if text == "--" {
            after_double_dash = true;
            rest.push(arg);
            continue;
        }
        let (key, inline) = match text.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_owned(), Some(v.to_owned())),
            _ => (text.to_owned(), None),
        };
        if key == "--check-config" {
            if inline.is_some() {
                return Err(ArgsError::NoValue("--check-config"));
            }
            flags.check_config = true;
            continue;
        }
        // Every other flag of ours takes a value.
        match OWN_FLAGS.iter().copied().find(|f| *f == key) {
            Some(name) => {
                let value = match inline {
                    Some(v) => v,
                    None => match it.next() {
                        Some(v) => v.into_string().map_err(|v| {
                            ArgsError::NotUtf8(format!("{name} {}", v.to_string_lossy()))
                        })?,
                        None => return Err(ArgsError::MissingValue(name)),
                    },
                };
                match name {
                    "--seed" => flags.seed = Some(value),
                    "--target" => flags.target = Some(value),
                    "--out" => flags.out = Some(value),
                    "--tag" => flags.tags.push(value),
                    "--turbulence" => flags.turbulence = Some(value),
                    "--keep-runs" => flags.keep_runs = Some(value),
                    "--config" => flags.config = Some(value),
                    "--users" => flags.users = Some(value),
                    "--rate" => flags.rate = Some(value),
                    "--duration" => flags.duration = Some(value),
                    "--ramp-up" => flags.ramp_up = Some(value),
                    "--iterations" => flags.iterations = Some(value),
                    "--segment" => flags.segment = Some(value),
                    "--start-at" => flags.start_at = Some(value),
                    "--metrics" => flags.metrics = Some(value),
                    "--inconclusive" => flags.inconclusive = Some(value),
                    _ => flags.log = Some(value),
                }
            }
            None => {
                let known = LIBTEST_FLAGS.contains(&key.as_str())
                    || (key.starts_with("-Z") && key.len() > 2)
                    || is_short_cluster(&key);
                if !known {
                    let ours = OWN_FLAGS.iter().chain(LIBTEST_FLAGS).copied();
                    let hint = crate::config::did_you_mean(&key, ours)
                        .map(|f| format!(" (did you mean `{f}`?)"))
                        .unwrap_or_default();
                    return Err(ArgsError::Unknown(key, hint));
                }
                rest.push(arg);
            }
        }
    }
    Ok((flags, rest))
}

/// `-q` alone or `-hq`-style clusters of libtest's short flags.
fn is_short_cluster(key: &str) -> bool {
    key.len() > 1 && !key.starts_with("--") && key[1..].chars().all(|c| matches!(c, 'q' | 'h'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_a_replay_repeats_is_a_windtunnel_flag() {
        for f in crate::report::REPLAY_FLAGS {
            assert!(OWN_FLAGS.contains(f), "{f}");
        }
    }

    fn split_str(args: &[&str]) -> Result<(Flags, Vec<String>), ArgsError> {
        let args = std::iter::once("bin")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        split(args).map(|(f, rest)| {
            (
                f,
                rest.into_iter()
                    .skip(1)
                    .map(|a| a.into_string().unwrap())
                    .collect(),
            )
        })
    }

    #[test]
    fn takes_out_our_flags_and_keeps_libtests() {
        let (flags, rest) = split_str(&[
            "--exact",
            "shop::checkout",
            "--seed",
            "7",
            "--tag=smoke",
            "--tag",
            "nightly",
            "--target=http://127.0.0.1:9",
            "--users",
            "200",
            "--duration=2m",
            "--check-config",
            "--test-threads",
            "2",
            "--format",
            "terse",
            "-q",
        ])
        .unwrap();
        assert_eq!(flags.seed.as_deref(), Some("7"));
        assert_eq!(flags.tags, ["smoke", "nightly"]);
        assert_eq!(flags.target.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(flags.users.as_deref(), Some("200"));
        assert_eq!(flags.duration.as_deref(), Some("2m"));
        assert!(flags.check_config);
        assert_eq!(
            rest,
            [
                "--exact",
                "shop::checkout",
                "--test-threads",
                "2",
                "--format",
                "terse",
                "-q"
            ]
        );
    }

    #[test]
    fn unknown_flags_list_what_is_accepted() {
        let err = split_str(&["--usres", "5"]).unwrap_err().to_string();
        assert!(
            err.starts_with("unknown flag `--usres` (did you mean `--users`?)"),
            "{err}"
        );
        assert!(
            err.contains("--seed <N>") && err.contains("--exact"),
            "{err}"
        );
        let err = split_str(&["--seed"]).unwrap_err().to_string();
        assert!(err.starts_with("flag `--seed` needs a value"), "{err}");
        let err = split_str(&["--check-config=yes"]).unwrap_err().to_string();
        assert_eq!(err, "flag `--check-config` takes no value");
    }

    #[cfg(unix)]
    #[test]
    fn values_must_be_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec![
            OsString::from("bin"),
            OsString::from("--out"),
            OsString::from_vec(vec![b'd', 0xff]),
        ];
        let err = split(args).unwrap_err().to_string();
        assert_eq!(err, "flag `--out d\u{fffd}` is not valid UTF-8");
    }

    #[test]
    fn values_that_look_like_flags_after_double_dash_pass_through() {
        let (_, rest) = split_str(&["--", "--weird-filter"]).unwrap();
        assert_eq!(rest, ["--", "--weird-filter"]);
    }
}
