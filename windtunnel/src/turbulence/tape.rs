//! [`Tape`]: the fault decisions of one scenario's run, by logical identity, so that a replay
//! injects exactly them instead of consulting the clock.
//!
//! A run records every HTTP fault that fired (agent, iteration, request number, rule) and every
//! toxic that acted on a connection (toxic, connection number, occurrence of its phase,
//! direction), and every HTTP toxic that acted on a request through a proxy (toxic,
//! connection number, request number on the connection). The store writes the tape next to `report.json` (`tapes/<scenario>.json`), and the
//! report names it with its SHA-256. A run given a tape (`--tape FILE`, which `windtunnel replay`
//! passes) fires a rule on a request only when the tape names that request and rule, and lets a
//! toxic act on a connection only when the tape names that connection and occurrence: a timed,
//! windowed phase replays the same faults however fast the replay runs. The replay's own tape is
//! then compared with the original ([`Tape::diff`]).
//!
//! A tape is untrusted input: it is read bounded (`WINDTUNNEL_MAX_FILE_SIZE`), parsed strictly,
//! and checked against the scenario's turbulence (the same rules and toxics, in the same order)
//! before any request is sent.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::toxic::Direction;
use super::{OPEN_STREAM, Plan, RequestKey};

/// What the tape's `format` field says.
pub const TAPE_FORMAT: &str = "windtunnel-fault-tape";
/// The tape version this windtunnel writes and reads.
pub const TAPE_VERSION: u32 = 1;
/// The most decisions a tape holds; a run that makes more keeps the first ones and marks its
/// tape incomplete (it cannot be replayed exactly).
pub const MAX_TAPE_ENTRIES: usize = 1_000_000;

/// One HTTP fault that fired: `[agent, iteration, request, rule]`; the agent is `null` in an
/// open model, where the iteration is its place in the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TapedRequest(pub Option<u64>, pub u64, pub u64, pub u32);

/// One toxic that acted on a connection: `[toxic, connection, occurrence, direction]`; the
/// direction is `null` for a connection refused when accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TapedConnection(pub u32, pub u64, pub u64, pub Option<TapedDirection>);

/// One HTTP toxic that acted on a request through a proxy: `[toxic, connection, request]`, the
/// request numbered from 0 on its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TapedExchange(pub u32, pub u64, pub u64);

/// A direction on a tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TapedDirection {
    /// Client to upstream.
    Upstream,
    /// Upstream to client.
    Downstream,
}

impl From<Direction> for TapedDirection {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Upstream => TapedDirection::Upstream,
            Direction::Downstream => TapedDirection::Downstream,
        }
    }
}

/// The fault decisions of one scenario's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Tape {
    /// Always [`TAPE_FORMAT`].
    pub format: String,
    /// [`TAPE_VERSION`].
    pub version: u32,
    /// The scenario.
    pub scenario: String,
    /// The seed of the run.
    pub seed: u64,
    /// The rules, in the plan's order: `phase: rule`.
    pub rules: Vec<String>,
    /// The toxics, in the plan's order: `phase: toxic on proxy`.
    pub toxics: Vec<String>,
    /// `false` when the run made more than [`MAX_TAPE_ENTRIES`] decisions.
    pub complete: bool,
    /// The HTTP faults that fired, sorted.
    pub requests: Vec<TapedRequest>,
    /// The toxics that acted, sorted.
    pub connections: Vec<TapedConnection>,
    /// The HTTP toxics that acted on requests, sorted (absent when none did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<TapedExchange>,
}

/// A tape that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("fault tape `{path}`: {reason}")]
pub struct TapeError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// How a replay's tape compares with the original's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TapeDiff {
    /// Decisions of the original that the replay made again.
    pub refired: u64,
    /// Decisions of the original that the replay did not make.
    pub missing: u64,
    /// Decisions of the replay that the original did not make.
    pub new: u64,
}

impl TapeDiff {
    /// Whether the two tapes hold the same decisions.
    pub fn matches(&self) -> bool {
        self.missing == 0 && self.new == 0
    }
}

impl Tape {
    /// Reads and checks the tape at `path` (bounded by `WINDTUNNEL_MAX_FILE_SIZE`).
    ///
    /// # Errors
    ///
    /// A [`TapeError`] naming the file when it cannot be read, is not a tape of this version, or
    /// names a rule or toxic it does not list.
    pub fn read(path: &Path) -> Result<Tape, TapeError> {
        let fail = |reason: String| TapeError {
            path: path.display().to_string(),
            reason,
        };
        let bytes = crate::bounded::read_bounded(path).map_err(fail)?;
        let tape: Tape =
            serde_json::from_slice(&bytes).map_err(|e| fail(format!("not a fault tape: {e}")))?;
        tape.check().map_err(fail)?;
        Ok(tape)
    }

