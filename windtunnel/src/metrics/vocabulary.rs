//! The vocabulary the metrics share: what went wrong with a request ([`ErrorKind`]), how a
//! request or an iteration ended ([`Outcome`], [`IterationOutcome`]), the counters they are
//! counted in, the histogram bounds, and the bounds on what is kept.

use std::collections::HashMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, from 1 µs to one hour, at 3 significant digits.
pub(crate) const HIST_MAX_US: u64 = 3_600_000_000;
/// How many distinct sample messages are kept per error class.
pub(crate) const MAX_SAMPLES: usize = 5;
/// How many distinct panic messages are kept per agent; past this, panics are counted under
/// [`OTHER_PANICS`], so an agent whose panic message differs every time (it holds an id or a
/// time) cannot grow memory, the report or the terminal without bound.
pub(crate) const MAX_PANIC_MESSAGES: usize = 20;
/// The panic message further distinct panics are counted under.
pub(crate) const OTHER_PANICS: &str = "(further distinct panic messages, counted but not kept)";
/// Sample messages are cut to this many characters.
pub(super) const MAX_SAMPLE_CHARS: usize = 300;

/// `message` cut to [`MAX_SAMPLE_CHARS`] characters, with `…` where it was cut.
pub(super) fn clipped(message: &str) -> std::borrow::Cow<'_, str> {
    match message.char_indices().nth(MAX_SAMPLE_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]).into(),
        None => message.into(),
    }
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static histogram bounds are valid")
}

/// What went wrong with a request or a timed operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection could not be established (refused, unreachable, DNS, TLS handshake).
    Connect,
    /// No complete response within the request timeout.
    Timeout,
    /// The request failed after connecting (reset, protocol error, body read error).
    Request,
    /// A response arrived with a status the request did not accept (by default: not 2xx or 3xx).
    Status,
    /// A timed operation (`Agent::measure`) returned an error.
    Operation,
    /// The request could not be built (an invalid header, URL, name or body) and was never
    /// sent. It has no latency.
    Invalid,
    /// The request was still waiting for its response when it was abandoned: the graceful stop
    /// ended, or the agent stopped waiting for it. Its latency is a lower bound.
    Unfinished,
    /// A response arrived with an accepted status but did not meet what the request expected
    /// of it ([`RequestBuilder::expect`](crate::RequestBuilder::expect)): a value in its
    /// body, a header, its JSON Schema.
    Assertion,
}

impl ErrorKind {
    /// The kind's name as it appears in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Request => "request",
            ErrorKind::Status => "status",
            ErrorKind::Operation => "operation",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unfinished => "unfinished",
            ErrorKind::Assertion => "assertion",
        }
    }

    /// The kind named `name` in reports (`timeout`, `status`, ...).
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Every kind, in the order reports list them.
    pub(crate) const ALL: [ErrorKind; 8] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Request,
        ErrorKind::Status,
        ErrorKind::Operation,
        ErrorKind::Invalid,
        ErrorKind::Unfinished,
        ErrorKind::Assertion,
    ];
}

/// The outcome of one request or timed operation.
#[derive(Clone, Copy)]
pub(crate) enum Outcome<'a> {
    /// An HTTP response; `accepted` says whether its status counts as a success.
    Response {
        status: u16,
        accepted: bool,
        detail: &'a dyn Fn() -> String,
    },
    /// An HTTP response with an accepted status that missed the request's expectations: a
    /// failed request of kind `assertion`, its status counted.
    Unmet {
        status: u16,
        message: &'a dyn Fn() -> String,
    },
    /// A timed operation that succeeded.
    Ok,
    /// A failure with no response.
    Failed {
        kind: ErrorKind,
        message: &'a dyn Fn() -> String,
    },
}

impl Outcome<'_> {
    /// Whether it counts as a failed request.
    pub(crate) fn failed(&self) -> bool {
        match self {
            Outcome::Response { accepted, .. } => !accepted,
            Outcome::Unmet { .. } => true,
            Outcome::Ok => false,
            Outcome::Failed { .. } => true,
        }
    }

    /// Whether it has a latency: every outcome but a request that was never sent.
    pub(crate) fn has_latency(&self) -> bool {
        !matches!(
            self,
            Outcome::Failed {
                kind: ErrorKind::Invalid,
                ..
            }
        )
    }
}

