//! The harness's channel into a running scenario: [`ScenarioContext`] carries the name, the
//! settings from outside and the mode in; the resolved settings and the state of the load come
//! back out, so that a body that times out still leaves its metrics behind.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::agent::Stop;
use crate::config::Overrides;
use crate::metrics::Recorder;
use crate::objectives::{Objective, Span};
use crate::provenance::Set;
use crate::report::{ExactMetrics, LoadConfig, LoadReport, Setting, StopInfo, StopReason};
use crate::segment::Segment;
use crate::turbulence;

/// Whether a scenario's `run()` runs its load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Run the load.
    Run,
    /// `--check-config`: check everything, record the settings and return
    /// [`ScenarioError::CheckOnly`](super::ScenarioError::CheckOnly) without sending a request.
    CheckOnly,
}

/// Where a scenario's own settings were written, as the report names that source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A `#[scenario]`'s code.
    Code,
    /// A declarative plan (`windtunnel run PLAN`).
    Plan,
}

impl Origin {
    /// The source the report shows for a setting the scenario itself made.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Origin::Code => "code",
            Origin::Plan => "plan",
        }
    }
}

/// What the harness and a scenario's `run()` share: identity, settings from outside, and the
/// state of the load so that a timed-out body still leaves its metrics behind.
pub(crate) struct ScenarioContext {
    pub(crate) name: String,
    /// Settings from outside the code (the settings file, the environment, flags); each wins
    /// over the code's.
    pub(super) overrides: Overrides,
    /// The seed used when neither the code nor the settings set one.
    pub(super) seed_fallback: u64,
    /// Whether `run()` runs the load or only checks it (`--check-config`).
    pub(crate) mode: Mode,
    /// Where the scenario's own settings were written: its code, or a declarative plan.
    pub(crate) origin: Origin,
    /// The resolved settings and their sources, once `run()` has checked them.
    pub(super) settings: Mutex<Vec<Setting>>,
    /// Set when the run is interrupted (Ctrl-C).
    pub(crate) interrupt: Arc<Stop>,
    /// The segment of the load this process runs (`--segment`), with its source.
    pub(crate) segment: Set<Segment>,
    /// Whether a load may show the live progress line: under the harness, which runs one
    /// scenario at a time by default, not in a user's own tests, which libtest runs in parallel.
    pub(crate) progress: bool,
    /// The fault tape to replay (`--tape`), if one was given.
    pub(crate) tape: Option<Arc<turbulence::Tape>>,
    /// The settings file's targets catalog, which services may name a combination of.
    pub(crate) catalog: Arc<crate::config::Catalog>,
    /// Set by [`Scenario::without_load`]: the body runs no load on purpose.
    pub(super) without_load: std::sync::atomic::AtomicBool,
    pub(super) state: Mutex<LoadState>,
}

#[derive(Default)]
pub(super) struct LoadState {
    pub(super) started: Option<Started>,
    pub(super) finished: Option<LoadReport>,
}

/// An objective with the part of the run it is judged on.
pub(super) type Bound = (Objective, Option<Span>);

pub(super) struct Started {
    pub(super) config: LoadConfig,
    pub(super) recorder: Recorder,
    pub(super) start: Instant,
    /// The wall-clock time of `start`, which aligns the series of segments when they merge.
    pub(super) origin: SystemTime,
    pub(super) objectives: Vec<Bound>,
    pub(super) seed: u64,
    pub(super) turbulence: Option<Arc<turbulence::Turbulence>>,
}

impl ScenarioContext {
    pub(crate) fn new(
        name: String,
        overrides: Overrides,
        seed_fallback: u64,
        interrupt: Arc<Stop>,
    ) -> Self {
        ScenarioContext {
            name,
            overrides,
            seed_fallback,
            mode: Mode::Run,
            origin: Origin::Code,
            settings: Mutex::new(Vec::new()),
            interrupt,
            segment: Set::default(),
            progress: false,
            tape: None,
            catalog: Arc::default(),
            without_load: std::sync::atomic::AtomicBool::new(false),
            state: Mutex::new(LoadState::default()),
        }
    }

    /// Whether a load was started, or the body said it runs none on purpose.
    pub(crate) fn ran_a_load_or_said_none(&self) -> bool {
        self.lock().started.is_some() || self.without_load.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, LoadState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The seed the scenario ran with (or will run with, if it has not started a load).
    pub(crate) fn seed(&self) -> u64 {
        match &self.lock().started {
            Some(s) => s.seed,
            None => self
                .overrides
                .seed
                .as_ref()
                .map_or(self.seed_fallback, |s| s.value),
        }
    }

    /// The resolved settings with their sources, once the body called `run()`.
    pub(crate) fn settings(&self) -> Vec<Setting> {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The load's report: the finished one, or, if the body never returned from `run()` (it
    /// timed out), one built from what was recorded so far.
    pub(crate) fn load_report(&self, cut_short: StopReason) -> Option<LoadReport> {
        let state = self.lock();
        if let Some(done) = &state.finished {
            return Some(done.clone());
        }
        let started = state.started.as_ref()?;
        let elapsed = started.start.elapsed();
        let snapshot = started.recorder.snapshot();
        let mut report = LoadReport::build(
            started.config.clone(),
            StopInfo {
                reason: cut_short,
                detail: None,
            },
            elapsed,
            0,
            &snapshot,
            Objective::evaluate_all(&started.objectives, &snapshot, elapsed),
        );
        report.exact = Some(ExactMetrics::of(
            started.origin,
            &snapshot,
            &started.objectives,
        ));
        if let Some(t) = &started.turbulence {
            report.turbulence = Some(turbulence_report(t, &self.name, &report, elapsed));
        }
        Some(report)
    }

    pub(super) fn set_recorder(&self, recorder: &Recorder) {
        if let Some(started) = &mut self.lock().started {
            started.recorder = recorder.clone();
        }
        crate::exporter::watch(&self.name, self.segment.value, recorder);
    }
}

/// The turbulence report of a load, with the names of the requests it saw.
pub(super) fn turbulence_report(
    t: &turbulence::Turbulence,
    scenario: &str,
    report: &LoadReport,
    elapsed: Duration,
) -> crate::report::TurbulenceReport {
    let names: Vec<&str> = report.requests.iter().map(|r| r.name.as_str()).collect();
    t.report(scenario, elapsed, report.total.failed, &names)
}