    fn check(&self) -> Result<(), String> {
        if self.format != TAPE_FORMAT {
            return Err(format!(
                "its format is `{}`, not `{TAPE_FORMAT}`",
                self.format.escape_default()
            ));
        }
        if self.version != TAPE_VERSION {
            return Err(format!(
                "it is version {}; this windtunnel reads version {TAPE_VERSION}",
                self.version
            ));
        }
        if self.len() > MAX_TAPE_ENTRIES {
            return Err(format!("it holds more than {MAX_TAPE_ENTRIES} decisions"));
        }
        // Every decision names a rule or toxic the tape lists.
        fn named(
            what: &str,
            mut indexes: impl Iterator<Item = u32>,
            kind: &str,
            listed: usize,
        ) -> Result<(), String> {
            match indexes.find(|&i| i as usize >= listed) {
                Some(i) => Err(format!(
                    "{what} names {kind} {i}, and the tape lists {listed} {kind}s"
                )),
                None => Ok(()),
            }
        }
        let (rules, toxics) = (self.rules.len(), self.toxics.len());
        named(
            "a request",
            self.requests.iter().map(|r| r.3),
            "rule",
            rules,
        )?;
        named(
            "a connection",
            self.connections.iter().map(|c| c.0),
            "toxic",
            toxics,
        )?;
        named(
            "a request through a proxy",
            self.exchanges.iter().map(|x| x.0),
            "toxic",
            toxics,
        )?;
        Ok(())
    }

    /// A tape of these decisions, sorted and each once, so that the same decisions give the
    /// same bytes.
    fn sorted(
        scenario: &str,
        seed: u64,
        (rules, toxics): (Vec<String>, Vec<String>),
        complete: bool,
        (mut requests, mut connections, mut exchanges): Decisions,
    ) -> Tape {
        requests.sort_unstable();
        requests.dedup();
        connections.sort_unstable();
        connections.dedup();
        exchanges.sort_unstable();
        exchanges.dedup();
        Tape {
            format: TAPE_FORMAT.into(),
            version: TAPE_VERSION,
            scenario: scenario.to_owned(),
            seed,
            rules,
            toxics,
            complete,
            requests,
            connections,
            exchanges,
        }
    }

    /// The tape's bytes as written (compact JSON, sorted decisions): the same decisions give
    /// the same bytes, and so the same hash.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("tapes serialize")
    }

    /// The SHA-256 of [`to_bytes`](Self::to_bytes), in hex: what a report names its tape by.
    pub fn sha256(&self) -> String {
        sha256(&self.to_bytes())
    }

    /// Every decision: how many there are.
    pub fn len(&self) -> usize {
        self.requests.len() + self.connections.len() + self.exchanges.len()
    }

    /// Whether the run made no decision.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decisions of several tapes of one scenario and seed as one tape: what a run cut
    /// into segments (`--segment i/n`) decided as a whole, each segment's decisions already
    /// named by their place in the whole load.
    ///
    /// # Errors
    ///
    /// When the tapes are of different scenarios, seeds, rules or toxics, or there are none.
    pub fn union(tapes: Vec<Tape>) -> Result<Tape, String> {
        let Some(first) = tapes.first() else {
            return Err("there is no tape to join".into());
        };
        if let Some(other) = tapes.iter().find(|t| {
            (&t.scenario, t.seed, &t.rules, &t.toxics)
                != (&first.scenario, first.seed, &first.rules, &first.toxics)
        }) {
            return Err(format!(
                "the tapes are of scenario `{}` with seed {} and of `{}` with seed {}, or list \
                 other rules or toxics",
                first.scenario.escape_default(),
                first.seed,
                other.scenario.escape_default(),
                other.seed
            ));
        }
        let (scenario, seed) = (first.scenario.clone(), first.seed);
        let labels = (first.rules.clone(), first.toxics.clone());
        let complete = tapes.iter().all(|t| t.complete);
        let (mut requests, mut connections, mut exchanges) = (Vec::new(), Vec::new(), Vec::new());
        for t in tapes {
            requests.extend(t.requests);
            connections.extend(t.connections);
            exchanges.extend(t.exchanges);
        }
        Ok(Tape::sorted(
            &scenario,
            seed,
            labels,
            complete,
            (requests, connections, exchanges),
        ))
    }

    /// Compares this tape (the original) with a replay's, decision by decision; rules and
    /// toxics are compared by their labels, so a replay of changed turbulence shows as missing
    /// and new decisions.
    pub fn diff(&self, replay: &Tape) -> TapeDiff {
        fn count<T: Eq + std::hash::Hash>(old: &HashSet<T>, new: &HashSet<T>) -> TapeDiff {
            let refired = old.intersection(new).count() as u64;
            TapeDiff {
                refired,
                missing: old.len() as u64 - refired,
                new: new.len() as u64 - refired,
            }
        }
        let requests = |t: &Tape| -> HashSet<(Option<u64>, u64, u64, String)> {
            t.requests
                .iter()
                .map(|r| (r.0, r.1, r.2, t.rules[r.3 as usize].clone()))
                .collect()
        };
        let connections = |t: &Tape| -> HashSet<(String, u64, u64, Option<TapedDirection>)> {
            t.connections
                .iter()
                .map(|c| (t.toxics[c.0 as usize].clone(), c.1, c.2, c.3))
                .collect()
        };
        let exchanges = |t: &Tape| -> HashSet<(String, u64, u64)> {
            t.exchanges
                .iter()
                .map(|x| (t.toxics[x.0 as usize].clone(), x.1, x.2))
                .collect()
        };
        [
            count(&requests(self), &requests(replay)),
            count(&connections(self), &connections(replay)),
            count(&exchanges(self), &exchanges(replay)),
        ]
        .into_iter()
        .fold(TapeDiff::default(), |a, b| TapeDiff {
            refired: a.refired + b.refired,
            missing: a.missing + b.missing,
            new: a.new + b.new,
        })
    }
}

