//! [`RunConfig`]: the settings of one run, from four layers, each winning over the one before:
//! the code (or windtunnel's defaults), a settings file (`windtunnel.toml` or
//! `windtunnel.json` in the working directory, or the file `--config`/`WINDTUNNEL_CONFIG`
//! names), the environment (`WINDTUNNEL_*`) and the flags after `--`. Every value remembers
//! where it came from, so an error can say which file key, flag or variable was wrong, and the
//! report can say where each setting of a scenario came from.

mod catalog;
mod file;
mod values;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

pub(crate) use crate::bounded::read_bounded;
pub(crate) use crate::settings::Flags;
use crate::settings::{self, Def};
pub(crate) use catalog::{Catalog, Target, header_problem};
pub(crate) use file::FileError;
pub(crate) use file::{Document, KeyPath, did_you_mean, did_you_mean_hint, is_plain_name};
pub(crate) use values::{Dur, ObjectiveSpec, RateText, StageSpec, parse_duration, parse_rate};

use crate::load::{self, MAX_AGENTS};
use crate::objectives::Objective;
use crate::provenance::{Set, Source};
use crate::segment::Segment;
use crate::turbulence::spec::{self, Override};

/// Settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// A flag's or variable's value is wrong.
    #[error(
        "invalid value `{}` for {source_}: {expected}",
        crate::redact::text(value)
    )]
    Value {
        value: String,
        source_: Source,
        expected: Cow<'static, str>,
    },
    /// The settings file is wrong.
    #[error(transparent)]
    File(#[from] FileError),
}

/// The settings a scenario's code may have set that come from outside it instead, each with
/// its source. The load settings change the code's load model; one that does not apply to it
/// (`users` on an open model) is an error when the scenario runs, not ignored.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub(crate) target: Option<Set<Target>>,
    pub(crate) seed: Option<Set<u64>>,
    pub(crate) turbulence: Option<Set<Arc<Override>>>,
    /// The load model's settings, which `load` applies to the code's model.
    pub(crate) load: load::Overrides,
    pub(crate) objectives: Option<Set<Vec<Objective>>>,
    pub(crate) request_timeout: Option<Set<Duration>>,
    pub(crate) graceful_stop: Option<Set<Duration>>,
}

impl Overrides {
    /// `self` with every setting `over` has replacing it.
    fn overlay(&mut self, over: &Overrides) {
        Set::overlay(&mut self.target, &over.target);
        Set::overlay(&mut self.seed, &over.seed);
        Set::overlay(&mut self.turbulence, &over.turbulence);
        Set::overlay(&mut self.objectives, &over.objectives);
        Set::overlay(&mut self.request_timeout, &over.request_timeout);
        Set::overlay(&mut self.graceful_stop, &over.graceful_stop);
        self.load.overlay(&over.load);
    }
}

/// A settings file: what `windtunnel.toml` may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    /// The target of every scenario: a URL or a catalog combination (`app/env/region`).
    target: Option<String>,
    seed: Option<u64>,
    turbulence: Option<String>,
    log: Option<String>,
    /// Header and query keys whose values are secret, beside the built-in ones.
    #[serde(default)]
    redact: Vec<String>,
    /// What an inconclusive measurement does to a scenario: `fail` (the default) or `warn`.
    inconclusive: Option<String>,
    #[serde(default)]
    report: ReportSpec,
    #[serde(default)]
    targets: BTreeMap<String, catalog::AppSpec>,
    #[serde(default)]
    scenarios: BTreeMap<String, ScenarioSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportSpec {
    out: Option<PathBuf>,
    keep_runs: Option<usize>,
}

/// What the settings file may set for one scenario.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScenarioSpec {
    target: Option<String>,
    seed: Option<u64>,
    turbulence: Option<String>,
    users: Option<u32>,
    rate: Option<RateText>,
    duration: Option<Dur>,
    ramp_up: Option<Dur>,
    iterations: Option<u64>,
    stages: Option<Vec<StageSpec>>,
    objectives: Option<Vec<ObjectiveSpec>>,
    request_timeout: Option<Dur>,
    graceful_stop: Option<Dur>,
}

/// The settings file that was read.
#[derive(Debug)]
pub(crate) struct SettingsFile {
    pub(crate) doc: Document,
    /// The flag or variable that named it; [`Source::Default`] when found in the working
    /// directory.
    pub(crate) chosen_by: Source,
}