/// How one iteration of an agent ended.
pub(crate) enum IterationOutcome<'a> {
    Completed,
    Failed {
        class: &'static str,
        message: &'a str,
        /// Whether turbulence caused it (the iteration's last request was injected).
        injected: bool,
    },
    Panicked {
        agent_id: u64,
        message: &'a str,
    },
}

/// Counters and samples for one kind of error.
#[derive(Clone, Debug, Default)]
pub(crate) struct ErrorCounter {
    pub(crate) count: u64,
    /// How many of them turbulence caused (an injected fault on the request, or on the
    /// response a check judged).
    pub(crate) injected: u64,
    pub(crate) samples: Vec<String>,
}

impl ErrorCounter {
    /// Counts one, caused by turbulence if `injected`.
    pub(crate) fn add_marked(&mut self, injected: bool, sample: impl FnOnce() -> String) {
        self.count += 1;
        self.injected += u64::from(injected);
        if self.samples.len() < MAX_SAMPLES {
            let s = sample();
            let s = clipped(&s).into_owned();
            if !self.samples.contains(&s) {
                self.samples.push(s);
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &ErrorCounter) {
        self.count += other.count;
        self.injected += other.injected;
        for s in &other.samples {
            if self.samples.len() < MAX_SAMPLES && !self.samples.contains(s) {
                self.samples.push(s.clone());
            }
        }
    }
}

/// Per-agent-name iteration counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct IterationCounters {
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) panicked: u64,
    /// Failure classes (`check`, `http`, `step`, `error`) with samples.
    pub(crate) failures: HashMap<&'static str, ErrorCounter>,
    /// Panic messages, with the ids of the first agents that hit them.
    pub(crate) panics: HashMap<String, (u64, Vec<u64>)>,
    /// How long iterations took, in microseconds: from the intended start in an open model,
    /// from the start in a closed one. Every iteration, failed and panicked ones too.
    pub(crate) duration: Option<Histogram<u64>>,
}

/// Counts `count` panics with `message` (first hit by `agent_ids`), keeping at most
/// [`MAX_PANIC_MESSAGES`] distinct messages of at most [`MAX_SAMPLE_CHARS`] characters.
pub(crate) fn add_panic(
    panics: &mut HashMap<String, (u64, Vec<u64>)>,
    message: &str,
    count: u64,
    agent_ids: &[u64],
) {
    // A message is kept under its clipped form, so a long message that repeats finds its
    // entry again, also once the bound is reached.
    let key = clipped(message);
    let kept = panics.len() - usize::from(panics.contains_key(OTHER_PANICS));
    let key = if panics.contains_key(&*key) || kept < MAX_PANIC_MESSAGES {
        key
    } else {
        OTHER_PANICS.into()
    };
    let entry = panics.entry(key.into_owned()).or_default();
    entry.0 += count;
    for id in agent_ids {
        if entry.1.len() < MAX_SAMPLES && !entry.1.contains(id) {
            entry.1.push(*id);
        }
    }
}

impl IterationCounters {
    /// The failure class named `name` (`check`, `http`, `step` or `error`), as the executor
    /// names it.
    pub(crate) fn class(name: &str) -> Option<&'static str> {
        ["check", "http", "step", "error"]
            .into_iter()
            .find(|c| *c == name)
    }
}

/// Per-check pass/fail counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct CheckCounters {
    pub(crate) passed: u64,
    pub(crate) failed: ErrorCounter,
}

/// What a workflow step is: a wait for a state, or a request retried on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StepKind {
    /// [`Agent::wait`](crate::Agent::wait): polled until a condition held or time ran out.
    Wait,
    /// [`Agent::retry`](crate::Agent::retry): sent again on the failures its policy names.
    Retry,
}

impl StepKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StepKind::Wait => "wait",
            StepKind::Retry => "retry",
        }
    }
}

/// How one run of a workflow step (a wait, a retried request) ended.
pub(crate) struct StepOutcome<'a> {
    pub(crate) kind: StepKind,
    /// Requests it sent.
    pub(crate) attempts: u64,
    /// Why it gave up (timed out, out of attempts, the run stopped); `None` when it succeeded.
    pub(crate) gave_up: Option<&'a dyn Fn() -> String>,
}