/// A tape's decisions: HTTP faults, toxics on connections, HTTP toxics on requests.
type Decisions = (Vec<TapedRequest>, Vec<TapedConnection>, Vec<TapedExchange>);

/// The labels a tape lists for a plan's rules and toxics. A rule's count is not in its label:
/// the tape decides which requests it fires on, whatever its budget, so the tapes of a run's
/// segments (each with its share of the budget) and of the whole run list the same rules.
fn labels(plan: &Plan) -> (Vec<String>, Vec<String>) {
    let rules = plan
        .rules
        .iter()
        .map(|(p, fault)| {
            let mut uncounted = fault.clone();
            uncounted.count = None;
            format!("{}: {uncounted}", plan.phases[*p].name)
        })
        .collect();
    let toxics = plan
        .toxics
        .iter()
        .map(|t| {
            format!(
                "{}: {} on proxy `{}`",
                plan.phases[t.phase].name,
                t.toxic,
                plan.proxies[t.proxy].name()
            )
        })
        .collect();
    (rules, toxics)
}

/// The decisions of a run as they are made, shared by every agent and proxy connection.
#[derive(Default)]
pub(crate) struct Recording {
    requests: Mutex<Vec<TapedRequest>>,
    connections: Mutex<Vec<TapedConnection>>,
    exchanges: Mutex<Vec<TapedExchange>>,
    /// Decisions recorded or refused so far: past [`MAX_TAPE_ENTRIES`], the tape is incomplete.
    held: AtomicUsize,
}

impl Recording {
    /// Takes room for one more decision; `false` once the tape is full.
    fn room(&self) -> bool {
        self.held.fetch_add(1, Ordering::Relaxed) < MAX_TAPE_ENTRIES
    }

    pub(crate) fn request(&self, key: RequestKey, rule: usize) {
        if self.room() {
            let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            requests.push(taped_request(key, rule));
        }
    }

    pub(crate) fn connection(
        &self,
        toxic: usize,
        connection: u64,
        occurrence: u64,
        direction: Option<Direction>,
    ) {
        if self.room() {
            let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
            connections.push(TapedConnection(
                toxic as u32,
                connection,
                occurrence,
                direction.map(Into::into),
            ));
        }
    }

    pub(crate) fn exchange(&self, toxic: usize, connection: u64, request: u64) {
        if self.room() {
            let mut exchanges = self.exchanges.lock().unwrap_or_else(|e| e.into_inner());
            exchanges.push(TapedExchange(toxic as u32, connection, request));
        }
    }

