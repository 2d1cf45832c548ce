//! A load model resolved into what the executor follows: each setting checked (an error names
//! the field), the closed model's users laid out in time, the open model's arrival curve, and
//! the named stages that objectives may be scoped to.

use std::time::Duration;

use super::schedule::Curve;
use super::*;

/// A load setting that cannot run: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoadError {
    pub(crate) field: String,
    pub(crate) reason: String,
}

/// The most repeats of a capacity step.
const MAX_REPEATS: u32 = 100;

fn bad(field: impl Into<String>, reason: impl Into<String>) -> LoadError {
    LoadError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A named part of the run, for objectives scoped to it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StageSpan {
    pub(crate) name: String,
    pub(crate) from: Duration,
    pub(crate) to: Duration,
    /// The users or rate at the end of the stage.
    pub(crate) target: f64,
}

/// What the executor follows.
#[derive(Clone, Debug)]
pub(crate) enum Plan {
    Closed(ClosedPlan),
    Open(OpenPlan),
    Capacity(CapacityPlan),
}

#[derive(Clone, Debug)]
pub(crate) struct ClosedPlan {
    /// Per user, its active intervals from the start of the run (`None`: to the end).
    pub(crate) users: Vec<Vec<(Duration, Option<Duration>)>>,
    pub(crate) duration: Option<Duration>,
    pub(crate) iterations: Option<u64>,
    pub(crate) shared_iterations: Option<u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct OpenPlan {
    pub(crate) curve: Curve,
    pub(crate) pool: Pool,
    pub(crate) timer: StartTimer,
}

/// How an open model's scheduler waits for intended starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum StartTimer {
    /// tokio's timer: the millisecond tick nearest each start; one wake per tick.
    #[default]
    Tick,
    /// A ticker thread that sleeps until each start; one thread wake per iteration.
    Thread,
}

#[derive(Clone, Debug)]
pub(crate) struct CapacityPlan {
    pub(crate) start: f64,
    pub(crate) step: f64,
    pub(crate) max: f64,
    pub(crate) hold: Duration,
    pub(crate) bisections: u32,
    pub(crate) repeats: u32,
    pub(crate) pool: Pool,
}

/// A validated load: the plan, its named stages, and how to describe it in the report.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub(crate) plan: Plan,
    pub(crate) stages: Vec<StageSpan>,
    pub(crate) kind: &'static str,
    /// The planned length of the run, when it is bounded by time.
    pub(crate) duration: Option<Duration>,
    pub(crate) users: Option<u32>,
    pub(crate) ramp_up: Option<Duration>,
    pub(crate) iterations: Option<u64>,
    pub(crate) shared_iterations: Option<u64>,
    pub(crate) rate: Option<f64>,
    pub(crate) start: Option<f64>,
    pub(crate) pool: Option<Pool>,
}

impl Resolved {
    fn new(kind: &'static str, plan: Plan) -> Self {
        Resolved {
            plan,
            stages: Vec::new(),
            kind,
            duration: None,
            users: None,
            ramp_up: None,
            iterations: None,
            shared_iterations: None,
            rate: None,
            start: None,
            pool: None,
        }
    }
}

fn check_duration(field: &str, d: Duration) -> Result<(), LoadError> {
    if d.is_zero() {
        return Err(bad(field, "must be above zero"));
    }
    Ok(())
}

fn check_rate(field: &str, rate: f64, zero_ok: bool) -> Result<(), LoadError> {
    if !rate.is_finite() || rate < 0.0 || (!zero_ok && rate == 0.0) {
        let want = if zero_ok { "at least 0" } else { "above 0" };
        return Err(bad(
            field,
            format!("must be a number {want} iterations per second, not {rate}"),
        ));
    }
    if rate > MAX_RATE {
        return Err(bad(
            field,
            format!(
                "{rate}/s is more than any agent pool can sustain: one scheduler starts at most \
                 {MAX_RATE}/s (split the load with segments across processes)"
            ),
        ));
    }
    Ok(())
}