/// The resolved settings of a run.
#[derive(Debug, Default)]
pub(crate) struct RunConfig {
    /// The settings file, if one was read.
    pub(crate) file: Option<SettingsFile>,
    /// The targets catalog of the settings file.
    pub(crate) catalog: Catalog,
    /// What the settings file sets for every scenario (its top-level keys).
    all: Overrides,
    /// What the settings file sets per scenario, by name, with the key of each.
    scenarios: BTreeMap<String, Overrides>,
    /// What the environment and the flags set, for every scenario.
    outside: Overrides,
    /// Root directory of the reports.
    pub(crate) out: Option<Set<PathBuf>>,
    /// Run only scenarios with one of these tags.
    pub(crate) tags: Vec<String>,
    /// A tracing filter for logs on stderr (`info`, `windtunnel=debug`).
    pub(crate) log: Option<String>,
    /// The flags to repeat in a replay command (what came from flags and variables; the seed
    /// is added per scenario).
    pub(crate) replay_flags: Vec<String>,
    /// How many runs to keep under the report root (`0`: all).
    pub(crate) keep_runs: Set<usize>,
    /// The run's id, when set from outside (`WINDTUNNEL_RUN_ID`; `windtunnel replay` sets it).
    pub(crate) run_id: Option<String>,
    /// `--check-config`: validate and print, run nothing.
    pub(crate) check_only: bool,
    /// The segment of every load this process runs (the whole load by default).
    pub(crate) segment: Set<Segment>,
    /// When the first scenario may start (`--start-at`), so that segments start together.
    pub(crate) start_at: Option<Set<SystemTime>>,
    /// Where to serve live metrics in Prometheus' text format.
    pub(crate) metrics: Option<Set<SocketAddr>>,
    /// Header and query keys the settings file lists as secret (`redact = [..]`).
    pub(crate) redact: Vec<String>,
    /// What an inconclusive measurement does to a scenario.
    pub(crate) inconclusive: Set<Inconclusive>,
    /// The fault tape to replay (`--tape`), read and checked.
    pub(crate) tape: Option<Arc<crate::turbulence::Tape>>,
}

/// What a scenario whose measurement cannot be trusted (but that failed nothing) comes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Inconclusive {
    /// Its outcome is `inconclusive`, and the test fails.
    #[default]
    Fail,
    /// It passes, with the doubts as warnings.
    Warn,
}

impl Inconclusive {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Inconclusive::Fail => "fail",
            Inconclusive::Warn => "warn",
        }
    }

    fn parse(v: &str) -> Result<Self, &'static str> {
        match v.trim() {
            "fail" => Ok(Inconclusive::Fail),
            "warn" => Ok(Inconclusive::Warn),
            _ => Err("expected `fail` (the default) or `warn`"),
        }
    }
}

impl Default for Set<Inconclusive> {
    fn default() -> Self {
        Set {
            value: Inconclusive::Fail,
            source: Source::Default,
        }
    }
}

impl Default for Set<Segment> {
    fn default() -> Self {
        Set {
            value: Segment::WHOLE,
            source: Source::Default,
        }
    }
}

impl Default for Set<usize> {
    fn default() -> Self {
        Set {
            value: DEFAULT_KEEP_RUNS,
            source: Source::Default,
        }
    }
}

/// How many runs the report root keeps when nothing says otherwise.
pub(crate) const DEFAULT_KEEP_RUNS: usize = 30;

/// The settings files looked for in the working directory, in this order.
pub(crate) const DEFAULT_FILES: [&str; 2] = ["windtunnel.toml", "windtunnel.json"];

impl RunConfig {
    /// Resolves the settings of a run in the working directory.
    pub(crate) fn resolve(
        flags: Flags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Self::resolve_in(flags, env, Path::new(""))
    }

