//! The harness behind `windtunnel::main!()`: reads the command line, collects the registered
//! scenarios into libtest-mimic trials (one per scenario, run one at a time by default), runs
//! each on its own tokio runtime, and writes the reports.

mod args;
mod check;
mod trial;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use libtest_mimic::{Arguments, Trial};

use crate::config::RunConfig;
use crate::provenance::Source;
use crate::registry::{self, ScenarioInfo};
use crate::report::untrusted::for_terminal;
use crate::report::{
    Outcome, ReportError, ReportStore, Rerun, Runner, ScenarioReport, Setting, resolve_root,
    scenario_summary,
};

/// What `main!` knows about the binary it expands in. Not public API: used by generated code.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Binary {
    /// `CARGO_PKG_NAME` of the crate that calls `main!`.
    pub package: &'static str,
}

/// The state of one harness run, shared by its trials.
pub(crate) struct Session {
    config: RunConfig,
    package: &'static str,
    /// The test target's name (`load` for `tests/load.rs`).
    target: String,
    /// Whether the binary is a cargo test target (under `deps/`), rather than a plain binary.
    is_test_target: bool,
    exe: PathBuf,
    /// The plan file, when the run is `windtunnel run PLAN`.
    plan: Option<PathBuf>,
    store: ReportStore,
    finished: Mutex<Vec<ScenarioReport>>,
    report_error: Mutex<Option<ReportError>>,
    /// Standard output is libtest's JSON events (`--format json`): windtunnel's own lines go
    /// to standard error, so that the stream stays one JSON object a line.
    machine: bool,
}

/// Runs the harness; the body of the `main` that `windtunnel::main!()` generates.
pub fn run(binary: Binary) -> ExitCode {
    let (flags, rest) = match args::split(std::env::args_os().collect()) {
        Ok(v) => v,
        Err(e) => return bad_input(e),
    };
    let mut test_args = match Arguments::try_parse_from(&rest) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                println!("\n{}", crate::settings::help());
                return ExitCode::SUCCESS;
            }
            eprintln!("{e}\n{}", crate::settings::help());
            return ExitCode::from(2);
        }
    };
    let config = match RunConfig::resolve(flags, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => return bad_input(e),
    };
    crate::redact::add_keys(&config.redact);
    init_logging(config.log.as_deref());
    raise_open_files();
    let scenarios = match registry::scenarios() {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    if let Err(e) = config.check_scenario_names(scenarios.iter().map(|s| s.name.as_str())) {
        return bad_input(e);
    }
    if let Err(e) = check_selection(&scenarios, &config.tags, &test_args) {
        eprintln!("error: {}", for_terminal(&e));
        return ExitCode::from(2);
    }
    let scenarios: Vec<ScenarioInfo> = scenarios
        .into_iter()
        .filter(|s| selected_by_tags(s, &config.tags))
        .collect();
    if test_args.test_threads.is_none() {
        // Scenarios measure; running two at once would skew both.
        test_args.test_threads = Some(1);
    }
    let mut session = Session::new(config, binary);
    session.machine = matches!(test_args.format, Some(libtest_mimic::FormatSetting::Json));
    let session = Arc::new(session);
    let trials: Vec<Trial> = scenarios
        .iter()
        .map(|info| {
            let ignore = info.ignore;
            let name = info.name.clone();
            let info = info.clone();
            let session = Arc::clone(&session);
            Trial::test(name, move || trial::run(&info, &session)).with_ignored_flag(ignore)
        })
        .collect();
    if test_args.list {
        return libtest_mimic::run(&test_args, trials).exit_code();
    }
    if session.config.check_only {
        let selected: Vec<&ScenarioInfo> = scenarios
            .iter()
            .zip(&trials)
            .filter(|(_, t)| !test_args.is_filtered_out(t))
            .map(|(info, _)| info)
            .collect();
        return check::run(&selected, &session);
    }
    if let Err(code) = prepare(&session) {
        return code;
    }
    for (info, trial) in scenarios.iter().zip(&trials) {
        if !test_args.is_filtered_out(trial) && test_args.is_ignored(trial) {
            session.record(trial::skipped(info, &session));
        }
    }
    let conclusion = libtest_mimic::run(&test_args, trials);
    let report_ok = session.finish();
    if !report_ok && !conclusion.has_failed() {
        return ExitCode::FAILURE;
    }
    conclusion.exit_code()
}