fn check_pool(pool: Pool) -> Result<(), LoadError> {
    if pool.max < 1 {
        return Err(bad("pool.max", "must be at least 1 agent"));
    }
    if pool.preallocated < 1 {
        return Err(bad("pool.preallocated", "must be at least 1 agent"));
    }
    if pool.preallocated > pool.max {
        return Err(bad(
            "pool.preallocated",
            format!(
                "{} preallocated agents are more than the maximum of {}",
                pool.preallocated, pool.max
            ),
        ));
    }
    if pool.max > MAX_AGENTS {
        return Err(bad(
            "pool.max",
            format!("at most {MAX_AGENTS} agents per process"),
        ));
    }
    Ok(())
}

/// Checks the stages and returns their spans.
fn spans<T: Copy>(
    stages: &[Stage<T>],
    check: impl Fn(&str, T) -> Result<f64, LoadError>,
) -> Result<Vec<StageSpan>, LoadError> {
    if stages.is_empty() {
        return Err(bad("stages", "is empty: give at least one stage"));
    }
    let mut t = Duration::ZERO;
    let mut out = Vec::with_capacity(stages.len());
    for (i, s) in stages.iter().enumerate() {
        check_duration(&format!("stages[{i}].duration"), s.duration)?;
        let target = check(&format!("stages[{i}].target"), s.target)?;
        let name = s.name.clone().unwrap_or_else(|| format!("stage {}", i + 1));
        if name.trim().is_empty() {
            return Err(bad(format!("stages[{i}].name"), "is empty"));
        }
        if out.iter().any(|o: &StageSpan| o.name == name) {
            return Err(bad(
                format!("stages[{i}].name"),
                format!("`{name}` names two stages"),
            ));
        }
        out.push(StageSpan {
            name,
            from: t,
            to: t + s.duration,
            target,
        });
        t += s.duration;
    }
    Ok(out)
}

impl Load {
    /// Checks the settings and works out the plan.
    pub(crate) fn resolve(&self) -> Result<Resolved, LoadError> {
        match &self.0 {
            Model::Users(u) => resolve_users(u),
            Model::RampingUsers(r) => {
                if r.start > MAX_AGENTS {
                    return Err(bad("start", format!("at most {MAX_AGENTS} users")));
                }
                let stages = spans(&r.stages, |field, users| {
                    if users > MAX_AGENTS {
                        return Err(bad(field, format!("at most {MAX_AGENTS} users")));
                    }
                    Ok(f64::from(users))
                })?;
                let segments: Vec<_> = r.stages.iter().map(|s| (s.duration, s.target)).collect();
                let users = schedule::user_intervals(r.start, &segments);
                if users.is_empty() {
                    return Err(bad("stages", "never has a user: every target is 0"));
                }
                let duration = stages.last().map(|s| s.to);
                let mut resolved = Resolved::new(
                    "ramping_users",
                    Plan::Closed(ClosedPlan {
                        users: users.clone(),
                        duration,
                        iterations: None,
                        shared_iterations: None,
                    }),
                );
                resolved.stages = stages;
                resolved.duration = duration;
                resolved.users = Some(users.len() as u32);
                resolved.start = Some(f64::from(r.start));
                Ok(resolved)
            }
            Model::ArrivalRate(a) => {
                check_rate("rate", a.rate.0, false)?;
                let duration = a
                    .duration
                    .ok_or_else(|| bad("duration", "is not set: an open model needs one"))?;
                check_duration("duration", duration)?;
                check_pool(a.pool)?;
                let mut resolved = Resolved::new(
                    "constant_rate",
                    Plan::Open(OpenPlan {
                        curve: Curve {
                            start: a.rate.0,
                            segments: vec![(duration, a.rate.0)],
                        },
                        pool: a.pool,
                        timer: a.timer,
                    }),
                );
                resolved.duration = Some(duration);
                resolved.rate = Some(a.rate.0);
                resolved.pool = Some(a.pool);
                Ok(resolved)
            }
            Model::RampingRate(r) => {
                check_rate("start", r.start.0, true)?;
                let stages = spans(&r.stages, |field, rate: Rate| {
                    check_rate(field, rate.0, true)?;
                    Ok(rate.0)
                })?;
                check_pool(r.pool)?;
                let curve = Curve {
                    start: r.start.0,
                    segments: r.stages.iter().map(|s| (s.duration, s.target.0)).collect(),
                };
                if curve.peak() == 0.0 {
                    return Err(bad("stages", "never starts an iteration: every rate is 0"));
                }
                let duration = curve.duration();
                let mut resolved = Resolved::new(
                    "ramping_rate",
                    Plan::Open(OpenPlan {
                        curve,
                        pool: r.pool,
                        timer: r.timer,
                    }),
                );
                resolved.stages = stages;
                resolved.duration = Some(duration);
                resolved.start = Some(r.start.0);
                resolved.pool = Some(r.pool);
                Ok(resolved)
            }
            Model::Capacity(c) => {
                check_rate("start", c.start.0, false)?;
                let step = c.step.unwrap_or(c.start).0;
                check_rate("step", step, false)?;
                let max = c
                    .max
                    .map_or((c.start.0 + 100.0 * step).min(MAX_RATE), |m| m.0);
                check_rate("max", max, false)?;
                if max < c.start.0 {
                    return Err(bad(
                        "max",
                        format!("{max}/s is below the start rate of {}/s", c.start.0),
                    ));
                }
                check_duration("hold", c.hold)?;
                if !(1..=MAX_REPEATS).contains(&c.repeats) {
                    return Err(bad(
                        "repeats",
                        format!("{} is not between 1 and {MAX_REPEATS}", c.repeats),
                    ));
                }
                check_pool(c.pool)?;
                let mut resolved = Resolved::new(
                    "capacity",
                    Plan::Capacity(CapacityPlan {
                        start: c.start.0,
                        step,
                        max,
                        hold: c.hold,
                        bisections: c.bisections,
                        repeats: c.repeats,
                        pool: c.pool,
                    }),
                );
                resolved.rate = Some(c.start.0);
                resolved.pool = Some(c.pool);
                Ok(resolved)
            }
        }
    }
}