    /// The tape of what was recorded.
    pub(crate) fn tape(&self, scenario: &str, seed: u64, plan: &Plan) -> Tape {
        let (rules, toxics) = labels(plan);
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let connections = self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let exchanges = self
            .exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Tape::sorted(
            scenario,
            seed,
            (rules, toxics),
            self.held.load(Ordering::Relaxed) <= MAX_TAPE_ENTRIES,
            (requests, connections, exchanges),
        )
    }
}

fn taped_request(key: RequestKey, rule: usize) -> TapedRequest {
    let agent = (key.stream != OPEN_STREAM).then_some(key.stream);
    TapedRequest(agent, key.iteration, key.request, rule as u32)
}

/// One tape of the decisions of several `tapes` (the generations of a proxy's toxics), their
/// rules and toxics listed once each by label.
pub(crate) fn merged(scenario: &str, seed: u64, tapes: impl Iterator<Item = Tape>) -> Tape {
    let (mut rules, mut toxics) = (Vec::new(), Vec::new());
    let (mut requests, mut connections, mut exchanges) = (Vec::new(), Vec::new(), Vec::new());
    let mut complete = true;
    let index = |labels: &mut Vec<String>, label: &String| -> u32 {
        match labels.iter().position(|l| l == label) {
            Some(i) => i as u32,
            None => {
                labels.push(label.clone());
                (labels.len() - 1) as u32
            }
        }
    };
    for tape in tapes {
        complete &= tape.complete;
        for r in &tape.requests {
            let rule = index(&mut rules, &tape.rules[r.3 as usize]);
            requests.push(TapedRequest(r.0, r.1, r.2, rule));
        }
        for c in &tape.connections {
            let toxic = index(&mut toxics, &tape.toxics[c.0 as usize]);
            connections.push(TapedConnection(toxic, c.1, c.2, c.3));
        }
        for x in &tape.exchanges {
            let toxic = index(&mut toxics, &tape.toxics[x.0 as usize]);
            exchanges.push(TapedExchange(toxic, x.1, x.2));
        }
    }
    Tape::sorted(
        scenario,
        seed,
        (rules, toxics),
        complete,
        (requests, connections, exchanges),
    )
}

/// The SHA-256 of `bytes`, in hex.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// A tape a run replays: its decisions, looked up by identity.
#[derive(Debug)]
pub(crate) struct Replaying {
    requests: HashSet<TapedRequest>,
    /// Per toxic, connection and direction, the occurrences of its phase it acted in, sorted.
    connections: HashMap<(u32, u64, Option<TapedDirection>), Vec<u64>>,
    exchanges: HashSet<TapedExchange>,
    /// The replayed tape's SHA-256.
    pub(crate) sha256: String,
}

impl Replaying {
    /// Checks `tape` against the scenario `scenario` and its turbulence `plan`.
    pub(crate) fn new(tape: &Tape, scenario: &str, plan: &Plan) -> Result<Replaying, String> {
        if tape.scenario != scenario {
            return Err(format!(
                "it is the tape of scenario `{}`, not of `{scenario}`",
                tape.scenario.escape_default()
            ));
        }
        if !tape.complete {
            return Err(format!(
                "it is incomplete (its run made more than {MAX_TAPE_ENTRIES} decisions), so it \
                 cannot be replayed exactly; replay with the seed instead (`--seed {}`)",
                tape.seed
            ));
        }
        let (rules, toxics) = labels(plan);
        let differ = |what: &str, taped: &[String], now: &[String]| {
            let first = (0..taped.len().max(now.len()))
                .find(|&i| taped.get(i) != now.get(i))
                .unwrap_or(0);
            let show = |v: Option<&String>| v.map_or("none".into(), |s| format!("`{s}`"));
            format!(
                "its {what} differ from the scenario's turbulence: {what} {} was {}, is now {}; \
                 replay without the tape (`--seed {}`) to draw the decisions again",
                first + 1,
                show(taped.get(first)),
                show(now.get(first)),
                tape.seed
            )
        };
        if tape.rules != rules {
            return Err(differ("rules", &tape.rules, &rules));
        }
        if tape.toxics != toxics {
            return Err(differ("toxics", &tape.toxics, &toxics));
        }
        let mut connections: HashMap<_, Vec<u64>> = HashMap::new();
        for c in &tape.connections {
            connections.entry((c.0, c.1, c.3)).or_default().push(c.2);
        }
        for occurrences in connections.values_mut() {
            occurrences.sort_unstable();
            occurrences.dedup();
        }
        Ok(Replaying {
            requests: tape.requests.iter().copied().collect(),
            connections,
            exchanges: tape.exchanges.iter().copied().collect(),
            sha256: tape.sha256(),
        })
    }

