//! Splits the command line into windtunnel's own flags and libtest's. libtest-mimic rejects any
//! flag it does not know, so ours are taken out first, and an unknown flag is reported with the
//! full list of flags both accept.

use std::ffi::OsString;

use crate::config::Flags;
use crate::settings;

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
    #[error("unknown flag `{0}`{1}\n\n{help}\n{LIBTEST_SUMMARY}", help = settings::help())]
    Unknown(String, String),
    #[error("flag `{0}` needs a value\n\n{help}", help = settings::help())]
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
        match settings::by_flag(&key) {
            Some(def) => {
                let name = def.flag.unwrap_or_default();
                let value = match (def.value, inline) {
                    (None, Some(_)) => return Err(ArgsError::NoValue(name)),
                    (None, None) => String::new(),
                    (Some(_), Some(v)) => v,
                    (Some(_), None) => match it.next() {
                        Some(v) => v.into_string().map_err(|v| {
                            ArgsError::NotUtf8(format!("{name} {}", v.to_string_lossy()))
                        })?,
                        None => return Err(ArgsError::MissingValue(name)),
                    },
                };
                flags.push(def, value);
            }
            None => {
                let known = LIBTEST_FLAGS.contains(&key.as_str())
                    || (key.starts_with("-Z") && key.len() > 2)
                    || is_short_cluster(&key);
                if !known {
                    let ours = settings::flags().chain(LIBTEST_FLAGS.iter().copied());
                    let hint = crate::config::did_you_mean_hint(&key, ours);
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
            assert!(settings::by_flag(f).is_some(), "{f}");
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
        assert_eq!(flags.value(&settings::SEED).as_deref(), Some("7"));
        assert_eq!(flags.values(&settings::TAG), ["smoke", "nightly"]);
        let target = flags.value(&settings::TARGET);
        assert_eq!(target.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(flags.value(&settings::USERS).as_deref(), Some("200"));
        assert_eq!(flags.value(&settings::DURATION).as_deref(), Some("2m"));
        assert!(flags.is_set(&settings::CHECK_CONFIG));
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

    /// The settings read where they are used rather than by `RunConfig`, each with its reader.
    const READ_ELSEWHERE: &[(&str, &str)] = &[
        ("WINDTUNNEL_PROGRESS", "Progress::start"),
        ("WINDTUNNEL_MAX_FILE_SIZE", "bounded::max_file_size"),
        ("WINDTUNNEL_ALLOW_DATA_OUTSIDE_PLAN", "plan::data_path"),
    ];

    #[test]
    fn every_setting_is_in_help_a_flag_and_a_variable() {
        let help = settings::help();
        let asked = std::cell::RefCell::new(Vec::new());
        let env = |k: &str| {
            asked.borrow_mut().push(k.to_owned());
            None
        };
        crate::config::RunConfig::resolve(Flags::default(), env).unwrap();
        let asked = asked.into_inner();
        for def in settings::ALL {
            assert!(
                help.contains(def.env),
                "{} is not in --help:\n{help}",
                def.env
            );
            assert!(def.env.starts_with("WINDTUNNEL_"), "{}", def.env);
            let elsewhere = READ_ELSEWHERE.iter().any(|(e, _)| *e == def.env);
            assert!(
                asked.iter().any(|a| a == def.env) || elsewhere,
                "{} is never read",
                def.env
            );
            let Some(flag) = def.flag else {
                assert!(elsewhere, "{} has no flag and no reader", def.env);
                continue;
            };
            assert!(
                help.contains(&format!("      {flag}")),
                "{flag} is not in --help"
            );
            let args: &[&str] = match def.value {
                Some(_) => &[flag, "x"],
                None => &[flag],
            };
            let (flags, rest) = split_str(args).unwrap();
            assert!(rest.is_empty(), "{flag} was left for libtest");
            match def.value {
                Some(_) => assert_eq!(flags.value(def).as_deref(), Some("x"), "{flag}"),
                None => assert!(flags.is_set(def), "{flag}"),
            }
        }
    }

    #[test]
    fn the_readme_lists_every_setting_as_defined() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
        let Ok(readme) = std::fs::read_to_string(&path) else {
            eprintln!(
                "skipped: no README at {} (outside the workspace)",
                path.display()
            );
            return;
        };
        let start = "<!-- settings table: derived from windtunnel/src/settings.rs -->\n";
        let end = "<!-- end of the settings table -->";
        let from = readme
            .find(start)
            .expect("the README marks its settings table")
            + start.len();
        let to = from + readme[from..].find(end).expect("the settings table ends");
        let want = settings::readme_table();
        assert!(
            readme[from..to] == want,
            "the README's settings table differs from windtunnel/src/settings.rs; it should \
             read:\n{want}"
        );
    }
}