    /// Resolves the settings, looking for the default settings files in `dir`.
    pub(crate) fn resolve_in(
        flags: Flags,
        env: impl Fn(&str) -> Option<String>,
        dir: &Path,
    ) -> Result<Self, ConfigError> {
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        let pick = |def: &'static Def| match (flags.value(def), def.flag) {
            (Some(v), Some(flag)) => Some((v, Source::Flag(flag))),
            _ => env(def.env).map(|v| (v, Source::Env(def.env))),
        };
        let invalid =
            |value: String, source_: Source, expected: Cow<'static, str>| ConfigError::Value {
                value,
                source_,
                expected,
            };
        let check_only = match pick(&settings::CHECK_CONFIG) {
            // A switch: given as a flag, it takes no value.
            Some((_, Source::Flag(_))) => true,
            Some(found) => parsed(found, switch)?.value,
            None => false,
        };
        let mut config = RunConfig {
            check_only,
            ..RunConfig::default()
        };
        let mut replay = Vec::new();

        // The settings file, and what it sets.
        let path = match pick(&settings::CONFIG) {
            Some((v, source)) => {
                if !Path::new(&v).is_file() {
                    return Err(invalid(
                        v,
                        source,
                        "no such file: expected the path of a settings file (TOML, or JSON \
                         with a `.json` extension)"
                            .into(),
                    ));
                }
                replay.extend(["--config".to_owned(), v.clone()]);
                Some((PathBuf::from(v), source))
            }
            None => {
                let found: Vec<PathBuf> = DEFAULT_FILES
                    .iter()
                    .map(|f| dir.join(f))
                    .filter(|p| p.is_file())
                    .collect();
                if found.len() > 1 {
                    return Err(FileError::whole(
                        &found[1],
                        "both windtunnel.toml and windtunnel.json are here: keep one, or pick \
                         one with `--config` or `WINDTUNNEL_CONFIG`",
                    )
                    .into());
                }
                found.into_iter().next().map(|p| (p, Source::Default))
            }
        };
        let mut spec = FileSpec::default();
        if let Some((path, chosen_by)) = path {
            let doc = Document::read(&path)?;
            spec = doc.parse()?;
            config.catalog = Catalog::build(&doc, &KeyPath::root().key("targets"), &spec.targets)?;
            let file: Arc<str> = path.display().to_string().into();
            let top = ScenarioSpec {
                target: spec.target.take(),
                seed: spec.seed,
                turbulence: spec.turbulence.take(),
                ..ScenarioSpec::default()
            };
            config.all = from_spec(&doc, &KeyPath::root(), &top, &config.catalog, &file)?;
            for (name, s) in &spec.scenarios {
                let key = KeyPath::root().key("scenarios").key(name);
                let o = from_spec(&doc, &key, s, &config.catalog, &file)?;
                config.scenarios.insert(name.clone(), o);
            }
            let source = |key: &str| Source::File {
                file: Arc::clone(&file),
                key: key.to_owned(),
            };
            if let Some(out) = spec.report.out.take() {
                config.out = Some(Set {
                    value: doc.dir().join(out),
                    source: source("report.out"),
                });
            }
            if let Some(n) = spec.report.keep_runs {
                config.keep_runs = Set {
                    value: n,
                    source: source("report.keep_runs"),
                };
            }
            config.redact = std::mem::take(&mut spec.redact);
            if let Some(v) = spec.inconclusive.take() {
                config.inconclusive = parsed((v, source("inconclusive")), Inconclusive::parse)?;
            }
            config.file = Some(SettingsFile { doc, chosen_by });
        }

        // The environment and the flags.
        let o = &mut config.outside;
        let mut outside = |def: &'static Def| {
            let found = pick(def);
            if let (Some((v, _)), Some(flag)) = (&found, def.flag) {
                replay.extend([flag.to_owned(), v.clone()]);
            }
            found
        };
        let catalog = &config.catalog;
        o.target = outside(&settings::TARGET)
            .map(|found| parsed(found, |v| catalog.pick(v)))
            .transpose()?;
        o.seed = pick(&settings::SEED)
            .map(|found| {
                parsed(
                    found,
                    whole("expected an unsigned 64-bit integer, like `--seed 42`"),
                )
            })
            .transpose()?;
        o.turbulence = outside(&settings::TURBULENCE)
            .map(|found| parsed(found, |v| spec::parse(v).map(Arc::new)))
            .transpose()?;
        o.load.users = outside(&settings::USERS)
            .map(|found| {
                parsed(
                    found,
                    bounded(
                        whole("expected a whole number of users, like `--users 50`"),
                        |n| users_problem(*n),
                    ),
                )
            })
            .transpose()?;
        o.load.rate = outside(&settings::RATE)
            .map(|found| parsed(found, parse_rate))
            .transpose()?;
        o.load.duration = outside(&settings::DURATION)
            .map(|found| {
                parsed(found, |v| {
                    let d = parse_duration(v)?;
                    duration_problem(d).map_or(Ok(d), Err)
                })
            })
            .transpose()?;
        o.load.ramp_up = outside(&settings::RAMP_UP)
            .map(|found| parsed(found, parse_duration))
            .transpose()?;
        o.load.iterations = outside(&settings::ITERATIONS)
            .map(|found| {
                parsed(
                    found,
                    bounded(
                        whole(
                            "expected a whole number of iterations per user, like \
                             `--iterations 100`",
                        ),
                        |n| iterations_problem(*n),
                    ),
                )
            })
            .transpose()?;

        if let Some((v, source)) = pick(&settings::OUT) {
            config.out = Some(Set {
                value: PathBuf::from(v),
                source,
            });
        }
        config.tags = flags.values(&settings::TAG);
        if config.tags.is_empty()
            && let Some(v) = env(settings::TAG.env)
        {
            config.tags = v
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect();
        }
        config.log = pick(&settings::LOG)
            .map(|(v, _)| v)
            .or(spec.log)
            .or_else(|| env("RUST_LOG"));
        if let Some(found) = pick(&settings::KEEP_RUNS) {
            config.keep_runs = parsed(
                found,
                whole("expected how many runs to keep, like `--keep-runs 30` (0 keeps all)"),
            )?;
        }
        config.segment = segment(pick(&settings::SEGMENT), &env, &mut replay)?;
        config.start_at = pick(&settings::START_AT)
            .map(|found| parsed(found, |v| start_time(v, SystemTime::now())))
            .transpose()?;
        config.metrics = pick(&settings::METRICS)
            .map(|found| parsed(found, metrics_address))
            .transpose()?;
        if let Some(found) = pick(&settings::INCONCLUSIVE) {
            config.inconclusive = parsed(found, Inconclusive::parse)?;
        }
        config.tape = pick(&settings::TAPE)
            .map(|found| {
                parsed(found, |v| {
                    crate::turbulence::Tape::read(Path::new(v))
                        .map(Arc::new)
                        .map_err(|e| e.reason)
                })
            })
            .transpose()?
            .map(|set| set.value);
        if let Some((v, source)) = pick(&settings::RUN_ID) {
            if !crate::report::is_valid_run_id(&v) {
                return Err(invalid(
                    v,
                    source,
                    "expected a directory name of letters, digits, `-`, `_` and `.` (not \
                     first), at most 100 characters"
                        .into(),
                ));
            }
            config.run_id = Some(v);
        }
        config.replay_flags = replay;
        Ok(config)
    }

    /// The settings of the scenario `name`: the file's for every scenario, then the file's
    /// for this one, then the environment's and the flags'.
    pub(crate) fn for_scenario(&self, name: &str) -> Overrides {
        let mut o = self.all.clone();
        if let Some(s) = self.scenarios.get(name) {
            o.overlay(s);
        }
        o.overlay(&self.outside);
        o
    }

    /// Checks that every scenario the settings file names exists.
    pub(crate) fn check_scenario_names<'a>(
        &self,
        names: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<(), ConfigError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        for name in self.scenarios.keys() {
            if names.clone().any(|n| n == name) {
                continue;
            }
            let mut message = format!("there is no scenario named `{name}`");
            if let Some(near) = did_you_mean(name, names.clone()) {
                message.push_str(&format!(" (did you mean `{near}`?)"));
            }
            let all: Vec<String> = names.clone().map(|n| format!("`{n}`")).collect();
            message.push_str(&format!(
                "; the scenarios are: {}",
                crate::text::list_or_none(&all)
            ));
            let key = KeyPath::root().key("scenarios").key(name);
            return Err(file.doc.error(&key, message).into());
        }
        Ok(())
    }
}

