//! The targets catalog: apps × environments × regions, each combination that exists with its
//! base URL, headers and TLS settings. A target is picked with `app/env/region` (the app may
//! be left out when the catalog has one); a combination the catalog does not list is an
//! error, never a fallback.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::file::{Document, FileError, KeyPath, did_you_mean};

/// Headers and TLS settings, at app, environment or region level; the nearer level wins,
/// header by header.
#[derive(Clone, Copy, Debug)]
struct Common<'a> {
    headers: &'a BTreeMap<String, String>,
    tls: Option<&'a TlsSpec>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSpec {
    /// Accept any certificate (self-signed test environments). Dangerous: off by default.
    insecure: Option<bool>,
    /// A PEM file of extra root certificates, relative to the settings file.
    ca: Option<PathBuf>,
}

/// One app of the catalog.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppSpec {
    #[serde(default)]
    headers: BTreeMap<String, String>,
    tls: Option<TlsSpec>,
    environments: BTreeMap<String, EnvSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvSpec {
    #[serde(default)]
    headers: BTreeMap<String, String>,
    tls: Option<TlsSpec>,
    /// The base URL, for an environment without regions.
    url: Option<String>,
    #[serde(default)]
    regions: BTreeMap<String, RegionSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionSpec {
    #[serde(default)]
    headers: BTreeMap<String, String>,
    tls: Option<TlsSpec>,
    url: String,
}

/// Where the load goes: a base URL with the headers and TLS settings that come with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Target {
    /// The base URL.
    pub(crate) url: String,
    /// `app/env[/region]` when the target came from the catalog.
    pub(crate) selection: Option<String>,
    /// Headers sent with every request.
    pub(crate) headers: Vec<(String, String)>,
    /// Accept any TLS certificate.
    pub(crate) insecure: bool,
    /// Extra root certificates (PEM), read when the settings were checked.
    pub(crate) ca: Option<CaFile>,
}

/// A PEM file of root certificates and its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CaFile {
    pub(crate) path: PathBuf,
    pub(crate) pem: Vec<u8>,
}

impl Target {
    /// A plain URL, checked.
    pub(crate) fn url(url: &str) -> Result<Self, &'static str> {
        super::check_target(url).map(|url| Target {
            url,
            ..Target::default()
        })
    }

    /// How the target is shown: `shop/staging/eu (https://...)` or the URL.
    /// Secrets in its query are redacted; it holds no credentials ([`check_target`]).
    ///
    /// [`check_target`]: super::check_target
    pub(crate) fn describe(&self) -> String {
        let url = crate::redact::url(&self.url);
        match &self.selection {
            Some(s) => format!("{s} ({url})"),
            None => url.into_owned(),
        }
    }
}

/// The catalog, checked: every URL parses, every CA file reads, every environment has a URL
/// or regions (not both).
#[derive(Clone, Debug, Default)]
pub(crate) struct Catalog {
    /// `app → env → region (or "" for none) → target`.
    apps: BTreeMap<String, BTreeMap<String, BTreeMap<String, Target>>>,
}

macro_rules! common {
    ($spec:expr) => {
        Common {
            headers: &$spec.headers,
            tls: $spec.tls.as_ref(),
        }
    };
}

impl Catalog {
    /// Checks the catalog read from `doc` at `key` (`targets`).
    pub(crate) fn build(
        doc: &Document,
        key: &KeyPath,
        apps: &BTreeMap<String, AppSpec>,
    ) -> Result<Self, FileError> {
        let mut catalog = Catalog::default();
        for (app_name, app) in apps {
            let app_key = key.key(app_name);
            check_name(doc, &app_key, app_name)?;
            if app.environments.is_empty() {
                return Err(doc.error(
                    &app_key.key("environments"),
                    "an app needs at least one environment, like `[targets.shop.environments.\
                     staging] url = \"https://...\"`",
                ));
            }
            let mut envs = BTreeMap::new();
            for (env_name, env) in &app.environments {
                let env_key = app_key.key("environments").key(env_name);
                check_name(doc, &env_key, env_name)?;
                let mut regions = BTreeMap::new();
                match (&env.url, env.regions.is_empty()) {
                    (Some(_), false) => {
                        return Err(doc.error(
                            &env_key.key("url"),
                            "an environment has a `url` or `regions`, not both: move the URL \
                             into a region",
                        ));
                    }
                    (None, true) => {
                        return Err(doc.error(
                            &env_key,
                            "an environment needs a `url` or `regions` with a `url` each",
                        ));
                    }
                    (Some(url), true) => {
                        let t = target(
                            doc,
                            &env_key.key("url"),
                            url,
                            &[common!(app), common!(env)],
                            format!("{app_name}/{env_name}"),
                        )?;
                        regions.insert(String::new(), t);
                    }
                    (None, false) => {
                        for (region_name, region) in &env.regions {
                            let region_key = env_key.key("regions").key(region_name);
                            check_name(doc, &region_key, region_name)?;
                            let t = target(
                                doc,
                                &region_key.key("url"),
                                &region.url,
                                &[common!(app), common!(env), common!(region)],
                                format!("{app_name}/{env_name}/{region_name}"),
                            )?;
                            regions.insert(region_name.clone(), t);
                        }
                    }
                }
                envs.insert(env_name.clone(), regions);
            }
            catalog.apps.insert(app_name.clone(), envs);
        }
        Ok(catalog)
    }

