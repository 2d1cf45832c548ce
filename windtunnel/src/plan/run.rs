//! `windtunnel run PLAN`: a plan read into one scenario and handed to the harness, which runs
//! it with windtunnel's flags, settings, reports and exit codes.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::Plan;
use crate::registry::ScenarioInfo;

/// Runs the plan at `path` with windtunnel's flags `args`; public as [`crate::run_plan`].
pub(crate) fn run(path: &Path, args: Vec<OsString>) -> ExitCode {
    crate::harness::run_file(path, args, |config| {
        let plan = Arc::new(Plan::read(path, &config.catalog).map_err(|e| e.to_string())?);
        if plan.target.is_none() && config.for_scenario(&plan.name).target.is_none() {
            return Err(format!(
                "{}: the plan has no `target`: add `target = \"http://...\"` to it, or give \
                 `--target URL` (or a catalog combination from windtunnel.toml)",
                path.display()
            ));
        }
        // A plan runs once per process: its path lives as long as the run.
        let file: &'static str = Box::leak(path.display().to_string().into_boxed_str());
        let body = Arc::clone(&plan);
        Ok(ScenarioInfo {
            name: plan.name.clone(),
            module: "plan",
            file,
            line: 1,
            tags: &[],
            ignore: false,
            timeout: plan.timeout,
            run: Arc::new(move |s| {
                let s = body.scenario(s);
                Box::pin(async move {
                    s.run().await?;
                    Ok(())
                })
            }),
        })
    })
}