/// A flag's or variable's value, parsed; the error names the flag or variable.
fn parsed<T, E: Into<Cow<'static, str>>>(
    (value, source): (String, Source),
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Set<T>, ConfigError> {
    match parse(&value) {
        Ok(v) => Ok(Set { value: v, source }),
        Err(e) => Err(ConfigError::Value {
            value,
            source_: source,
            expected: e.into(),
        }),
    }
}

/// The segment: `found` (from `--segment` or `WINDTUNNEL_SEGMENT`), else a Kubernetes Indexed
/// Job's `JOB_COMPLETION_INDEX` with `WINDTUNNEL_SEGMENTS`; the whole load when none is set.
/// The segment is repeated in replay commands.
fn segment(
    found: Option<(String, Source)>,
    env: &impl Fn(&str) -> Option<String>,
    replay: &mut Vec<String>,
) -> Result<Set<Segment>, ConfigError> {
    if let Some(found) = found {
        let set = parsed(found, str::parse::<Segment>)?;
        replay.extend(["--segment".to_owned(), set.value.to_string()]);
        return Ok(set);
    }
    let Some(count) = env("WINDTUNNEL_SEGMENTS") else {
        return Ok(Set::default());
    };
    let count_source = Source::Env("WINDTUNNEL_SEGMENTS");
    let count: u32 = parsed(
        (count, count_source.clone()),
        whole("expected the number of segments, like `WINDTUNNEL_SEGMENTS=4`"),
    )?
    .value;
    let Some(index) = env("JOB_COMPLETION_INDEX") else {
        return Err(ConfigError::Value {
            value: count.to_string(),
            source_: count_source,
            expected: "a segment count needs JOB_COMPLETION_INDEX (set by a Kubernetes Indexed \
                       Job) to say which segment this is; elsewhere use `--segment i/n` or \
                       WINDTUNNEL_SEGMENT"
                .into(),
        });
    };
    let set = parsed(
        (index, Source::Env("JOB_COMPLETION_INDEX")),
        |v: &str| -> Result<Segment, String> {
            let index = v
                .trim()
                .parse::<u32>()
                .map_err(|_| "expected a pod's completion index, a whole number from 0")?;
            Segment::from_completion_index(index, count)
        },
    )?;
    replay.extend(["--segment".to_owned(), set.value.to_string()]);
    Ok(set)
}

