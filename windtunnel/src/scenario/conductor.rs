//! The conductor: `run()` resolves the scenario, starts its turbulence and proxies, drives the
//! executor for the load model (a capacity search step by step), ends the run when an
//! objective marked `abort_on_fail` is lost, and assembles the report from the metrics with
//! the objectives judged.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::DEFAULT_GRACEFUL_STOP;
use super::builder::Scenario;
use super::channel::{Bound, Mode, Started, turbulence_report};
use super::error::ScenarioError;
use crate::agent::AgentFn;
use crate::executor::{self, Executed, Run};
use crate::http::{DEFAULT_MAX_RESPONSE_BODY, DEFAULT_REQUEST_TIMEOUT, HttpClient, NamedClient};
use crate::load::{Plan, Resolved};
use crate::metrics::{MetricsSnapshot, Recorder, RecorderSettings};
use crate::objectives::{ABORT_GRACE, Objective, ObjectiveResult};
use crate::progress::Progress;
use crate::report::{AgentAssignment, ExactMetrics, GeneratorReport, PoolConfig, StageConfig};
use crate::report::{LoadConfig, LoadReport, ScenarioReport, SeriesReport, StopInfo, StopReason};
use crate::turbulence;

impl Scenario {
    /// The clients of the scenario's services, checked: names, targets (a URL or a catalog
    /// combination), headers.
    fn service_clients(
        &self,
        request_timeout: Duration,
    ) -> Result<Vec<NamedClient>, ScenarioError> {
        let mut clients: Vec<NamedClient> = Vec::new();
        for (name, service) in &self.services {
            let invalid = |reason: String| ScenarioError::InvalidService {
                name: self.ctx.name.clone(),
                service: name.clone(),
                reason,
            };
            if !crate::config::is_plain_name(name) {
                return Err(invalid(
                    "a service's name is letters, digits, `_` and `-`".into(),
                ));
            }
            if name == "target" {
                return Err(invalid(
                    "`target` is the scenario's target itself: name the service apart".into(),
                ));
            }
            if clients.iter().any(|c| &*c.name == name) {
                return Err(invalid("the scenario names it twice".into()));
            }
            let mut target = self.ctx.catalog.pick(&service.target).map_err(invalid)?;
            for (k, v) in &service.headers {
                if let Some(problem) = crate::config::header_problem(k, v) {
                    return Err(invalid(problem));
                }
                target.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
                target.headers.push((k.clone(), v.clone()));
            }
            target.insecure |= service.insecure;
            let url = reqwest::Url::parse(&target.url).map_err(|e| invalid(e.to_string()))?;
            let client =
                HttpClient::new(&url, service.timeout.unwrap_or(request_timeout), &target)?;
            clients.push(NamedClient {
                name: name.as_str().into(),
                client,
            });
        }
        Ok(clients)
    }