    /// Whether the catalog lists nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    /// The target that `text` picks: a URL, or `app/env[/region]` from the catalog.
    pub(crate) fn pick(&self, text: &str) -> Result<Target, String> {
        let text = text.trim();
        if text.contains("://") {
            return Target::url(text).map_err(str::to_owned);
        }
        if self.is_empty() {
            return Err(format!(
                "`{text}` is not a URL, and there is no targets catalog to pick it from: give an \
                 absolute http(s) URL, like `http://127.0.0.1:8080`, or add `[targets]` to \
                 windtunnel.toml"
            ));
        }
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(format!(
                "`{text}` is neither a URL nor `app/environment/region`"
            ));
        }
        let single_app = (self.apps.len() == 1)
            .then(|| self.apps.keys().next())
            .flatten();
        let (app, rest) = match self.apps.get(parts[0]) {
            Some(_) => (parts[0], &parts[1..]),
            None if parts.len() < 3 && single_app.is_some() => (
                single_app.map(String::as_str).unwrap_or_default(),
                &parts[..],
            ),
            None => {
                return Err(unknown("app", parts[0], self.apps.keys(), ""));
            }
        };
        let envs = &self.apps[app];
        let Some(env_name) = rest.first() else {
            return Err(format!(
                "`{text}` names the app `{app}` only: add an environment ({})",
                names(envs.keys())
            ));
        };
        let Some(regions) = envs.get(*env_name) else {
            return Err(unknown(
                "environment",
                env_name,
                envs.keys(),
                &format!(" of app `{app}`"),
            ));
        };
        let has_regions = !regions.contains_key("");
        match (rest.get(1), has_regions) {
            (None, false) => Ok(regions[""].clone()),
            (None, true) => Err(format!(
                "`{app}/{env_name}` has regions ({}): pick one, like `{app}/{env_name}/{}`",
                names(regions.keys()),
                regions
                    .keys()
                    .next()
                    .map(String::as_str)
                    .unwrap_or_default()
            )),
            (Some(region), false) => Err(format!(
                "`{app}/{env_name}` has no regions, so `{region}` does not exist: use \
                 `{app}/{env_name}`"
            )),
            (Some(region), true) => regions.get(*region).cloned().ok_or_else(|| {
                let mut e = unknown(
                    "region",
                    region,
                    regions.keys(),
                    &format!(" in `{app}/{env_name}`"),
                );
                e.push_str(&format!(
                    " (`{app}/{env_name}/{region}` is not a combination the catalog lists)"
                ));
                e
            }),
        }
    }

    /// Every combination the catalog lists, as `app/env[/region]`.
    pub(crate) fn combinations(&self) -> Vec<String> {
        self.apps
            .values()
            .flat_map(|envs| envs.values())
            .flat_map(|regions| regions.values())
            .filter_map(|t| t.selection.clone())
            .collect()
    }
}

fn names<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    keys.map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown<'a>(
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a String> + Clone,
    context: &str,
) -> String {
    let mut s = format!("no {what} `{name}`{context}");
    if let Some(near) = did_you_mean(name, known.clone().map(String::as_str)) {
        s.push_str(&format!(" (did you mean `{near}`?)"));
    }
    s.push_str(&format!("; there are: {}", names(known)));
    s
}

fn check_name(doc: &Document, key: &KeyPath, name: &str) -> Result<(), FileError> {
    if name.is_empty() || name.contains('/') || name.contains("://") {
        return Err(doc.error(key, "a catalog name must not be empty or contain `/`"));
    }
    Ok(())
}