/// An RFC 3339 time that is still to come.
fn start_time(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let form = "expected an RFC 3339 time with a zone, like `2026-11-21T10:00:00Z` or \
                `2026-11-21T11:00:00+01:00`";
    let t =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("{form} ({e})"))?;
    let at = SystemTime::from(t);
    match now.duration_since(at) {
        Ok(ago) if !ago.is_zero() => Err(format!(
            "that time is {:.1} s in the past: give a time still to come (every segment must \
             be started before it)",
            ago.as_secs_f64()
        )),
        _ => Ok(at),
    }
}

/// `9464` (on 127.0.0.1), `127.0.0.1:9464`, `[::1]:9464` or `0.0.0.0:9464`.
fn metrics_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        "expected a port (served on 127.0.0.1) or an address with a port, like \
         `127.0.0.1:9464` (use `0.0.0.0:9464` to serve beyond this machine)"
            .to_owned()
    })
}

/// Why `users` users cannot run, if they cannot.
fn users_problem(users: u32) -> Option<String> {
    match users {
        0 => Some("must be at least 1 user".into()),
        n if n > MAX_AGENTS => Some(format!("must be at most {MAX_AGENTS} users per process")),
        _ => None,
    }
}

/// Why a load cannot run for `duration`, if it cannot.
fn duration_problem(duration: Duration) -> Option<String> {
    duration
        .is_zero()
        .then(|| "must be above zero, like `30s`".to_owned())
}

/// Why a load cannot run `iterations` per user, if it cannot.
fn iterations_problem(iterations: u64) -> Option<String> {
    (iterations == 0).then(|| "must be at least 1 iteration".to_owned())
}

/// A parser that also refuses what `problem` finds wrong with the value.
fn bounded<T>(
    parse: impl FnOnce(&str) -> Result<T, &'static str>,
    problem: impl FnOnce(&T) -> Option<String>,
) -> impl FnOnce(&str) -> Result<T, Cow<'static, str>> {
    move |v| {
        let value = parse(v)?;
        match problem(&value) {
            Some(p) => Err(p.into()),
            None => Ok(value),
        }
    }
}

/// A switch set by a variable: `1` or `true` turns it on, `0` or `false` off.
fn switch(v: &str) -> Result<bool, &'static str> {
    match v.trim() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err("expected `1` (on) or `0` (off)"),
    }
}

/// A parser of whole numbers that says `expected` when the text is not one.
fn whole<T: std::str::FromStr>(
    expected: &'static str,
) -> impl FnOnce(&str) -> Result<T, &'static str> {
    move |v| v.trim().parse().map_err(|_| expected)
}