    /// Whether the tape fires `rule` on the request `key`.
    pub(crate) fn fires(&self, key: RequestKey, rule: usize) -> bool {
        self.requests.contains(&taped_request(key, rule))
    }

    /// Whether the tape has the HTTP toxic `toxic` act on request `request` of `connection`.
    pub(crate) fn acts_on(&self, toxic: usize, connection: u64, request: u64) -> bool {
        self.exchanges
            .contains(&TapedExchange(toxic as u32, connection, request))
    }

    /// The occurrences of its phase in which the tape has `toxic` act on `connection` in
    /// `direction`, sorted.
    pub(crate) fn occurrences(
        &self,
        toxic: usize,
        connection: u64,
        direction: Option<Direction>,
    ) -> &[u64] {
        self.connections
            .get(&(toxic as u32, connection, direction.map(Into::into)))
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tape(requests: &[TapedRequest]) -> Tape {
        Tape {
            format: TAPE_FORMAT.into(),
            version: TAPE_VERSION,
            scenario: "s".into(),
            seed: 1,
            rules: vec!["p: abort 503".into(), "p: delay 10 ms".into()],
            toxics: vec![],
            complete: true,
            requests: requests.to_vec(),
            connections: vec![],
            exchanges: vec![],
        }
    }

    #[test]
    fn a_diff_counts_refired_missing_and_new_decisions() {
        let a = tape(&[
            TapedRequest(Some(0), 1, 0, 0),
            TapedRequest(Some(0), 2, 0, 1),
            TapedRequest(None, 7, 0, 0),
        ]);
        let b = tape(&[
            TapedRequest(Some(0), 1, 0, 0),
            TapedRequest(None, 7, 0, 0),
            TapedRequest(Some(3), 1, 0, 0),
        ]);
        let d = a.diff(&b);
        assert_eq!((d.refired, d.missing, d.new), (2, 1, 1));
        assert!(!d.matches());
        assert!(a.diff(&a).matches());
        // Rules are compared by label: the same index of another rule is another decision.
        let mut c = a.clone();
        c.rules.swap(0, 1);
        assert_eq!(a.diff(&c).refired, 0);
    }

    #[test]
    fn a_union_keeps_every_rule_in_its_place_whichever_fired() {
        // Segment 1 fired only rule 1, segment 2 only rule 0: the union lists both rules in
        // the plan's order, as the whole run's tape does.
        let a = tape(&[TapedRequest(Some(0), 1, 0, 1)]);
        let b = tape(&[TapedRequest(Some(1), 1, 0, 0)]);
        let whole = tape(&[
            TapedRequest(Some(0), 1, 0, 1),
            TapedRequest(Some(1), 1, 0, 0),
        ]);
        assert_eq!(
            Tape::union(vec![a.clone(), b]).unwrap(),
            Tape::union(vec![whole]).unwrap()
        );
        let mut other = a.clone();
        other.seed = 2;
        assert!(
            Tape::union(vec![a, other])
                .unwrap_err()
                .contains("seed 1 and of `s` with seed 2")
        );
        assert!(Tape::union(vec![]).is_err());
    }

    #[test]
    fn a_tape_round_trips_and_bad_tapes_are_refused() {
        let dir = std::env::temp_dir().join(format!("wt-tape-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.json");
        let t = tape(&[TapedRequest(None, 7, 0, 1)]);
        std::fs::write(&path, t.to_bytes()).unwrap();
        assert_eq!(Tape::read(&path).unwrap(), t);
        let text = String::from_utf8(t.to_bytes()).unwrap();
        assert!(text.contains(r#""requests":[[null,7,0,1]]"#), "{text}");
        let refused = |bytes: &str| {
            std::fs::write(&path, bytes).unwrap();
            Tape::read(&path).unwrap_err().to_string()
        };
        let bad_rule = text.replace("[null,7,0,1]", "[null,7,0,9]");
        assert!(
            refused(&bad_rule).contains("names rule 9, and the tape lists 2 rules"),
            "{}",
            refused(&bad_rule)
        );
        let other = text.replace(TAPE_FORMAT, "zip");
        assert!(refused(&other).contains("its format is `zip`"));
        let extra = text.replacen('{', r#"{"exec":"rm -rf /","#, 1);
        assert!(refused(&extra).contains("unknown field `exec`"));
        assert!(refused("[").contains("not a fault tape"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