    /// Runs the load and evaluates the objectives.
    ///
    /// Returns the load's report whether or not the objectives held: the harness fails the
    /// scenario on a failed objective after the body returns, and the body may inspect the
    /// report meanwhile.
    ///
    /// # Errors
    ///
    /// A [`ScenarioError`] when the configuration cannot run (no agents, no target, a load
    /// setting out of range, an objective scoped to a stage that does not exist, ...), before
    /// any request is sent.
    pub async fn run(mut self) -> Result<LoadReport, ScenarioError> {
        self.apply_overrides();
        let (target, spec, load) = self.validate()?;
        let seed = match &self.ctx.overrides.seed {
            Some(s) => s.value,
            None => self.seed.unwrap_or(self.ctx.seed_fallback),
        };
        self.check_segment(&load)?;
        let segment = self.ctx.segment.value;
        let mut url = reqwest::Url::parse(&target.url).expect("validated above");
        let (mut plan, proxy) = self.resolve_turbulence(&load, &mut url).await?;
        // A fault's budget is cut like the load, so that the segments together inject it at
        // most as often as one process would.
        for (_, fault) in &mut plan.rules {
            fault.count = fault.count.map(|n| segment.share(n));
        }
        let replaying = self.replaying(&plan, seed)?;
        let (objectives, windows) = self.resolve_windows(&load, &plan)?;
        let request_timeout = self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        let mut client = HttpClient::new(&url, request_timeout, &target)?;
        client.max_body = self.max_response_body.unwrap_or(DEFAULT_MAX_RESPONSE_BODY);
        let services = self.service_clients(request_timeout)?;
        *self.ctx.settings.lock().unwrap_or_else(|e| e.into_inner()) =
            self.settings(&target, seed, &spec, &plan);
        if self.ctx.mode == Mode::CheckOnly {
            return Err(ScenarioError::CheckOnly(self.ctx.name.clone()));
        }
        let target = target.url;
        let mut config = describe_load(
            &target,
            &load,
            self.graceful_stop.unwrap_or(DEFAULT_GRACEFUL_STOP),
            request_timeout,
            &self.agents,
        );
        config.segment = (!segment.is_whole()).then(|| segment.to_string());
        let start = tokio::time::Instant::now();
        let origin = SystemTime::now();
        let settings = RecorderSettings {
            origin: start,
            intended: !matches!(load.plan, Plan::Closed(_)),
            windows,
            services: if services.is_empty() {
                Vec::new()
            } else {
                std::iter::once((
                    "target".to_owned(),
                    crate::redact::url(&target).into_owned(),
                ))
                .chain(services.iter().map(|s| {
                    (
                        s.name.to_string(),
                        crate::redact::url(s.client.base_url()).into_owned(),
                    )
                }))
                .collect()
            },
        };
        let recorder = Recorder::with(settings.clone());
        let turbulence = (!plan.phases.is_empty()).then(|| {
            let t = turbulence::Turbulence::new(Arc::new(plan), start, seed).in_segment(segment);
            Arc::new(match replaying {
                Some(tape) => t.replaying(tape),
                None => t,
            })
        });
        client.services = services.into();
        // Also with toxics alone: the client counts each phase's requests and failures.
        let client = match &turbulence {
            Some(t) => client.with_turbulence(Arc::clone(t)),
            None => client,
        };
        // Toxics apply while the load runs: until these guards are dropped.
        let _attached: Vec<_> = turbulence
            .iter()
            .flat_map(|t| {
                t.plan
                    .proxies
                    .iter()
                    .enumerate()
                    .map(|(i, p)| p.attach(Arc::clone(t), i))
            })
            .collect();
        // Kept alive for the whole load, also when no toxic names it.
        let _proxy = proxy;
        // `run` consumes the only `Scenario` a body gets, so a load starts once per context.
        self.ctx.lock().started = Some(Started {
            config: config.clone(),
            recorder: recorder.clone(),
            start: Instant::now(),
            origin,
            objectives: objectives.clone(),
            seed,
            turbulence: turbulence.clone(),
        });
        crate::exporter::watch(&self.ctx.name, segment, &recorder);
        tracing::info!(scenario = %self.ctx.name, seed, target = %crate::redact::url(&target), model = load.kind, "load starting");
        let job = Job {
            scenario: &self,
            target: &target,
            seed,
            client,
            start,
            origin,
            objectives: &objectives,
        };
        let planned = config
            .duration_s
            .or_else(|| config.stages.last().map(|s| s.to_s))
            .map(Duration::from_secs_f64);
        // A capacity search records each step apart: it has no single line to show.
        let progress = match &load.plan {
            Plan::Capacity(_) => None,
            _ if !self.ctx.progress => None,
            _ => Progress::start(&self.ctx.name, &recorder, start, planned),
        };
        let mut report = match &load.plan {
            Plan::Closed(plan) => {
                let judge = job.judge(&recorder);
                let run =
                    executor::run_closed(plan, job.run(&recorder, judge.as_deref(), job.start))
                        .await;
                job.report(config, run, &recorder.snapshot())
            }
            Plan::Open(plan) => {
                let judge = job.judge(&recorder);
                let run =
                    executor::run_open(plan, job.run(&recorder, judge.as_deref(), job.start)).await;
                job.report(config, run, &recorder.snapshot())
            }
            Plan::Capacity(plan) => {
                // A step whose measurement the verdict would doubt (the generator's CPU, its
                // start lateness) says nothing about the SUT.
                let generator_bound = |step: &executor::Step, results: &[ObjectiveResult]| {
                    let mut judged = LoadReport::build(
                        config.clone(),
                        StopInfo::new(StopReason::Duration, None),
                        step.elapsed,
                        0,
                        &step.metrics,
                        results.to_vec(),
                    );
                    judged.generator = Some(GeneratorReport::of(&step.cpu));
                    ScenarioReport::doubts_of(Some(&judged))
                        .into_iter()
                        .next()
                        .map(|d| d.text)
                };
                let searched = executor::run_capacity(
                    plan,
                    &settings,
                    &objectives,
                    job.start,
                    generator_bound,
                    |recorder| {
                        self.ctx.set_recorder(recorder);
                        job.run(recorder, None, tokio::time::Instant::now())
                    },
                )
                .await;
                // The tables are the shown step's (the knee's); the series spans the search.
                let mut report = LoadReport::build(
                    config,
                    searched.stop,
                    searched.shown.elapsed,
                    searched.cancelled,
                    &searched.shown.metrics,
                    searched.objectives,
                );
                report.elapsed_s = job.start.elapsed().as_secs_f64();
                report.series = SeriesReport::of(&searched.total.series, true);
                report.generator = Some(GeneratorReport::of(&searched.shown.cpu));
                report.capacity = Some(searched.capacity);
                report
            }
        };
        drop(progress);
        recorder.finished();
        if let Some(t) = &turbulence {
            let elapsed = Duration::from_secs_f64(report.elapsed_s);
            report.turbulence = Some(turbulence_report(t, &self.ctx.name, &report, elapsed));
        }
        tracing::info!(scenario = %self.ctx.name, requests = report.total.count, "load finished");
        self.ctx.lock().finished = Some(report.clone());
        Ok(report)
    }
}