/// Runs one scenario that comes from a file rather than the registry (`windtunnel run PLAN
/// [FLAGS]`, a declarative plan): the same flags, settings, engine, reports and exit codes as
/// a `#[scenario]` under the harness (0 passed, 101 failed, 2 bad input, 130 interrupted).
/// `read` turns the file into the scenario once the settings are known (a plan may pick its
/// target from the settings' catalog); an error it returns is bad input, exit 2.
pub(crate) fn run_file(
    path: &std::path::Path,
    args: Vec<std::ffi::OsString>,
    read: impl FnOnce(&RunConfig) -> Result<ScenarioInfo, String>,
) -> ExitCode {
    let mut all = vec![std::ffi::OsString::from("windtunnel run")];
    all.extend(args);
    let (flags, rest) = match args::split(all) {
        Ok(v) => v,
        Err(e) => return bad_input(e),
    };
    if let Some(extra) = rest.get(1) {
        eprintln!(
            "error: `windtunnel run` takes a plan and windtunnel's flags, not `{}`\n\n{}",
            extra.to_string_lossy(),
            crate::settings::help()
        );
        return ExitCode::from(2);
    }
    let config = match RunConfig::resolve(flags, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => return bad_input(e),
    };
    crate::redact::add_keys(&config.redact);
    init_logging(config.log.as_deref());
    raise_open_files();
    let info = match read(&config) {
        Ok(info) => info,
        Err(e) => return bad_input(e),
    };
    if let Err(e) = config.check_scenario_names(std::iter::once(info.name.as_str())) {
        return bad_input(e);
    }
    let session = Session::for_file(config, path);
    if session.config.check_only {
        return check::run(&[&info], &session);
    }
    if let Err(code) = prepare(&session) {
        return code;
    }
    let result = trial::run(&info, &session);
    match &result {
        Ok(()) => println!("plan {} ... ok", info.name),
        Err(failed) => {
            println!("plan {} ... FAILED", info.name);
            if let Some(m) = failed.message() {
                println!("{}", for_terminal(m));
            }
        }
    }
    if !session.finish() {
        return ExitCode::FAILURE;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // libtest's code for failed tests.
        Err(_) => ExitCode::from(101),
    }
}

/// Whether `--tag` selects the scenario: it has one of `tags`, or none were given.
fn selected_by_tags(s: &ScenarioInfo, tags: &[String]) -> bool {
    tags.is_empty() || s.tags.iter().any(|t| tags.iter().any(|c| c == t))
}

/// A selection (tags, a name filter, `--skip`) that selects no scenario of a binary that has
/// some is a mistake, most often a typo: say what exists instead of passing with `0 passed`.
fn check_selection(all: &[ScenarioInfo], tags: &[String], args: &Arguments) -> Result<(), String> {
    if tags.iter().any(|t| t.trim().is_empty()) {
        return Err(
            "a tag cannot be empty (`--tag ''`, or an empty entry in `WINDTUNNEL_TAGS`)".into(),
        );
    }
    if all.is_empty() {
        return Ok(());
    }
    let tagged = |s: &ScenarioInfo| selected_by_tags(s, tags);
    if !all.iter().any(tagged) {
        let mut known: Vec<&str> = all.iter().flat_map(|s| s.tags.iter().copied()).collect();
        known.sort_unstable();
        known.dedup();
        let hint = tags
            .iter()
            .find_map(|t| crate::config::did_you_mean(t, known.iter().copied()))
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        return Err(format!(
            "no scenario has the tag {} (the tags here: {}){hint}",
            tags.iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(" or "),
            crate::text::list_or_none(&known)
        ));
    }
    let named = |s: &ScenarioInfo| !args.is_filtered_out(&Trial::test(s.name.clone(), || Ok(())));
    if (args.filter.is_some() || !args.skip.is_empty())
        && !all.iter().any(|s| tagged(s) && named(s))
    {
        let names: Vec<&str> = all
            .iter()
            .filter(|s| tagged(s))
            .map(|s| s.name.as_str())
            .collect();
        let hint = args
            .filter
            .as_deref()
            .and_then(|f| crate::config::did_you_mean(f, names.iter().copied()))
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        return Err(format!(
            "no scenario matches the selection{} (the scenarios here: {}){hint}",
            args.filter
                .as_deref()
                .map(|f| format!(" `{f}`"))
                .unwrap_or_default(),
            names.join(", ")
        ));
    }
    Ok(())
}

