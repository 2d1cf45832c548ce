//! [`Ledger`]: what turbulence injected, counted per rule, toxic and phase, with a list of the
//! injected faults; and the [`TurbulenceReport`] made of it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::fault::Fault;
use super::tape::Recording;
use super::toxic::Direction;
use super::{Plan, RequestKey};
use crate::report::MAX_LISTED_FAULTS;
use crate::report::{
    InjectedFault, PhaseReport, RuleReport, TapeRef, ToxicReport, TurbulenceReport,
};
use crate::text::list_or_none;
use crate::timeset::TimeSet;

/// How many occurrences of a phase the report lists.
const MAX_LISTED_OCCURRENCES: usize = 100;

#[derive(Default)]
struct RuleCounters {
    matched: AtomicU64,
    injected: AtomicU64,
}

#[derive(Default)]
struct PhaseCounters {
    requests: AtomicU64,
    failed: AtomicU64,
    injected_failures: AtomicU64,
}

/// Counters for one scenario's turbulence, shared by every agent and proxy connection.
pub(crate) struct Ledger {
    rules: Vec<RuleCounters>,
    /// Per toxic, the connections (and directions) it applied to.
    toxics: Vec<AtomicU64>,
    phases: Vec<PhaseCounters>,
    injected_failures: AtomicU64,
    listed: Mutex<Vec<InjectedFault>>,
    not_listed: AtomicU64,
    /// Every decision, for the fault tape.
    pub(crate) recording: Recording,
}

impl Ledger {
    pub(crate) fn new(plan: &Plan) -> Self {
        Ledger {
            rules: plan.rules.iter().map(|_| RuleCounters::default()).collect(),
            toxics: plan.toxics.iter().map(|_| AtomicU64::new(0)).collect(),
            phases: plan
                .phases
                .iter()
                .map(|_| PhaseCounters::default())
                .collect(),
            injected_failures: AtomicU64::new(0),
            listed: Mutex::new(Vec::new()),
            not_listed: AtomicU64::new(0),
            recording: Recording::default(),
        }
    }

    pub(crate) fn matched(&self, rule: usize) {
        self.rules[rule].matched.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one of a rule's injections; `false` once its count is used up.
    pub(crate) fn claim(&self, rule: usize, fault: &Fault) -> bool {
        let counter = &self.rules[rule].injected;
        match fault.count {
            None => {
                counter.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(max) => counter
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                })
                .is_ok(),
        }
    }

    /// Lists an injected HTTP fault.
    pub(crate) fn injected_request(
        &self,
        rule: usize,
        plan: &Plan,
        at: Duration,
        request: &str,
        key: RequestKey,
        detail: Option<String>,
    ) {
        self.recording.request(key, rule);
        let (phase, fault) = &plan.rules[rule];
        let open = key.stream == super::OPEN_STREAM;
        self.list(|| InjectedFault {
            at_s: at.as_secs_f64(),
            phase: plan.phases[*phase].name.clone(),
            fault: fault.to_string(),
            kind: fault.action.kind().into(),
            request: Some(request.to_owned()),
            agent: (!open).then_some(key.stream),
            iteration: Some(key.iteration),
            request_number: Some(key.request),
            proxy: None,
            connection: None,
            direction: None,
            detail,
        });
    }

    /// Counts, lists and tapes a toxic that acted on a connection in one direction, in one
    /// occurrence of its phase.
    pub(crate) fn injected_toxic(
        &self,
        toxic: usize,
        plan: &Plan,
        at: Duration,
        connection: u64,
        occurrence: u64,
        direction: Option<Direction>,
    ) {
        self.toxics[toxic].fetch_add(1, Ordering::Relaxed);
        self.recording
            .connection(toxic, connection, occurrence, direction);
        self.list(|| InjectedFault {
            direction: direction.map(|d| d.as_str().to_owned()),
            ..toxic_fault(plan, toxic, at, connection)
        });
    }

    /// Counts, lists and tapes an HTTP toxic that acted on request `request` (from 0) of a
    /// proxy's `connection`.
    pub(crate) fn injected_exchange(
        &self,
        toxic: usize,
        plan: &Plan,
        at: Duration,
        connection: u64,
        request: u64,
        what: impl FnOnce() -> String,
    ) {
        self.toxics[toxic].fetch_add(1, Ordering::Relaxed);
        self.recording.exchange(toxic, connection, request);
        self.list(|| InjectedFault {
            request_number: Some(request),
            detail: Some(what()),
            ..toxic_fault(plan, toxic, at, connection)
        });
    }