/// One combination: its URL checked, its headers and TLS merged from the outer levels in.
fn target(
    doc: &Document,
    url_key: &KeyPath,
    url: &str,
    levels: &[Common<'_>],
    selection: String,
) -> Result<Target, FileError> {
    let mut t = Target::url(url).map_err(|e| doc.error(url_key, e))?;
    t.selection = Some(selection);
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut ca: Option<PathBuf> = None;
    for level in levels {
        for (k, v) in level.headers {
            headers.insert(k.to_ascii_lowercase(), v.clone());
        }
        if let Some(tls) = level.tls {
            if let Some(i) = tls.insecure {
                t.insecure = i;
            }
            if let Some(c) = &tls.ca {
                ca = Some(c.clone());
            }
        }
    }
    for (k, v) in &headers {
        if let Some(problem) = header_problem(k, v) {
            return Err(doc.error(&url_key.key("headers").key(k), problem));
        }
    }
    t.headers = headers.into_iter().collect();
    if let Some(path) = ca {
        t.ca = Some(read_ca(doc.dir(), &path).map_err(|e| doc.error(&url_key.key("tls"), e))?);
    }
    Ok(t)
}

/// Why `name: value` cannot be sent as a header, if it cannot (the value is not shown: it may be
/// a secret).
pub(crate) fn header_problem(name: &str, value: &str) -> Option<String> {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Some(format!("`{name}` is not a valid header name"));
    }
    reqwest::header::HeaderValue::from_str(value)
        .err()
        .map(|_| {
            format!(
                "the value of header `{name}` is not a valid header value (a line break or \
             another control character?)"
            )
        })
}

fn read_ca(dir: &Path, path: &Path) -> Result<CaFile, String> {
    let full = dir.join(path);
    let pem = std::fs::read(&full)
        .map_err(|e| format!("cannot read the CA file `{}`: {e}", full.display()))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(CaFile { path: full, pem }),
        _ => Err(format!(
            "`{}` holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            full.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Top {
        targets: BTreeMap<String, AppSpec>,
    }

    fn catalog(text: &str) -> Result<Catalog, FileError> {
        let doc = Document::from_text(Path::new("windtunnel.toml"), text.to_owned());
        let top: Top = doc.parse()?;
        Catalog::build(&doc, &KeyPath::root().key("targets"), &top.targets)
    }

    const SHOP: &str = r#"
[targets.shop]
headers = { X-Team = "shop", Accept = "application/json" }

[targets.shop.environments.local]
url = "http://127.0.0.1:8080"

[targets.shop.environments.staging]
headers = { x-team = "shop-staging" }
[targets.shop.environments.staging.regions.eu]
url = "https://eu.staging.shop.test"
[targets.shop.environments.staging.regions.us]
url = "https://us.staging.shop.test"
tls = { insecure = true }
"#;

    #[test]
    fn picks_combinations_that_exist() {
        let c = catalog(SHOP).unwrap();
        let t = c.pick("shop/staging/us").unwrap();
        assert_eq!(t.url, "https://us.staging.shop.test");
        assert_eq!(t.selection.as_deref(), Some("shop/staging/us"));
        assert!(t.insecure);
        assert_eq!(
            t.headers,
            [
                ("accept".to_owned(), "application/json".to_owned()),
                ("x-team".to_owned(), "shop-staging".to_owned())
            ]
        );
        // One app: it may be left out.
        assert_eq!(
            c.pick("staging/eu").unwrap().url,
            "https://eu.staging.shop.test"
        );
        assert!(!c.pick("staging/eu").unwrap().insecure);
        assert_eq!(c.pick("local").unwrap().url, "http://127.0.0.1:8080");
        assert_eq!(c.pick("http://127.0.0.1:9").unwrap().selection, None);
        assert_eq!(
            c.combinations(),
            ["shop/local", "shop/staging/eu", "shop/staging/us"]
        );
    }

    #[test]
    fn combinations_that_do_not_exist_are_errors() {
        let c = catalog(SHOP).unwrap();
        let err = c.pick("staging/ue").unwrap_err();
        assert!(
            err.starts_with(
                "no region `ue` in `shop/staging` (did you mean `eu`?); there are: `eu`, `us`"
            ),
            "{err}"
        );
        let err = c.pick("shop/stagign/eu").unwrap_err();
        assert!(err.contains("did you mean `staging`?"), "{err}");
        let err = c.pick("shop/staging").unwrap_err();
        assert!(err.contains("pick one, like `shop/staging/eu`"), "{err}");
        let err = c.pick("shop/local/eu").unwrap_err();
        assert!(err.contains("has no regions"), "{err}");
        let err = c.pick("bank/prod/eu").unwrap_err();
        assert!(err.contains("no app `bank`"), "{err}");
        let err = Catalog::default().pick("staging/eu").unwrap_err();
        assert!(err.contains("no targets catalog"), "{err}");
    }

    #[test]
    fn a_bad_catalog_is_an_error_at_its_line() {
        let err = catalog("[targets.shop.environments.prod]\nurl = \"ftp://x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("windtunnel.toml:2:7: `targets.shop.environments.prod.url`")
                && err.contains("absolute http(s) URL"),
            "{err}"
        );
        let err = catalog(
            "[targets.shop.environments.prod]\nurl = \"http://a\"\nregions.eu.url = \"http://b\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not both"), "{err}");
        let err = catalog("[targets.shop.environments.prod.regions.eu]\nulr = \"http://b\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `url`?"), "{err}");
        let err = catalog(
            "[targets.shop.environments.prod]\nurl = \"http://a\"\ntls = { ca = \"missing.pem\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot read the CA file"), "{err}");
    }
}