/// Before the first scenario of a run: checks that the reports can be written, starts the
/// metrics server (`--metrics`) and waits for the start time (`--start-at`). `Err` carries the
/// exit code when the run must not go on.
fn prepare(session: &Session) -> Result<(), ExitCode> {
    let config = &session.config;
    // A report that cannot be written is found out before the first request, not after.
    if let Err(e) = session.store.check_writable() {
        eprintln!(
            "error: {}; nothing ran (set the report root with `--out DIR` or `WINDTUNNEL_OUT`)",
            error_chain(&e)
        );
        return Err(ExitCode::from(2));
    }
    if let Some(addr) = &config.metrics {
        match crate::exporter::serve(addr.value) {
            Ok(bound) => eprintln!("windtunnel: live metrics at http://{bound}/metrics"),
            Err(e) => {
                eprintln!(
                    "error: cannot serve metrics at {} ({}): {e}",
                    addr.value,
                    addr.source.short()
                );
                return Err(ExitCode::from(2));
            }
        }
    }
    let Some(at) = &config.start_at else {
        return Ok(());
    };
    let Ok(wait) = at.value.duration_since(std::time::SystemTime::now()) else {
        eprintln!(
            "warning: the start time ({}) has passed: starting now, out of step with the other \
             segments",
            at.source.short()
        );
        return Ok(());
    };
    eprintln!(
        "windtunnel: segment {} waits {:.1} s for its start time ({})",
        config.segment.value,
        wait.as_secs_f64(),
        at.source.short()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot wait for the start time: {e}");
            ExitCode::FAILURE
        })?;
    runtime.block_on(async {
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            _ = tokio::signal::ctrl_c() => {
                eprintln!("windtunnel: interrupted before the start time; nothing ran");
                Err(ExitCode::from(130))
            }
        }
    })
}

impl Session {
    fn new(config: RunConfig, binary: Binary) -> Self {
        let exe = std::env::current_exe().unwrap_or_default();
        let stem = exe
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("windtunnel")
            .to_owned();
        let in_deps = exe
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == "deps");
        let target = match stem.rsplit_once('-') {
            Some((name, hash))
                if in_deps && hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                name.to_owned()
            }
            _ => stem,
        };
        Session::with(config, binary.package, target, in_deps, exe, None)
    }

    /// The session of `windtunnel run PLAN`: its reports name the binary `plan`, and its
    /// replay commands run the plan again.
    fn for_file(config: RunConfig, plan: &std::path::Path) -> Self {
        let exe = std::env::current_exe().unwrap_or_default();
        let plan = Some(plan.to_owned());
        Session::with(config, "windtunnel", "plan".into(), false, exe, plan)
    }

    fn with(
        config: RunConfig,
        package: &'static str,
        target: String,
        is_test_target: bool,
        exe: PathBuf,
        plan: Option<PathBuf>,
    ) -> Self {
        let run_id = config
            .run_id
            .clone()
            .or_else(|| std::env::var("NEXTEST_RUN_ID").ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                let now = time::OffsetDateTime::now_utc();
                let stamp = now
                    .format(time::macros::format_description!(
                        "[year][month][day]T[hour][minute][second]Z"
                    ))
                    .unwrap_or_default();
                format!("{stamp}-{}", std::process::id())
            });
        let store = ReportStore::new(
            resolve_root(config.out.as_ref().map(|o| o.value.as_path())),
            run_id,
        );
        Session {
            machine: false,
            config,
            package,
            target,
            is_test_target,
            exe,
            plan,
            store,
            finished: Mutex::new(Vec::new()),
            report_error: Mutex::new(None),
        }
    }

    /// How to run `info` again with `seed`.
    fn rerun(&self, info: &ScenarioInfo, seed: u64) -> Rerun {
        let runner = match &self.plan {
            Some(plan) => Runner::Plan {
                path: plan.to_string_lossy().into_owned(),
            },
            None if self.is_test_target => Runner::CargoTest {
                package: self.package.to_owned(),
                target: self.target.clone(),
            },
            None => Runner::Binary {
                path: self.exe.to_string_lossy().into_owned(),
            },
        };
        Rerun {
            runner,
            scenario: info.name.clone(),
            seed,
            include_ignored: info.ignore && self.plan.is_none(),
            flags: self.config.replay_flags.clone(),
        }
    }

    /// A scenario's settings with the run's own (settings file, report root, retention) after
    /// them.
    pub(crate) fn settings(&self, mut settings: Vec<Setting>) -> Vec<Setting> {
        let c = &self.config;
        let mut push = |name: &str, value: String, source: String| {
            settings.push(Setting {
                name: name.to_owned(),
                value,
                source,
            });
        };
        match &c.file {
            Some(f) => push(
                "settings_file",
                f.doc.path.display().to_string(),
                match &f.chosen_by {
                    Source::Default => "found in the working directory".to_owned(),
                    other => other.short(),
                },
            ),
            None => push("settings_file", "none".into(), Source::Default.short()),
        }
        push(
            "out",
            self.store.root().display().to_string(),
            c.out
                .as_ref()
                .map_or(Source::Default.short(), |o| o.source.short()),
        );
        push(
            "keep_runs",
            c.keep_runs.value.to_string(),
            c.keep_runs.source.short(),
        );
        push(
            "inconclusive",
            c.inconclusive.value.as_str().to_owned(),
            c.inconclusive.source.short(),
        );
        settings
    }

    /// Stores a scenario's report and rebuilds the run's reports. A write failure is kept and
    /// reported at the end (and makes the run fail), never lost silently.
    fn record(&self, mut report: ScenarioReport) {
        let stored = self.store.record(&mut report);
        if report.outcome != Outcome::Running {
            self.finished
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(report.clone());
        }
        if let Err(e) = stored {
            tracing::error!(error = %e, "cannot write the report");
            self.report_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e);
        }
        if !matches!(report.outcome, Outcome::Running | Outcome::Skipped) {
            append_step_summary(&report);
        }
    }

    /// Prints every scenario's summary and where the reports are, on standard output (standard
    /// error under `--format json`). Returns `false` when a report could not be written.
    fn finish(&self) -> bool {
        let say = |line: &str| {
            if self.machine {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        };
        let finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let ran: Vec<&ScenarioReport> = finished
            .iter()
            .filter(|s| s.outcome != Outcome::Skipped)
            .collect();
        if !ran.is_empty() {
            say("");
            for s in &ran {
                say(&for_terminal(&scenario_summary(s)));
            }
        }
        if let Some(e) = self
            .report_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            eprintln!("error: {}", error_chain(&e));
            return false;
        }
        if !finished.is_empty() {
            say(&format!(
                "windtunnel: reports in {} (report.json, junit.xml, report.html, report.md); newest run: {}",
                self.store.dir().display(),
                self.store.latest().display()
            ));
            match self.store.prune(self.config.keep_runs.value) {
                Ok(0) => {}
                Ok(n) => say(&format!(
                    "windtunnel: deleted the {n} oldest run(s), keeping {} (--keep-runs, \
                     WINDTUNNEL_KEEP_RUNS)",
                    self.config.keep_runs.value
                )),
                // Old runs left behind lose nothing: say so, but the run's result stands.
                Err(e) => eprintln!("warning: old runs not pruned: {}", error_chain(&e)),
            }
        }
        true
    }
}