/// Per-step counters: how many runs succeeded at once, after several attempts, or gave up,
/// and how many attempts they took, so that a retry storm shows.
#[derive(Clone, Debug)]
pub(crate) struct StepCounters {
    pub(crate) kind: StepKind,
    pub(crate) runs: u64,
    /// Runs that succeeded on their first attempt.
    pub(crate) first_attempt: u64,
    /// Runs that succeeded after more than one attempt.
    pub(crate) later_attempt: u64,
    /// Runs that gave up, with samples of why.
    pub(crate) gave_up: ErrorCounter,
    /// Attempts of every run together.
    pub(crate) attempts: u64,
    /// The most attempts one run took.
    pub(crate) max_attempts: u64,
}

impl StepCounters {
    pub(crate) fn new(kind: StepKind) -> Self {
        StepCounters {
            kind,
            runs: 0,
            first_attempt: 0,
            later_attempt: 0,
            gave_up: ErrorCounter::default(),
            attempts: 0,
            max_attempts: 0,
        }
    }

    pub(crate) fn add(&mut self, outcome: &StepOutcome<'_>) {
        self.runs += 1;
        self.attempts += outcome.attempts;
        self.max_attempts = self.max_attempts.max(outcome.attempts);
        match outcome.gave_up {
            Some(why) => self.gave_up.add_marked(false, why),
            None if outcome.attempts <= 1 => self.first_attempt += 1,
            None => self.later_attempt += 1,
        }
    }

    pub(crate) fn merge(&mut self, other: &StepCounters) {
        self.runs += other.runs;
        self.first_attempt += other.first_attempt;
        self.later_attempt += other.later_attempt;
        self.gave_up.merge(&other.gave_up);
        self.attempts += other.attempts;
        self.max_attempts = self.max_attempts.max(other.max_attempts);
    }
}

/// How many distinct values of one variation are kept; past this, iterations count under
/// [`OTHER_VALUES`].
pub(crate) const MAX_VARIATION_VALUES: usize = 20;
/// How many variations are kept; past this, new names are not counted.
pub(crate) const MAX_VARIATIONS: usize = 100;
/// The value further distinct values of a variation count under.
pub(crate) const OTHER_VALUES: &str = "(other values)";

/// Per value of one variation: the iterations that drew it, and how many of them failed.
pub(crate) type VariationCounters = std::collections::BTreeMap<Box<str>, (u64, u64)>;

/// Adds `iterations` that drew `value` of the variation `name`, `failed` of them failed, to
/// `into`, within the bounds: at most [`MAX_VARIATIONS`] names (further ones are not counted)
/// and [`MAX_VARIATION_VALUES`] values each (further ones count under [`OTHER_VALUES`]).
pub(crate) fn add_variation<K>(
    into: &mut std::collections::BTreeMap<K, VariationCounters>,
    name: &str,
    value: &str,
    iterations: u64,
    failed: u64,
) where
    K: Ord + std::borrow::Borrow<str> + for<'a> From<&'a str>,
{
    if !into.contains_key(name) && into.len() >= MAX_VARIATIONS {
        return;
    }
    let values = match into.get_mut(name) {
        Some(v) => v,
        None => into.entry(name.into()).or_default(),
    };
    let key: &str = if values.contains_key(value) || values.len() < MAX_VARIATION_VALUES {
        value
    } else {
        OTHER_VALUES
    };
    let entry = match values.get_mut(key) {
        Some(e) => e,
        None => values.entry(key.into()).or_default(),
    };
    entry.0 += iterations;
    entry.1 += failed;
}

#[cfg(test)]
mod variation_tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn variations_are_bounded_in_names_and_values() {
        let mut v: BTreeMap<Box<str>, VariationCounters> = BTreeMap::new();
        for i in 0..(MAX_VARIATION_VALUES + 5) {
            add_variation(&mut v, "size", &i.to_string(), 1, u64::from(i % 2 == 0));
        }
        let size = &v["size"];
        assert_eq!(size.len(), MAX_VARIATION_VALUES + 1);
        // Values 20 to 24 count under one entry: 5 iterations, 3 of them (20, 22, 24) failed.
        assert_eq!(size[OTHER_VALUES], (5, 3));
        // A value kept already keeps counting under itself.
        add_variation(&mut v, "size", "3", 2, 0);
        assert_eq!(v["size"]["3"], (3, 0));
        for i in 1..(MAX_VARIATIONS + 5) {
            add_variation(&mut v, &format!("v{i}"), "x", 1, 0);
        }
        assert_eq!(v.len(), MAX_VARIATIONS);
        assert!(v.contains_key("size"));
    }
}
