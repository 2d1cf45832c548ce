//! The one definition of every setting that comes from outside the code: its flag, its
//! `WINDTUNNEL_*` variable, its key in the settings file and what it means. The flag
//! recogniser, `--help`, "did you mean", the value lookups of `config::RunConfig`
//! and the README's settings table are all derived from [`ALL`]; a test holds the README to it.
//!
//! Adding a setting: a row here, the code that reads it (`flags.value(&ROW)` or `env(&ROW)`),
//! and its test.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One setting from outside the code.
#[derive(Debug)]
pub(crate) struct Def {
    /// The flag after `--`, if the setting has one (a few process guards are variables only).
    pub(crate) flag: Option<&'static str>,
    /// What the flag takes, like `<N>`; `None` for a switch.
    pub(crate) value: Option<&'static str>,
    /// The environment variable.
    pub(crate) env: &'static str,
    /// Other variables that set it too, as the README says it.
    pub(crate) also: &'static str,
    /// Its keys in the settings file, as the README writes them, if it has any (the file's
    /// own parser reads them).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) file: Option<&'static str>,
    /// What it does, with its default.
    pub(crate) help: &'static str,
}

macro_rules! settings {
    ($($id:ident = $def:expr;)*) => {
        $(pub(crate) const $id: Def = $def;)*
        /// Every setting, in the order `--help` and the README list them.
        pub(crate) const ALL: &[&Def] = &[$(&$id),*];
    };
}