fn resolve_users(u: &Users) -> Result<Resolved, LoadError> {
    if u.users == 0 {
        return Err(bad("users", "must be at least 1"));
    }
    if u.users > MAX_AGENTS {
        return Err(bad("users", format!("at most {MAX_AGENTS} users")));
    }
    if let Some(d) = u.duration {
        check_duration("duration", d)?;
        if u.ramp_up > d {
            return Err(bad(
                "ramp_up",
                format!("{:?} is longer than the duration ({d:?})", u.ramp_up),
            ));
        }
    }
    if u.iterations == Some(0) {
        return Err(bad("iterations", "must be above zero"));
    }
    if u.shared_iterations == Some(0) {
        return Err(bad("shared_iterations", "must be above zero"));
    }
    if u.iterations.is_some() && u.shared_iterations.is_some() {
        return Err(bad(
            "shared_iterations",
            "cannot be combined with per-user `iterations`: choose one",
        ));
    }
    if u.duration.is_none() && u.iterations.is_none() && u.shared_iterations.is_none() {
        return Err(bad(
            "duration",
            "is not set, nor are iterations: set `duration` and/or `iterations` so that the \
             run ends",
        ));
    }
    let users: Vec<_> = (0..u.users)
        .map(|i| {
            let offset = if u.users <= 1 {
                Duration::ZERO
            } else {
                u.ramp_up.mul_f64(f64::from(i) / f64::from(u.users))
            };
            vec![(offset, None)]
        })
        .collect();
    let kind = match (u.iterations, u.shared_iterations) {
        (Some(_), _) => "per_user_iterations",
        (_, Some(_)) => "shared_iterations",
        _ => "constant_users",
    };
    let mut resolved = Resolved::new(
        kind,
        Plan::Closed(ClosedPlan {
            users,
            duration: u.duration,
            iterations: u.iterations,
            shared_iterations: u.shared_iterations,
        }),
    );
    if let Some(d) = u.duration
        && !u.ramp_up.is_zero()
    {
        resolved.stages = vec![
            StageSpan {
                name: "ramp-up".into(),
                from: Duration::ZERO,
                to: u.ramp_up,
                target: f64::from(u.users),
            },
            StageSpan {
                name: "steady".into(),
                from: u.ramp_up,
                to: d,
                target: f64::from(u.users),
            },
        ];
    }
    resolved.duration = u.duration;
    resolved.users = Some(u.users);
    resolved.ramp_up = Some(u.ramp_up);
    resolved.iterations = u.iterations;
    resolved.shared_iterations = u.shared_iterations;
    Ok(resolved)
}
