//! The registry: every `#[scenario]` of the binary, collected through `inventory`, sorted by
//! name, duplicates rejected before anything runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::scenario::Scenario;

/// The future a scenario body returns. Not public API: used by generated code.
#[doc(hidden)]
pub type ScenarioFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'static>>;

/// What `#[scenario]` submits. Not public API: used by generated code.
#[doc(hidden)]
pub struct ScenarioRegistration {
    pub fn_name: &'static str,
    pub name: Option<&'static str>,
    pub module_path: &'static str,
    pub file: &'static str,
    pub line: u32,
    pub tags: &'static [&'static str],
    pub ignore: bool,
    pub timeout: Option<Duration>,
    pub run: fn(Scenario) -> ScenarioFuture,
}

inventory::collect!(ScenarioRegistration);

/// How long a scenario may run when it sets no `timeout`. (Default: 10 minutes.)
pub const DEFAULT_SCENARIO_TIMEOUT: Duration = Duration::from_secs(600);

/// A registered scenario, as the harness sees it.
#[derive(Clone)]
pub(crate) struct ScenarioInfo {
    /// `module::name` relative to the crate root, like libtest's test names.
    pub(crate) name: String,
    /// The full module path, crate included (the JUnit classname).
    pub(crate) module: &'static str,
    pub(crate) file: &'static str,
    pub(crate) line: u32,
    pub(crate) tags: &'static [&'static str],
    pub(crate) ignore: bool,
    pub(crate) timeout: Duration,
    pub(crate) run: std::sync::Arc<dyn Fn(Scenario) -> ScenarioFuture + Send + Sync>,
}

impl fmt::Debug for ScenarioInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScenarioInfo")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Two scenarios with one name.
#[derive(Debug, thiserror::Error)]
#[error(
    "two scenarios are named `{name}`: {first} and {second}; rename one with \
     `#[scenario(name = \"...\")]` or move it to another module"
)]
pub(crate) struct DuplicateScenario {
    name: String,
    first: String,
    second: String,
}

fn info(reg: &ScenarioRegistration) -> ScenarioInfo {
    let leaf = reg.name.unwrap_or(reg.fn_name);
    // Drop the crate name, as libtest does: `load::shop::checkout` is listed as `shop::checkout`.
    let name = match reg.module_path.split_once("::") {
        Some((_crate, rest)) => format!("{rest}::{leaf}"),
        None => leaf.to_owned(),
    };
    ScenarioInfo {
        name,
        module: reg.module_path,
        file: reg.file,
        line: reg.line,
        tags: reg.tags,
        ignore: reg.ignore,
        timeout: reg.timeout.unwrap_or(DEFAULT_SCENARIO_TIMEOUT),
        run: std::sync::Arc::new(reg.run),
    }
}

/// Every registered scenario, sorted by name.
pub(crate) fn scenarios() -> Result<Vec<ScenarioInfo>, DuplicateScenario> {
    from_registrations(inventory::iter::<ScenarioRegistration>())
}

fn from_registrations<'a>(
    regs: impl IntoIterator<Item = &'a ScenarioRegistration>,
) -> Result<Vec<ScenarioInfo>, DuplicateScenario> {
    let mut all: Vec<ScenarioInfo> = regs.into_iter().map(info).collect();
    all.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(a.file.cmp(b.file))
            .then(a.line.cmp(&b.line))
    });
    for pair in all.windows(2) {
        if pair[0].name == pair[1].name {
            return Err(DuplicateScenario {
                name: pair[0].name.clone(),
                first: format!("{}:{}", pair[0].file, pair[0].line),
                second: format!("{}:{}", pair[1].file, pair[1].line),
            });
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(_: Scenario) -> ScenarioFuture {
        Box::pin(async { Ok(()) })
    }

    fn reg(
        module_path: &'static str,
        fn_name: &'static str,
        name: Option<&'static str>,
        line: u32,
    ) -> ScenarioRegistration {
        ScenarioRegistration {
            fn_name,
            name,
            module_path,
            file: "tests/load.rs",
            line,
            tags: &[],
            ignore: false,
            timeout: None,
            run: body,
        }
    }

    #[test]
    fn names_are_relative_to_the_crate_and_sorted() {
        let regs = [
            reg("load::shop", "checkout", None, 3),
            reg("load", "browse", None, 1),
            reg("load", "x", Some("alpha"), 2),
        ];
        let all = from_registrations(&regs).unwrap();
        let names: Vec<_> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["alpha", "browse", "shop::checkout"]);
        assert_eq!(all[2].module, "load::shop");
        assert_eq!(all[0].timeout, DEFAULT_SCENARIO_TIMEOUT);
    }

    #[test]
    fn duplicates_are_an_error_naming_both_places() {
        let regs = [reg("load", "a", None, 10), reg("load", "b", Some("a"), 20)];
        let err = from_registrations(&regs).unwrap_err().to_string();
        assert!(err.contains("two scenarios are named `a`"), "{err}");
        assert!(
            err.contains("tests/load.rs:10") && err.contains("tests/load.rs:20"),
            "{err}"
        );
    }
}