settings! {
    SEED = Def {
        flag: Some("--seed"), value: Some("<N>"), env: "WINDTUNNEL_SEED", also: "",
        file: Some("`seed`, `scenarios.<name>.seed`"),
        help: "seed of every scenario's random decisions (default: random, printed)",
    };
    TARGET = Def {
        flag: Some("--target"), value: Some("<URL>"), env: "WINDTUNNEL_TARGET", also: "",
        file: Some("`target`, `scenarios.<name>.target`"),
        help: "send the load there instead of the scenario's target: a URL, or a combination \
               `app/env/region` of the settings file's targets catalog",
    };
    CONFIG = Def {
        flag: Some("--config"), value: Some("<FILE>"), env: "WINDTUNNEL_CONFIG", also: "",
        file: None,
        help: "the settings file (default: `windtunnel.toml` or `windtunnel.json` in the working \
               directory, which `cargo test` sets to the package's directory)",
    };
    USERS = Def {
        flag: Some("--users"), value: Some("<N>"), env: "WINDTUNNEL_USERS", also: "",
        file: Some("`scenarios.<name>.users`"),
        help: "users of a closed model",
    };
    RATE = Def {
        flag: Some("--rate"), value: Some("<R>"), env: "WINDTUNNEL_RATE", also: "",
        file: Some("`scenarios.<name>.rate`"),
        help: "arrival rate of an open model: `100/s`, `300/m`",
    };
    DURATION = Def {
        flag: Some("--duration"), value: Some("<D>"), env: "WINDTUNNEL_DURATION", also: "",
        file: Some("`scenarios.<name>.duration`"),
        help: "how long the load runs: `30s`, `2m`",
    };
    RAMP_UP = Def {
        flag: Some("--ramp-up"), value: Some("<D>"), env: "WINDTUNNEL_RAMP_UP", also: "",
        file: Some("`scenarios.<name>.ramp_up`"),
        help: "ramp-up of constant users, like `10s`",
    };
    ITERATIONS = Def {
        flag: Some("--iterations"), value: Some("<N>"), env: "WINDTUNNEL_ITERATIONS", also: "",
        file: Some("`scenarios.<name>.iterations`"),
        help: "iterations per user of a closed model",
    };
    SEGMENT = Def {
        flag: Some("--segment"), value: Some("<I/N>"), env: "WINDTUNNEL_SEGMENT",
        also: "or `WINDTUNNEL_SEGMENTS=N` with `JOB_COMPLETION_INDEX`",
        file: None,
        help: "run segment I of N of each load: its share of users, iterations or arrivals \
               (see Beyond one machine)",
    };
    START_AT = Def {
        flag: Some("--start-at"), value: Some("<TIME>"), env: "WINDTUNNEL_START_AT", also: "",
        file: None,
        help: "wait until TIME (RFC 3339, like `2026-11-21T10:00:00Z`) before the first \
               scenario, so that segments start together; a time in the past is an error",
    };
    METRICS = Def {
        flag: Some("--metrics"), value: Some("<ADDR>"), env: "WINDTUNNEL_METRICS", also: "",
        file: None,
        help: "serve live metrics in Prometheus' format at `http://ADDR/metrics`; a bare port \
               binds 127.0.0.1",
    };
    CHECK_CONFIG = Def {
        flag: Some("--check-config"), value: None, env: "WINDTUNNEL_CHECK_CONFIG", also: "",
        file: None,
        help: "check the settings file, environment and flags against every selected scenario, \
               print each resolved setting and its source, send no request (the variable: `1`)",
    };
    TAG = Def {
        flag: Some("--tag"), value: Some("<TAG>"), env: "WINDTUNNEL_TAGS", also: "",
        file: None,
        help: "run only scenarios with this tag; repeat the flag for several, or give `a,b` to \
               the variable",
    };
    OUT = Def {
        flag: Some("--out"), value: Some("<DIR>"), env: "WINDTUNNEL_OUT", also: "",
        file: Some("`report.out`"),
        help: "report root (default `<target dir>/windtunnel`, from `CARGO_TARGET_DIR` or the \
               binary's location)",
    };
    LOG = Def {
        flag: Some("--log"), value: Some("<FILTER>"), env: "WINDTUNNEL_LOG", also: "`RUST_LOG`",
        file: Some("`log`"),
        help: "tracing logs on stderr: a level (`info`) or `target=level,...`; spans for the \
               scenario, each agent and each request",
    };
    TURBULENCE = Def {
        flag: Some("--turbulence"), value: Some("<SPEC>"), env: "WINDTUNNEL_TURBULENCE", also: "",
        file: Some("`turbulence`, `scenarios.<name>.turbulence`"),
        help: "replace every scenario's turbulence, like `brownout@10s..20s: delay=300ms p=0.2`, \
               or `off` (see Turbulence)",
    };
    TAPE = Def {
        flag: Some("--tape"), value: Some("<FILE>"), env: "WINDTUNNEL_TAPE", also: "",
        file: None,
        help: "replay a run's fault tape (`runs/<id>/tapes/<binary>--<scenario>.json`, which \
               `windtunnel replay` passes): the faults fire on the requests and connections it names, not \
               by the clock, and nowhere else (see Turbulence)",
    };
    KEEP_RUNS = Def {
        flag: Some("--keep-runs"), value: Some("<N>"), env: "WINDTUNNEL_KEEP_RUNS", also: "",
        file: Some("`report.keep_runs`"),
        help: "keep the N newest runs under the report root (default 30; `0` keeps all)",
    };
    INCONCLUSIVE = Def {
        flag: Some("--inconclusive"), value: Some("<fail|warn>"), env: "WINDTUNNEL_INCONCLUSIVE",
        also: "",
        file: Some("`inconclusive`"),
        help: "what a scenario whose measurement cannot be trusted (a saturated generator, late \
               starts) comes to: `fail` (default) or `warn`: it passes, with the doubts as \
               warnings (see What a pass means)",
    };
    RUN_ID = Def {
        flag: Some("--run-id"), value: Some("<ID>"), env: "WINDTUNNEL_RUN_ID", also: "",
        file: None,
        help: "the run's id and directory name (default: start time and process id, or \
               `NEXTEST_RUN_ID`)",
    };
    PROGRESS = Def {
        flag: None, value: None, env: "WINDTUNNEL_PROGRESS", also: "",
        file: None,
        help: "`0` hides the live progress line, `1` shows it in CI too (on a terminal)",
    };
    MAX_FILE_SIZE = Def {
        flag: None, value: None, env: "WINDTUNNEL_MAX_FILE_SIZE", also: "",
        file: None,
        help: "the most bytes a settings, plan, data or report file may have (default 64 MiB)",
    };
    ALLOW_DATA_OUTSIDE_PLAN = Def {
        flag: None, value: None, env: "WINDTUNNEL_ALLOW_DATA_OUTSIDE_PLAN", also: "",
        file: None,
        help: "`1` lets a plan read data files outside its own directory",
    };
}