    fn list(&self, fault: impl FnOnce() -> InjectedFault) {
        let mut listed = self.listed.lock().unwrap_or_else(|e| e.into_inner());
        if listed.len() < MAX_LISTED_FAULTS {
            listed.push(fault());
        } else {
            self.not_listed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a finished request toward the phases that were active when it started.
    pub(crate) fn outcome(&self, phases: u64, failed: bool, injected_failure: bool) {
        if injected_failure {
            self.injected_failures.fetch_add(1, Ordering::Relaxed);
        }
        let mut bits = phases;
        while bits != 0 {
            let p = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let c = &self.phases[p];
            c.requests.fetch_add(1, Ordering::Relaxed);
            if failed {
                c.failed.fetch_add(1, Ordering::Relaxed);
            }
            if injected_failure {
                c.injected_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The report: per phase what was injected, the requests that failed by injection and by
    /// themselves, warnings for rules that never matched, and the list of injected faults.
    /// `failed` is the run's count of failed requests; `names` the request names it saw.
    pub(crate) fn report(
        &self,
        turbulence: &super::Turbulence,
        scenario: &str,
        elapsed: Duration,
        failed: u64,
        names: &[&str],
    ) -> TurbulenceReport {
        let plan = &*turbulence.plan;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut warnings = Vec::new();
        let phases = plan
            .phases
            .iter()
            .enumerate()
            .map(|(p, phase)| {
                let counters = &self.phases[p];
                let occurrences: Vec<[f64; 2]> = phase
                    .timing
                    .occurrences(elapsed)
                    .take(MAX_LISTED_OCCURRENCES)
                    .map(|(from, to)| [from.as_secs_f64(), to.min(elapsed).as_secs_f64()])
                    .collect();
                let active = TimeSet::During(phase.timing).covered(elapsed);
                let rules = phase
                    .rules
                    .clone()
                    .map(|r| {
                        let (matched, injected) =
                            (load(&self.rules[r].matched), load(&self.rules[r].injected));
                        let rule = plan.rule_label(r);
                        if matched == 0 && !active.is_zero() {
                            warnings.push(format!(
                                "phase `{}`: rule `{rule}` matched no request (request names: {})",
                                phase.name,
                                list_or_none(names)
                            ));
                        }
                        RuleReport {
                            rule,
                            kind: plan.rules[r].1.action.kind().into(),
                            matched,
                            injected,
                        }
                    })
                    .collect();
                let toxics = phase
                    .toxics
                    .clone()
                    .map(|t| ToxicReport {
                        proxy: plan.proxies[plan.toxics[t].proxy].name().to_owned(),
                        toxic: plan.toxics[t].toxic.to_string(),
                        kind: plan.toxics[t].toxic.kind_name().into(),
                        applied: load(&self.toxics[t]),
                    })
                    .collect();
                if active.is_zero() {
                    warnings.push(format!(
                        "phase `{}` never started: the load ended at {:.1} s",
                        phase.name,
                        elapsed.as_secs_f64()
                    ));
                }
                let injected_failures = load(&counters.injected_failures);
                let failed = load(&counters.failed);
                PhaseReport {
                    name: phase.name.clone(),
                    occurrences,
                    active_s: active.as_secs_f64(),
                    ramp: phase.ramp.map(|(a, b)| [a, b]),
                    requests: load(&counters.requests),
                    failed,
                    injected_failures,
                    sut_failures: failed.saturating_sub(injected_failures),
                    rules,
                    toxics,
                }
            })
            .collect();
        let mut faults = self
            .listed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Threads list faults in the order they get the lock; the report lists them in time.
        faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        let injected_failures = load(&self.injected_failures);
        let tape = self.recording.tape(scenario, turbulence.seed, plan);
        let bytes = tape.to_bytes();
        TurbulenceReport {
            tape: Some(TapeRef {
                file: String::new(),
                sha256: super::tape::sha256(&bytes),
                requests: tape.requests.len() as u64,
                connections: (tape.connections.len() + tape.exchanges.len()) as u64,
                complete: tape.complete,
            }),
            replayed_tape: turbulence.replaying.as_ref().map(|r| r.sha256.clone()),
            tape_bytes: Some(std::sync::Arc::new(bytes)),
            overridden_by: plan.spec.clone(),
            phases,
            injected_failures,
            sut_failures: failed.saturating_sub(injected_failures),
            warnings,
            faults,
            faults_not_listed: load(&self.not_listed),
        }
    }
}

/// A toxic's injected fault on a proxy's `connection`, before what is particular to its kind.
fn toxic_fault(plan: &Plan, toxic: usize, at: Duration, connection: u64) -> InjectedFault {
    let t = &plan.toxics[toxic];
    InjectedFault {
        at_s: at.as_secs_f64(),
        phase: plan.phases[t.phase].name.clone(),
        fault: t.toxic.to_string(),
        kind: t.toxic.kind_name().into(),
        request: None,
        agent: None,
        iteration: None,
        request_number: None,
        proxy: Some(plan.proxies[t.proxy].name().to_owned()),
        connection: Some(connection),
        direction: None,
        detail: None,
    }
}