/// A validated scenario on its way through the executor.
struct Job<'a> {
    scenario: &'a Scenario,
    target: &'a str,
    seed: u64,
    client: HttpClient,
    start: tokio::time::Instant,
    origin: SystemTime,
    objectives: &'a [Bound],
}

type BoxedJudge<'a> = Box<dyn Fn(Duration) -> Option<String> + Send + Sync + 'a>;

impl<'a> Job<'a> {
    /// The executor's inputs for a run that starts at `start` (the recorder's origin, or a
    /// capacity step's own start).
    fn run<'r>(
        &'r self,
        recorder: &Recorder,
        judge: Option<executor::Judge<'r>>,
        start: tokio::time::Instant,
    ) -> Run<'r> {
        Run {
            agents: &self.scenario.agents,
            seed: self.seed,
            client: self.client.clone(),
            recorder: recorder.clone(),
            interrupt: Arc::clone(&self.scenario.ctx.interrupt),
            target: self.target,
            start,
            graceful_stop: self.scenario.graceful_stop.unwrap_or(DEFAULT_GRACEFUL_STOP),
            judge,
            segment: self.scenario.ctx.segment.value,
        }
    }

    /// Ends the run when an objective marked `abort_on_fail` is lost: one with a window once its
    /// window is over, any other on the data so far from [`ABORT_GRACE`] on.
    fn judge(&self, recorder: &Recorder) -> Option<BoxedJudge<'a>> {
        let objectives = self.objectives;
        // A segment sees part of the load: only the merge of all segments judges objectives.
        if !self.scenario.ctx.segment.value.is_whole()
            || !objectives.iter().any(|(o, _)| o.aborts())
        {
            return None;
        }
        let recorder = recorder.clone();
        Some(Box::new(move |t: Duration| {
            let mut snapshot: Option<MetricsSnapshot> = None;
            for (o, span) in objectives.iter().filter(|(o, _)| o.aborts()) {
                let due = match span {
                    // A recovery has no end: judge it on the data so far, as a whole run.
                    Some(w) if w.end() == Duration::MAX => t >= w.set.start() + ABORT_GRACE,
                    Some(w) => t >= w.end(),
                    None => t >= ABORT_GRACE,
                };
                if !due {
                    continue;
                }
                let snap = snapshot.get_or_insert_with(|| recorder.snapshot());
                let result = o.evaluate(snap, t, span.as_ref());
                // A whole-run objective with nothing measured yet is not lost yet.
                if !result.passed && (span.is_some() || result.actual.is_some()) {
                    let actual = match result.actual {
                        Some(v) => format!("{} {}", crate::text::trim_float(v), result.unit),
                        None => result.detail.unwrap_or_default(),
                    };
                    return Some(format!(
                        "objective lost at {:.1} s: {} (actual: {actual})",
                        t.as_secs_f64(),
                        result.objective
                    ));
                }
            }
            None
        }))
    }

    fn report(&self, config: LoadConfig, run: Executed, metrics: &MetricsSnapshot) -> LoadReport {
        let mut report = LoadReport::build(
            config,
            run.stop,
            run.elapsed,
            run.cancelled,
            metrics,
            Objective::evaluate_all(self.objectives, metrics, run.elapsed),
        );
        report.generator = Some(GeneratorReport::of(&run.cpu));
        report.exact = Some(ExactMetrics::of(self.origin, metrics, self.objectives));
        report
    }
}

/// What the report says of the load a scenario runs: its resolved model, where it goes, its
/// limits, and how its users are shared among its agents.
fn describe_load(
    target: &str,
    load: &Resolved,
    graceful_stop: Duration,
    request_timeout: Duration,
    agents: &[AgentFn],
) -> LoadConfig {
    let assignment = load
        .users
        .map(|n| crate::executor::assign(agents, n as usize));
    LoadConfig {
        model: load.kind.into(),
        open: load.rate.is_some() || load.pool.is_some(),
        // Reports are shared: no secret of the query reaches them.
        target: crate::redact::url(target).into_owned(),
        users: load.users,
        ramp_up_s: load.ramp_up.map(|d| d.as_secs_f64()),
        duration_s: load.duration.map(|d| d.as_secs_f64()),
        iterations: load.iterations,
        shared_iterations: load.shared_iterations,
        rate: load.rate,
        start: load.start,
        stages: load
            .stages
            .iter()
            .map(|s| StageConfig {
                name: s.name.clone(),
                from_s: s.from.as_secs_f64(),
                to_s: s.to.as_secs_f64(),
                target: s.target,
            })
            .collect(),
        pool: load.pool.map(|p| PoolConfig {
            preallocated: p.preallocated,
            max: p.max,
        }),
        graceful_stop_s: graceful_stop.as_secs_f64(),
        request_timeout_s: request_timeout.as_secs_f64(),
        agents: agents
            .iter()
            .enumerate()
            .map(|(i, a)| AgentAssignment {
                name: a.name().to_owned(),
                weight: a.weight(),
                users: assignment
                    .as_ref()
                    .map(|asg| asg.iter().filter(|&&x| x == i).count() as u32),
            })
            .collect(),
        segment: None,
    }
}