/// The setting whose flag is `flag`.
pub(crate) fn by_flag(flag: &str) -> Option<&'static Def> {
    ALL.iter().copied().find(|d| d.flag == Some(flag))
}

/// Every flag of ours.
pub(crate) fn flags() -> impl Iterator<Item = &'static str> + Clone {
    ALL.iter().filter_map(|d| d.flag)
}

/// The raw values of windtunnel's own flags, as found on the command line, by flag.
#[derive(Clone, Debug, Default)]
pub(crate) struct Flags {
    values: BTreeMap<&'static str, Vec<String>>,
}

impl Flags {
    /// Records `value` for the flag of `def` (`""` for a switch).
    pub(crate) fn push(&mut self, def: &Def, value: String) {
        let flag = def.flag.expect("a flag of the table");
        self.values.entry(flag).or_default().push(value);
    }

    /// Flags set from a list, for tests.
    #[cfg(test)]
    pub(crate) fn of(list: &[(&Def, String)]) -> Self {
        let mut flags = Flags::default();
        for (def, value) in list {
            flags.push(def, value.clone());
        }
        flags
    }

    /// The flag's value; given more than once, the last.
    pub(crate) fn value(&self, def: &Def) -> Option<String> {
        def.flag
            .and_then(|f| self.values.get(f))
            .and_then(|v| v.last().cloned())
    }

    /// Every value the flag was given, in order.
    pub(crate) fn values(&self, def: &Def) -> Vec<String> {
        def.flag
            .and_then(|f| self.values.get(f))
            .cloned()
            .unwrap_or_default()
    }

    /// Whether the switch was given.
    #[cfg(test)]
    pub(crate) fn is_set(&self, def: &Def) -> bool {
        def.flag.is_some_and(|f| self.values.contains_key(f))
    }
}

/// The flags' part of `--help` and of the errors that list what is accepted.
pub(crate) fn help() -> String {
    const INDENT: usize = 24;
    const WIDTH: usize = 100;
    let mut out = String::from(
        "windtunnel options (after `--`, e.g. `cargo test --test load -- --seed 7`):\n",
    );
    for def in ALL {
        let Some(flag) = def.flag else { continue };
        let head = match def.value {
            Some(v) => format!("      {flag} {v}"),
            None => format!("      {flag}"),
        };
        let mut text = format!("{} (env: {}", def.help, def.env);
        if !def.also.is_empty() {
            let _ = write!(text, "; {}", def.also.replace('`', ""));
        }
        text.push(')');
        out.push_str(&head);
        let mut col = head.len();
        if col + 2 > INDENT {
            out.push('\n');
            col = 0;
        }
        out.push_str(&" ".repeat(INDENT - col));
        col = INDENT;
        for word in text.split(' ') {
            if col + 1 + word.len() > WIDTH && col > INDENT {
                out.push('\n');
                out.push_str(&" ".repeat(INDENT));
                col = INDENT;
            } else if col > INDENT {
                out.push(' ');
                col += 1;
            }
            out.push_str(word);
            col += word.len();
        }
        out.push('\n');
    }
    let only: Vec<&str> = ALL
        .iter()
        .filter(|d| d.flag.is_none())
        .map(|d| d.env)
        .collect();
    let _ = writeln!(
        out,
        "Only as variables (README, section Running):\n      {}",
        only.join(", ")
    );
    out.push_str(
        "Precedence: code < settings file < environment < flags. `--target` takes a URL or a \
         catalog\ncombination `app/env/region` from the settings file.",
    );
    out
}

/// The README's settings table, as it must read.
#[cfg(test)]
pub(crate) fn readme_table() -> String {
    let mut out =
        String::from("| flag | environment | settings file | meaning |\n|---|---|---|---|\n");
    for def in ALL {
        let flag = match (def.flag, def.value) {
            (Some(f), Some(v)) => format!("`{f} {v}`"),
            (Some(f), None) => format!("`{f}`"),
            _ => String::new(),
        };
        let mut env = format!("`{}`", def.env);
        if !def.also.is_empty() {
            let _ = write!(env, ", {}", def.also);
        }
        let file = def.file.unwrap_or_default();
        let help = def.help.replace('|', "\\|");
        let flag = flag.replace('|', "\\|");
        let _ = writeln!(out, "| {flag} | {env} | {file} | {help} |");
    }
    out
}