/// Says what was wrong with the input and gives the exit code of bad input.
fn bad_input(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Raises the open-file limit to the hard limit, so that thousands of agents can hold their
/// connections, and says what it did under `--log info`.
fn raise_open_files() {
    match crate::os::raise_open_files() {
        crate::os::Raised::From(before, after) => {
            tracing::info!(
                before,
                after,
                "raised the open-file limit to the hard limit"
            );
        }
        crate::os::Raised::AlreadyAt(limit) => {
            tracing::info!(?limit, "the open-file limit is at the hard limit already");
        }
        crate::os::Raised::Refused(limit, why) => {
            tracing::warn!(?limit, %why, "could not raise the open-file limit");
        }
    }
}

/// Quotes `s` for a POSIX shell when it needs quoting.
fn init_logging(filter: Option<&str>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let Some(filter) = filter else { return };
    match filter.parse::<tracing_subscriber::filter::Targets>() {
        Ok(targets) => {
            let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
            // A subscriber the user installed first wins.
            let _ = tracing_subscriber::registry()
                .with(fmt)
                .with(targets)
                .try_init();
        }
        Err(e) => eprintln!("warning: ignoring the log filter `{filter}`: {e}"),
    }
}

/// Appends a finished scenario's Markdown to the job's summary page, when GITHUB_STEP_SUMMARY is
/// set. The summary is a courtesy to the CI page, not a report: a failure to write it is a
/// warning.
fn append_step_summary(report: &ScenarioReport) {
    if let Err(e) = crate::report::append_to_step_summary(&crate::report::scenario_markdown(report))
    {
        eprintln!(
            "warning: cannot add to the GitHub job summary: {}",
            error_chain(&e)
        );
    }
}