/// Checks and converts what the settings file sets at `key` (the top level or one scenario).
fn from_spec(
    doc: &Document,
    key: &KeyPath,
    s: &ScenarioSpec,
    catalog: &Catalog,
    file: &Arc<str>,
) -> Result<Overrides, FileError> {
    let source = |k: &str| Source::File {
        file: Arc::clone(file),
        key: key.key(k).to_string(),
    };
    fn set<T>(value: Option<T>, source: Source) -> Option<Set<T>> {
        value.map(|value| Set { value, source })
    }
    let mut o = Overrides::default();
    if let Some(t) = &s.target {
        let target = catalog
            .pick(t)
            .map_err(|e| doc.error(&key.key("target"), e))?;
        o.target = set(Some(target), source("target"));
    }
    if let Some(t) = &s.turbulence {
        let t = spec::parse(t).map_err(|e| doc.error(&key.key("turbulence"), e))?;
        o.turbulence = set(Some(Arc::new(t)), source("turbulence"));
    }
    o.seed = set(s.seed, source("seed"));
    let problems = [
        ("users", s.users.and_then(users_problem)),
        ("duration", s.duration.and_then(|d| duration_problem(d.0))),
        ("iterations", s.iterations.and_then(iterations_problem)),
    ];
    if let Some((field, problem)) = problems.into_iter().find_map(|(f, p)| p.map(|p| (f, p))) {
        return Err(doc.error(&key.key(field), problem));
    }
    o.load.users = set(s.users, source("users"));
    o.load.rate = set(s.rate.map(|r| r.0), source("rate"));
    o.load.duration = set(s.duration.map(|d| d.0), source("duration"));
    o.load.ramp_up = set(s.ramp_up.map(|d| d.0), source("ramp_up"));
    o.load.iterations = set(s.iterations, source("iterations"));
    o.request_timeout = set(s.request_timeout.map(|d| d.0), source("request_timeout"));
    o.graceful_stop = set(s.graceful_stop.map(|d| d.0), source("graceful_stop"));
    if let Some(stages) = &s.stages {
        check_stages(doc, &key.key("stages"), stages)?;
        let stages = stages.iter().map(StageSpec::setting).collect();
        o.load.stages = set(Some(stages), source("stages"));
    }
    if let Some(list) = &s.objectives {
        let mut objectives = Vec::with_capacity(list.len());
        for (i, spec) in list.iter().enumerate() {
            let o = spec
                .objective()
                .map_err(|e| doc.error(&key.key("objectives").index(i), e))?;
            objectives.push(o);
        }
        o.objectives = set(Some(objectives), source("objectives"));
    }
    Ok(o)
}

/// Stages have users or a rate each, all the same.
pub(crate) fn check_stages(
    doc: &Document,
    key: &KeyPath,
    stages: &[StageSpec],
) -> Result<(), FileError> {
    if stages.is_empty() {
        return Err(doc.error(key, "give at least one stage"));
    }
    let mut users = None;
    for (i, s) in stages.iter().enumerate() {
        if s.duration.0.is_zero() {
            return Err(doc.error(
                &key.index(i).key("duration"),
                "must be above zero, like `30s`",
            ));
        }
        if let Some(n) = s.users.filter(|n| *n > MAX_AGENTS) {
            return Err(doc.error(
                &key.index(i).key("users"),
                format!("{n} is more than {MAX_AGENTS} users per process"),
            ));
        }
        let this = match (s.users, s.rate) {
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(_), Some(_)) => {
                return Err(doc.error(
                    &key.index(i),
                    "a stage has `users` (closed model) or `rate` (open model), not both",
                ));
            }
            (None, None) => {
                return Err(doc.error(
                    &key.index(i),
                    "a stage needs `users` (closed model) or `rate` (open model), like \
                     `{ duration = \"30s\", users = 50 }`",
                ));
            }
        };
        match users {
            None => users = Some(this),
            Some(u) if u != this => {
                return Err(doc.error(
                    &key.index(i),
                    "all stages have `users`, or all have `rate`: a load is closed or open",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// A target must be an absolute `http` or `https` URL.
pub(crate) fn check_target(raw: &str) -> Result<String, &'static str> {
    match url::Url::parse(raw) {
        // Credentials in a URL are never sent by the client and would be written into every
        // report: refuse them, and say where they belong.
        Ok(u) if !u.username().is_empty() || u.password().is_some() => Err(
            "a target URL cannot hold credentials (`user:password@`): put them in a header of \
             the target instead, like `headers = { authorization = \"Basic ...\" }` in the \
             targets catalog (reports write it as `[redacted]`)",
        ),
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(raw.to_owned()),
        _ => Err("expected an absolute http(s) URL, like `http://127.0.0.1:8080`"),
    }
}

#[cfg(test)]
mod tests;
