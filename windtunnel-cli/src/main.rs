//! `windtunnel`: what happens outside a test run. Runs a declarative plan, renders a stored
//! run, lists runs, gathers findings across runs, compares two runs for CI, replays a run,
//! merges the segments of a run, and serves the proxy with Toxiproxy's API.
//!
//! Exit codes: 0 fine, 1 a regression (`compare`), a replay that differs (`replay`) or a
//! merged run that failed (`merge`), 2 bad input (a missing, malformed or newer report, an unknown run, bad flags, a bad plan);
//! `run` exits as a test binary does: 0 passed, 101 failed, 2 bad input, 130 interrupted.

/// Prints a line on standard output. A closed pipe (`windtunnel runs | head`) ends the program
/// quietly, as other command-line tools do, instead of panicking.
macro_rules! say {
    ($($t:tt)*) => {
        $crate::say_line(format_args!($($t)*))
    };
}

mod aggregate;
mod compare;
mod merge;
mod proxy;
mod replay;
mod tapes;
mod trend;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use windtunnel::report::{self, Outcome, Report};

#[derive(Parser)]
#[command(
    name = "windtunnel",
    version,
    about = "Run declarative load plans; render, compare and replay windtunnel runs",
    long_about = "Run declarative load plans; render, compare and replay windtunnel runs; list \
        findings across runs.\n\n\
        A RUN is a report.json, a run directory, a run id under the report root, or `latest`.\n\
        Exit codes: 0 fine, 1 a regression, a replay that differs or a failed merged run, 2 bad \
        input."
)]
struct Cli {
    /// The report root (default: $WINDTUNNEL_OUT, else $CARGO_TARGET_DIR/windtunnel, else
    /// target/windtunnel).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a declarative plan (TOML or JSON: target, load, endpoints or flows, objectives)
    /// with the engine and reports of a `#[scenario]`. Takes windtunnel's flags after the plan
    /// (`--seed`, `--target`, `--users`, `--duration`, `--check-config`, ...; `--help` lists
    /// them); the settings file windtunnel.toml in the current directory applies.
    Run {
        /// The plan file.
        plan: PathBuf,
        /// windtunnel's flags.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "FLAGS"
        )]
        flags: Vec<std::ffi::OsString>,
    },
    /// Prints a run's summary and writes its report.html again from its report.json.
    Report {
        /// The run.
        run: String,
        /// Where to write the HTML (default: report.html beside the report.json).
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Print a JSON object instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Lists the stored runs, newest first; with `--trend`, one scenario's metric over them,
    /// oldest first, with significant shifts in its level marked.
    Runs {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Delete the oldest runs so that N remain (0 deletes nothing).
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Follow this scenario's metric over the stored runs.
        #[arg(long, value_name = "SCENARIO")]
        trend: Option<String>,
        /// The metric `--trend` follows.
        #[arg(long, value_enum, default_value = "p99", requires = "trend")]
        metric: trend::Metric,
        /// The request name `--trend` follows (default: all requests).
        #[arg(long, value_name = "NAME", default_value = "*", requires = "trend")]
        request: String,
    },
    /// Gathers the findings of many runs into one table, grouped by scenario, type and severity.
    Findings {
        /// Runs (report.json files or run directories) or report roots (every run under them).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Judges a run against one or more baseline runs: per scenario and request name, p50,
    /// p95, p99, error rate and throughput, each change an estimate with an interval from the
    /// noise the runs show, plus every objective held in the baseline but lost. A significant
    /// change beyond the tolerance is a regression: exit 1.
    Compare {
        /// The baseline run(s), then the run under test (the last one).
        #[arg(required = true, value_name = "RUN")]
        runs: Vec<String>,
        /// Another baseline run (repeat for several: their spread is then part of the noise).
        #[arg(long, value_name = "RUN")]
        baseline: Vec<String>,
        /// Also compare against the N newest stored runs before NEW that ran its scenarios.
        #[arg(long, value_name = "N")]
        last: Option<usize>,
        /// How much slower p50/p95/p99 may get: `10%` or `0.1`...
        #[arg(long, default_value = "10%", value_name = "SHARE", value_parser = compare::parse_share)]
        latency_tolerance: f64,
        /// ...or by this much, whichever is more (fast requests are noisy).
        #[arg(long, default_value = "1ms", value_name = "DURATION", value_parser = compare::parse_ms)]
        latency_slack: f64,
        /// How much the error rate may rise: `1%` (one percentage point) or `0.01`.
        #[arg(long, default_value = "1%", value_name = "SHARE", value_parser = compare::parse_share)]
        error_rate_tolerance: f64,
        /// How much throughput may drop: `10%` or `0.1`.
        #[arg(long, default_value = "10%", value_name = "SHARE", value_parser = compare::parse_share)]
        throughput_tolerance: f64,
        /// The confidence that two runs of identical code show no significant change in any
        /// line: `95%` or `0.95`.
        #[arg(long, default_value = "95%", value_name = "SHARE", value_parser = compare::parse_share)]
        confidence: f64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write the result as GitHub-flavoured Markdown to FILE (`-`: standard output,
        /// instead of the table). With GITHUB_STEP_SUMMARY set, it is appended there too.
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
    },
    /// Merges the reports of the segments of a run (run with `--segment i/n`) into one run:
    /// histograms merged exactly, series aligned by wall clock, objectives judged on the
    /// merged data; writes report.json, junit.xml and report.html. Exits 1 when a scenario
    /// failed.
    Merge {
        /// The segments' runs (report.json files, run directories or run ids), one per
        /// segment.
        #[arg(required = true, value_name = "RUN")]
        runs: Vec<String>,
        /// The directory of the merged run (default: runs/merged-<time> under the report
        /// root).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Serves windtunnel's TCP proxy with Toxiproxy's HTTP API, so that Toxiproxy clients drive
    /// it unchanged; adds a seed for toxicity and the fault tape (`GET /windtunnel/tape`). Runs
    /// until Ctrl-C or SIGTERM.
    Proxy {
        /// Where the API listens (Toxiproxy's default port).
        #[arg(long, default_value = "127.0.0.1:8474", value_name = "ADDR")]
        listen: String,
        /// The seed toxicity is drawn from, per connection.
        #[arg(long, default_value_t = 0, value_name = "N")]
        seed: u64,
        /// Allow the API and proxies on addresses other than loopback.
        #[arg(long)]
        allow_non_loopback: bool,
        /// Write the fault tape of every proxy to FILE when stopped.
        #[arg(long, value_name = "FILE")]
        tape: Option<PathBuf>,
    },
    /// Runs a stored run's scenarios again with their seeds and configuration (the recorded
    /// replay commands, run from the current directory) and says where the new run differs.
    Replay {
        /// The run.
        run: String,
        /// Replay only this scenario (repeat for several).
        #[arg(long, value_name = "NAME")]
        scenario: Vec<String>,
        /// Print the commands without running them.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Run { plan, flags } = cli.command {
        let mut args = Vec::new();
        if let Some(root) = cli.root {
            args.extend(["--out".into(), root.into_os_string()]);
        }
        args.extend(flags);
        return Ok(windtunnel::run_plan(&plan, args));
    }
    let root = cli.root.unwrap_or_else(default_root);
    match cli.command {
        Command::Run { .. } => unreachable!("handled above"),
        Command::Report { run, html, json } => show(&root, &run, html, json),
        Command::Runs {
            json,
            keep,
            trend: Some(scenario),
            metric,
            request,
        } => {
            if keep.is_some() {
                bail!("--trend reads the runs; prune them with `--keep` separately");
            }
            trend::run(&root, &scenario, metric, &request, json)
        }
        Command::Runs { json, keep, .. } => runs(&root, json, keep),
        Command::Findings { dirs, json } => aggregate::run(&dirs, json),
        Command::Merge { runs, out } => merge::run(&root, &runs, out),
        Command::Compare {
            runs,
            baseline,
            last,
            latency_tolerance,
            latency_slack,
            error_rate_tolerance,
            throughput_tolerance,
            confidence,
            json,
            markdown,
        } => compare::run(
            &root,
            compare::Args {
                runs,
                baseline,
                last,
                tolerance: windtunnel::compare::Tolerance {
                    latency: latency_tolerance,
                    latency_slack_ms: latency_slack,
                    error_rate: error_rate_tolerance,
                    throughput: throughput_tolerance,
                },
                confidence,
                json,
                markdown,
            },
        ),
        Command::Proxy {
            listen,
            seed,
            allow_non_loopback,
            tape,
        } => proxy::run(proxy::Args {
            listen,
            seed,
            allow_non_loopback,
            tape,
        }),
        Command::Replay {
            run,
            scenario,
            dry_run,
        } => {
            let (path, report) = load(&root, &run)?;
            replay::run(&root, &path, &report, &scenario, dry_run)
        }
    }
}

/// The report root when `--root` is not given.
fn default_root() -> PathBuf {
    if let Some(out) = std::env::var_os("WINDTUNNEL_OUT").filter(|v| !v.is_empty()) {
        return PathBuf::from(out);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(target).join("windtunnel");
    }
    PathBuf::from("target").join("windtunnel")
}

/// The report.json of `run`: a file, a run directory, `latest`, or a run id under `root`.
fn locate(root: &Path, run: &str) -> Result<PathBuf> {
    let as_path = Path::new(run);
    if as_path.is_file() {
        return Ok(as_path.to_owned());
    }
    if as_path.join("report.json").is_file() {
        return Ok(as_path.join("report.json"));
    }
    let by_id = if run == "latest" {
        root.join("latest").join("report.json")
    } else {
        root.join("runs").join(run).join("report.json")
    };
    if by_id.is_file() {
        return Ok(by_id);
    }
    if as_path.is_dir() {
        bail!(
            "`{run}` is a directory without a report.json (for a report root, pass its run \
             directories or `--root {run} latest`)"
        );
    }
    bail!(
        "no run `{run}`: not a report.json, a run directory, or a run id under `{}` \
         (`windtunnel runs` lists them)",
        root.display()
    )
}

/// Finds and reads `run`.
fn load(root: &Path, run: &str) -> Result<(PathBuf, Report)> {
    let path = locate(root, run)?;
    let report = report::read_report(&path)?;
    Ok((path, report))
}

fn show(root: &Path, run: &str, html: Option<PathBuf>, json: bool) -> Result<ExitCode> {
    let (path, report) = load(root, run)?;
    let html_path = html.unwrap_or_else(|| path.with_file_name("report.html"));
    report::write_atomically(&html_path, report::to_html(&report).as_bytes())?;
    if json {
        let scenarios: Vec<_> = report
            .scenarios
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "outcome": s.outcome,
                    "seed": s.seed,
                    "findings": s.findings,
                })
            })
            .collect();
        let out = serde_json::json!({
            "run_id": report.run_id,
            "report": path,
            "html": html_path,
            "complete": report.complete,
            "scenarios": scenarios,
        });
        say!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for s in report
            .scenarios
            .iter()
            .filter(|s| s.outcome != Outcome::Skipped)
        {
            say!("{}\n", report::scenario_summary(s));
        }
        if !report.complete {
            say!("(the run is incomplete: interrupted, or still running)");
        }
        say!("wrote {}", html_path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn runs(root: &Path, json: bool, keep: Option<usize>) -> Result<ExitCode> {
    if let Some(keep) = keep {
        let deleted = report::prune_runs(root, keep, None)?;
        for d in &deleted {
            eprintln!("deleted {}", d.display());
        }
    }
    let runs = report::list_runs(root)
        .with_context(|| format!("cannot list the runs under `{}`", root.display()))?;
    if json {
        let rows: Vec<_> = runs
            .iter()
            .map(|r| match &r.report {
                Ok(rep) => serde_json::json!({
                    "id": rep.run_id,
                    "dir": r.dir,
                    "started_at": rep.started_at,
                    "complete": rep.complete,
                    "outcome": outcome_of(rep),
                    "scenarios": rep.scenarios.iter().map(|s| serde_json::json!({
                        "name": s.name, "outcome": s.outcome, "seed": s.seed,
                    })).collect::<Vec<_>>(),
                }),
                Err(e) => serde_json::json!({ "dir": r.dir, "error": format!("{e:#}") }),
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        say!("no runs under `{}`", root.display());
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{:<28} {:<21} {:>9}  {:<10} seeds",
        "run",
        "started",
        "scenarios",
        "outcome"
    );
    for r in &runs {
        match &r.report {
            Ok(rep) => {
                let mut seeds: Vec<String> =
                    rep.scenarios.iter().map(|s| s.seed.to_string()).collect();
                seeds.dedup();
                let seeds = if seeds.len() > 3 {
                    format!("{}, … ({} in all)", seeds[..3].join(", "), seeds.len())
                } else {
                    seeds.join(", ")
                };
                say!(
                    "{:<28} {:<21} {:>9}  {:<10} {seeds}",
                    rep.run_id,
                    rep.started_at.get(..19).unwrap_or(&rep.started_at),
                    rep.scenarios.len(),
                    outcome_of(rep),
                );
            }
            Err(e) => say!(
                "{:<28} unreadable: {e}",
                r.dir.file_name().unwrap_or_default().to_string_lossy()
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A run's outcome in a word: `incomplete`, `failed` (any scenario failed), `inconclusive`
/// (none failed, one could not be measured) or `passed`.
fn outcome_of(r: &Report) -> &'static str {
    if !r.complete {
        "incomplete"
    } else if r.scenarios.iter().any(|s| s.outcome == Outcome::Failed) {
        "failed"
    } else if r
        .scenarios
        .iter()
        .any(|s| s.outcome == Outcome::Inconclusive)
    {
        "inconclusive"
    } else {
        "passed"
    }
}

fn say_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    // Reports are untrusted: nothing in them may reach the terminal as a control sequence.
    let line = line.to_string();
    let line = windtunnel::report::untrusted::for_terminal(&line);
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}
