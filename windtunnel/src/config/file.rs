//! A settings file (`windtunnel.toml`, a plan), TOML or JSON, read into typed settings. Every
//! error names the file, the line and column where the format tells them, the key path, and
//! what was expected; an unknown key comes with the nearest known one.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A file's format, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Toml,
    Json,
}

/// The text of a settings file.
#[derive(Debug)]
pub(crate) struct Document {
    pub(crate) path: PathBuf,
    text: String,
    format: Format,
}

/// Where in a file a value sits: keys of tables and indexes of arrays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    /// The path of the document's root.
    pub(crate) fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path with a key added.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Key(key.to_owned()));
        p
    }

    /// This path with an array index added.
    pub(crate) fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Index(i));
        p
    }

    fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        KeyPath(
            path.iter()
                .filter_map(|s| match s {
                    S::Seq { index } => Some(Segment::Index(*index)),
                    S::Map { key } => Some(Segment::Key(key.clone())),
                    S::Enum { variant } => Some(Segment::Key(variant.clone())),
                    S::Unknown => None,
                })
                .collect(),
        )
    }

    fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_plain_name(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A settings file that cannot be used: where, and what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) struct FileError {
    path: PathBuf,
    /// Line and column, from 1.
    at: Option<(usize, usize)>,
    key: String,
    message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((line, col)) = self.at {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl FileError {
    /// An error about the file as a whole (it cannot be read, ...).
    pub(crate) fn whole(path: &Path, message: impl Into<String>) -> Self {
        FileError {
            path: path.to_owned(),
            at: None,
            key: String::new(),
            message: message.into(),
        }
    }
}

impl Document {
    /// Reads `path`; `.json` files are JSON, anything else TOML.
    pub(crate) fn read(path: &Path) -> Result<Self, FileError> {
        let bytes = crate::bounded::read_bounded(path).map_err(|e| FileError::whole(path, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| FileError::whole(path, format!("the file is not UTF-8 text: {e}")))?;
        Ok(Self::from_text(path, text))
    }

    /// A document from text already read (tests, and files found some other way).
    pub(crate) fn from_text(path: &Path, text: String) -> Self {
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Toml,
        };
        Document {
            path: path.to_owned(),
            text,
            format,
        }
    }

    /// The directory relative paths in the file are resolved against.
    pub(crate) fn dir(&self) -> &Path {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    /// Deserializes the whole document.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, FileError> {
        match self.format {
            Format::Toml => {
                let de = toml::Deserializer::parse(&self.text)
                    .map_err(|e| self.toml_error(&e, KeyPath::root()))?;
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let path = KeyPath::from_serde(e.path());
                    self.toml_error(e.inner(), path)
                })
            }
            Format::Json => {
                let mut de = serde_json::Deserializer::from_str(&self.text);
                let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let path = KeyPath::from_serde(e.path());
                    self.json_error(e.inner(), path)
                })?;
                de.end().map_err(|e| self.json_error(&e, KeyPath::root()))?;
                Ok(value)
            }
        }
    }

    /// An error about the value at `key`, found after parsing (a URL that does not parse, a
    /// name that does not exist, ...). In TOML, the error gives the value's line and column.
    pub(crate) fn error(&self, key: &KeyPath, message: impl Into<String>) -> FileError {
        let at = match self.format {
            Format::Toml => self
                .toml_span(key)
                .map(|offset| line_col(&self.text, offset)),
            Format::Json => None,
        };
        FileError {
            path: self.path.clone(),
            at,
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn toml_error(&self, e: &toml::de::Error, mut key: KeyPath) -> FileError {
        let (message, unknown) = explain(e.message().trim_end());
        if let Some(unknown) = unknown
            && key.0.last() != Some(&Segment::Key(unknown.clone()))
        {
            key = key.key(&unknown);
        }
        FileError {
            path: self.path.clone(),
            at: e.span().map(|s| line_col(&self.text, s.start)),
            key: if key.is_root() {
                String::new()
            } else {
                key.to_string()
            },
            message,
        }
    }

    fn json_error(&self, e: &serde_json::Error, mut key: KeyPath) -> FileError {
        let text = e.to_string();
        // serde_json appends " at line L column C"; the location is shown in front instead.
        let text = match text.rsplit_once(" at line ") {
            Some((msg, _)) if e.line() > 0 => msg.to_owned(),
            _ => text,
        };
        let (message, unknown) = explain(&text);
        if let Some(unknown) = unknown
            && key.0.last() != Some(&Segment::Key(unknown.clone()))
        {
            key = key.key(&unknown);
        }
        FileError {
            path: self.path.clone(),
            at: (e.line() > 0).then(|| (e.line(), e.column())),
            key: if key.is_root() {
                String::new()
            } else {
                key.to_string()
            },
            message,
        }
    }

    /// The byte offset of the value at `key` in a TOML document.
    fn toml_span(&self, key: &KeyPath) -> Option<usize> {
        use toml::de::{DeTable, DeValue};
        let root = DeTable::parse(&self.text).ok()?;
        let mut span = root.span();
        let mut table = root.get_ref();
        let mut array: Option<&toml::de::DeArray<'_>> = None;
        for segment in &key.0 {
            let value = match (segment, array) {
                (Segment::Index(i), Some(items)) => items.get(*i)?,
                (Segment::Key(k), None) => table.iter().find(|(name, _)| name.get_ref() == k)?.1,
                _ => return Some(span.start),
            };
            span = value.span();
            match value.get_ref() {
                DeValue::Table(t) => {
                    table = t;
                    array = None;
                }
                DeValue::Array(a) => array = Some(a),
                _ => array = None,
            }
        }
        Some(span.start)
    }
}

/// Line and column (from 1, in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Makes serde's messages read well, adding the nearest known name to an unknown one. Returns
/// the message and, for an unknown key, the key (to add to the path).
fn explain(message: &str) -> (String, Option<String>) {
    for (prefix, what) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let Some((name, expected)) = rest.split_once('`') else {
            continue;
        };
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let mut text = format!("unknown {what} `{name}`");
        if let Some(near) = did_you_mean(name, known.iter().copied()) {
            text.push_str(&format!(" (did you mean `{near}`?)"));
        }
        if known.is_empty() {
            text.push_str("; none is accepted here");
        } else {
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            text.push_str(&format!("; expected one of {}", list.join(", ")));
        }
        let key = (what == "key").then(|| name.to_owned());
        return (text, key);
    }
    (message.to_owned(), None)
}

/// Whether `name` is a plain name: letters, digits, `_` and `-`, not empty. Such a key needs no
/// quotes in a key path; a plan's flows, variables and services are named so.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// ` (did you mean `x`?)` when a known name is near enough to be a typo of `name`, else empty:
/// the hint an error message ends with.
pub(crate) fn did_you_mean_hint<'a>(
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> String {
    did_you_mean(name, known)
        .map(|near| format!(" (did you mean `{near}`?)"))
        .unwrap_or_default()
}

/// The known name nearest to `name`, if one is near enough to be a typo of it.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|(d, k)| *d <= (k.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Top {
        #[serde(default)]
        users: Option<u32>,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        list: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: String,
    }

    fn toml(text: &str) -> Result<Top, FileError> {
        Document::from_text(Path::new("w.toml"), text.to_owned()).parse()
    }

    fn json(text: &str) -> Result<Top, FileError> {
        Document::from_text(Path::new("w.json"), text.to_owned()).parse()
    }

    #[test]
    fn unknown_keys_come_with_the_nearest_known_one_and_a_location() {
        let err = toml("usrs = 3\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "w.toml:1:1: `usrs`: unknown key `usrs` (did you mean `users`?); expected one of \
             `users`, `inner`"
        );
        let err = json("{\n  \"inner\": {\"list\": [{\"nmae\": \"a\"}]}\n}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("w.json:2:")
                && err.contains("`inner.list[0].nmae`: unknown key `nmae` (did you mean `name`?)"),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_name_the_key_path_and_line() {
        let err = toml("[inner]\nlist = [{ name = 3 }]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("w.toml:2:")
                && err.contains("`inner.list[0].name`")
                && err.contains("expected a string"),
            "{err}"
        );
        let err = toml("users = -5\n").unwrap_err().to_string();
        assert!(err.starts_with("w.toml:1:9: `users`"), "{err}");
        let err = json("{\"users\": \"many\"}").unwrap_err().to_string();
        assert!(
            err.starts_with("w.json:1:") && err.contains("`users`") && err.contains("expected u32"),
            "{err}"
        );
        let err = json("{\"users\": 1} x").unwrap_err().to_string();
        assert!(err.contains("trailing characters"), "{err}");
        let err = toml("users = \n").unwrap_err().to_string();
        assert!(err.starts_with("w.toml:1:"), "{err}");
    }

    #[test]
    fn later_errors_find_their_line_in_toml() {
        let doc = Document::from_text(
            Path::new("w.toml"),
            "users = 1\n\n[inner]\nlist = [\n  { name = \"a\" },\n  { name = \"b\" },\n]\n"
                .to_owned(),
        );
        let key = KeyPath::root()
            .key("inner")
            .key("list")
            .index(1)
            .key("name");
        assert_eq!(
            doc.error(&key, "no such thing").to_string(),
            "w.toml:6:12: `inner.list[1].name`: no such thing"
        );
        let key = KeyPath::root().key("scenarios").key("shop::browse");
        assert_eq!(key.to_string(), "scenarios.\"shop::browse\"");
    }

    #[test]
    fn near_names_only() {
        assert_eq!(did_you_mean("usres", ["users", "rate"]), Some("users"));
        assert_eq!(did_you_mean("zzz", ["users", "rate"]), None);
    }
}
