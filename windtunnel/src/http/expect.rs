//! [`Expect`]: what a response must be — its status, a value in its JSON body (by JSON
//! pointer), a header, its body against a JSON Schema, or a predicate of the agent's own — and
//! [`Unmet`], what it was instead.

use std::cell::OnceCell;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::Response;

/// How much of an actual value an [`Unmet`] shows.
const MAX_ACTUAL_CHARS: usize = 200;

/// An expectation on a response.
///
/// Hand it to [`RequestBuilder::expect`](crate::RequestBuilder::expect) to make a response
/// that misses it a failed request (kind `assertion`, with the expectation and the actual value
/// as its error sample), to [`Wait::until`](crate::Wait::until) to poll until it holds, or
/// check it yourself with [`holds`](Self::holds) or [`Response::expect`].
///
/// ```
/// use windtunnel::Expect;
///
/// let shipped = Expect::json("/status").equals("shipped");
/// let listed = Expect::json("/items").contains(3);
/// let email = Expect::json("/email").matches(r"^[^@]+@[^@]+$");
/// let json = Expect::header("content-type").contains("application/json");
/// let created = Expect::status_in([200, 201]);
/// assert_eq!(shipped.to_string(), r#"`/status` equals "shipped""#);
/// assert_eq!(email.to_string(), "`/email` matches `^[^@]+@[^@]+$`");
/// # let _ = (listed, json, created);
/// ```
///
/// An expectation that cannot work (a JSON pointer without its leading `/`, a regex that does
/// not compile, a schema that is not one) is kept as a problem: a request that carries it fails
/// as `invalid` without being sent, and a wait on it fails before its first attempt.
///
/// Building one compiles it (a regex, a schema; [`schema_file`](Self::schema_file) also reads
/// its file), and cloning it is cheap: in an agent that runs many iterations, build a costly
/// one once, in a `static` [`LazyLock`](std::sync::LazyLock), and clone it per request.
/// (Plans compile theirs once, when the plan is read.)
///
/// ```
/// use std::sync::LazyLock;
/// use windtunnel::Expect;
///
/// static ORDER: LazyLock<Expect> = LazyLock::new(|| {
///     Expect::schema(&serde_json::json!({ "type": "object", "required": ["order_id"] }))
/// });
/// assert!(ORDER.clone().problem().is_none());
/// ```
#[derive(Clone)]
pub struct Expect(Rule);

#[derive(Clone)]
enum Rule {
    Status(Vec<u16>),
    Json(String, Test),
    Header(String, Test),
    Schema {
        source: String,
        validator: Arc<jsonschema::Validator>,
    },
    That {
        description: String,
        predicate: Arc<dyn Fn(&Response) -> bool + Send + Sync>,
    },
    Problem(String),
}

#[derive(Clone, Debug)]
enum Test {
    Exists,
    Absent,
    Equals(Value),
    Contains(Value),
    Matches(regex::Regex),
}

/// A value of a response to test: a JSON pointer into the body, or a header. Finish it with
/// one of its tests.
#[must_use = "an expectation needs a test: `.equals(..)`, `.contains(..)`, `.matches(..)`, `.exists()`"]
pub struct Subject {
    header: bool,
    at: String,
    problem: Option<String>,
}

impl Expect {
    /// The status is `status`.
    pub fn status(status: u16) -> Expect {
        Expect::status_in([status])
    }

    /// The status is one of `statuses`.
    pub fn status_in(statuses: impl IntoIterator<Item = u16>) -> Expect {
        let list: Vec<u16> = statuses.into_iter().collect();
        if list.is_empty() {
            return Expect(Rule::Problem("give at least one status".into()));
        }
        if let Some(bad) = list.iter().find(|s| !(100..=599).contains(*s)) {
            return Expect(Rule::Problem(format!(
                "an HTTP status is from 100 to 599, not {bad}"
            )));
        }
        Expect(Rule::Status(list))
    }

    /// The value at `pointer` (RFC 6901, like `/status` or `/items/0/id`; `""` is the whole
    /// body) of the JSON body.
    pub fn json(pointer: &str) -> Subject {
        let problem = pointer_problem(pointer);
        Subject {
            header: false,
            at: pointer.to_owned(),
            problem,
        }
    }

    /// The header `name` (the first, if there are several).
    pub fn header(name: &str) -> Subject {
        let problem = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .err()
            .map(|_| format!("`{name}` is not a valid header name"));
        Subject {
            header: true,
            at: name.to_ascii_lowercase(),
            problem,
        }
    }

    /// The body is JSON that `schema` (a JSON Schema) accepts. Its `$ref`s resolve within it.
    pub fn schema(schema: &Value) -> Expect {
        Expect::compiled("the JSON Schema given", schema)
    }

    /// The body is JSON that the JSON Schema in the file at `path` accepts.
    pub fn schema_file(path: impl AsRef<Path>) -> Expect {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = match crate::config::read_bounded(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                return Expect(Rule::Problem(format!(
                    "cannot read the JSON Schema `{shown}`: {e}"
                )));
            }
        };
        match serde_json::from_slice::<Value>(&text) {
            Ok(schema) => Expect::compiled(&shown, &schema),
            Err(e) => Expect(Rule::Problem(format!(
                "the JSON Schema `{shown}` is not JSON: {e}"
            ))),
        }
    }

    fn compiled(source: &str, schema: &Value) -> Expect {
        match jsonschema::validator_for(schema) {
            Ok(v) => Expect(Rule::Schema {
                source: source.to_owned(),
                validator: Arc::new(v),
            }),
            Err(e) => Expect(Rule::Problem(format!(
                "{source} is not a valid JSON Schema: {e}"
            ))),
        }
    }

    /// `predicate` holds for the response; `description` says what it checks, for messages.
    ///
    /// ```
    /// let not_empty = windtunnel::Expect::that("the body is not empty", |r| !r.body().is_empty());
    /// assert_eq!(not_empty.to_string(), "the body is not empty");
    /// ```
    pub fn that(
        description: impl Into<String>,
        predicate: impl Fn(&Response) -> bool + Send + Sync + 'static,
    ) -> Expect {
        Expect(Rule::That {
            description: description.into(),
            predicate: Arc::new(predicate),
        })
    }

    /// Why this expectation cannot work, if it cannot.
    pub fn problem(&self) -> Option<&str> {
        match &self.0 {
            Rule::Problem(p) => Some(p),
            _ => None,
        }
    }

    /// Whether `response` meets this expectation.
    ///
    /// # Errors
    ///
    /// [`Unmet`] with the expectation and the actual value, when it does not.
    pub fn holds(&self, response: &Response) -> Result<(), Unmet> {
        match self.unmet(response, &OnceCell::new()) {
            None => Ok(()),
            Some(unmet) => Err(unmet),
        }
    }

    /// What is wrong, if anything; `body` is the response's parsed body, parsed at most once
    /// for all the expectations on one response.
    fn unmet(&self, r: &Response, body: &OnceCell<Result<Value, String>>) -> Option<Unmet> {
        let unmet = |actual: String| {
            Some(Unmet {
                expected: self.to_string(),
                actual,
            })
        };
        let parsed = || {
            body.get_or_init(|| {
                if r.is_truncated() {
                    return Err(format!(
                        "a body of {} bytes of which only {} were kept (raise \
                         `max_response_body` on the scenario)",
                        r.body_len(),
                        r.body().len()
                    ));
                }
                serde_json::from_slice(r.body())
                    .map_err(|e| format!("a body that is not JSON ({e}): {}", excerpt_of(r)))
            })
        };
        match &self.0 {
            Rule::Status(list) if list.contains(&r.status()) => None,
            Rule::Status(_) => unmet(format!("status {}", r.status())),
            Rule::Json(pointer, test) => match parsed() {
                Err(why) => unmet(why.clone()),
                Ok(v) => {
                    let found = v.pointer(pointer);
                    if test.passes(found) {
                        None
                    } else {
                        unmet(match found {
                            Some(v) => clip(&v.to_string()),
                            None => format!("nothing at `{pointer}`"),
                        })
                    }
                }
            },
            Rule::Header(name, test) => {
                let value = r.headers().get(name.as_str());
                let text =
                    value.map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into()));
                if test.passes(text.as_ref()) {
                    None
                } else {
                    unmet(match text {
                        Some(v) => clip(&v.to_string()),
                        None => format!("no header `{name}`"),
                    })
                }
            }
            Rule::Schema { validator, .. } => match parsed() {
                Err(why) => unmet(why.clone()),
                Ok(v) => {
                    let errors: Vec<String> = validator
                        .iter_errors(v)
                        .take(3)
                        .map(|e| {
                            let at = e.instance_path().to_string();
                            let at = if at.is_empty() { "/".to_owned() } else { at };
                            format!("at `{at}`: {e}")
                        })
                        .collect();
                    if errors.is_empty() {
                        None
                    } else {
                        unmet(clip(&errors.join("; ")))
                    }
                }
            },
            Rule::That { predicate, .. } => {
                if predicate(r) {
                    None
                } else {
                    unmet(format!("status {}: {}", r.status(), excerpt_of(r)))
                }
            }
            Rule::Problem(p) => unmet(format!("an expectation that cannot work: {p}")),
        }
    }
}

/// The first of `expects` that `response` misses, parsing its body at most once.
pub(crate) fn first_unmet(expects: &[Expect], response: &Response) -> Option<Unmet> {
    let body = OnceCell::new();
    expects.iter().find_map(|e| e.unmet(response, &body))
}

/// The first problem among `expects` (an expectation that cannot work).
pub(crate) fn first_problem(expects: &[Expect]) -> Option<String> {
    expects
        .iter()
        .find_map(|e| e.problem().map(|p| format!("{e}: {p}")))
}

impl Subject {
    fn finish(self, test: Test) -> Expect {
        if let Some(p) = self.problem {
            return Expect(Rule::Problem(p));
        }
        Expect(if self.header {
            Rule::Header(self.at, test)
        } else {
            Rule::Json(self.at, test)
        })
    }

    /// It is there.
    pub fn exists(self) -> Expect {
        self.finish(Test::Exists)
    }

    /// It is not there.
    pub fn absent(self) -> Expect {
        self.finish(Test::Absent)
    }

    /// It equals `value`. (A header equals a string.)
    pub fn equals(self, value: impl Into<Value>) -> Expect {
        let value = value.into();
        if self.header && !value.is_string() {
            let text = value.to_string();
            return self.finish(Test::Equals(Value::String(text)));
        }
        self.finish(Test::Equals(value))
    }

    /// It contains `value`: a string contains it as a substring, an array as an element, an
    /// object as a key.
    pub fn contains(self, value: impl Into<Value>) -> Expect {
        self.finish(Test::Contains(value.into()))
    }

    /// Its text (a string as it is, any other JSON value as JSON) matches the regular
    /// expression `pattern` (the `regex` crate's syntax; unanchored unless it says `^`/`$`).
    pub fn matches(self, pattern: &str) -> Expect {
        match regex::Regex::new(pattern) {
            Ok(re) => self.finish(Test::Matches(re)),
            Err(e) => Expect(Rule::Problem(format!(
                "`{pattern}` is not a regular expression: {}",
                first_line(&e.to_string())
            ))),
        }
    }
}

impl Test {
    fn passes(&self, found: Option<&Value>) -> bool {
        match (self, found) {
            (Test::Absent, found) => found.is_none(),
            (_, None) => false,
            (Test::Exists, Some(_)) => true,
            (Test::Equals(want), Some(v)) => v == want || numbers_equal(v, want),
            (Test::Contains(want), Some(Value::String(s))) => {
                want.as_str().is_some_and(|w| s.contains(w))
            }
            (Test::Contains(want), Some(Value::Array(items))) => {
                items.iter().any(|i| i == want || numbers_equal(i, want))
            }
            (Test::Contains(want), Some(Value::Object(map))) => {
                want.as_str().is_some_and(|k| map.contains_key(k))
            }
            (Test::Contains(_), Some(_)) => false,
            (Test::Matches(re), Some(Value::String(s))) => re.is_match(s),
            (Test::Matches(re), Some(v)) => re.is_match(&v.to_string()),
        }
    }
}

/// `1` and `1.0` are the same number in JSON.
fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => a.is_number() && b.is_number() && x == y,
        _ => false,
    }
}

fn pointer_problem(pointer: &str) -> Option<String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Some(format!(
            "`{pointer}` is not a JSON pointer: it starts with `/`, like `/status` or \
             `/items/0/id`"
        ));
    }
    // `~` escapes only `~0` and `~1`.
    let mut chars = pointer.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Some(format!(
                "`{pointer}` is not a JSON pointer: `~` is written `~0` and `/` inside a key `~1`"
            ));
        }
    }
    None
}

fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_ACTUAL_CHARS) {
        Some((at, _)) => format!("{}… (cut)", &s[..at]),
        None => s.to_owned(),
    }
}

fn excerpt_of(r: &Response) -> String {
    let text = r.text();
    let text = text.trim();
    if text.is_empty() {
        "an empty body".into()
    } else {
        clip(text)
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Rule::Status(list) => {
                let list: Vec<String> = list.iter().map(u16::to_string).collect();
                write!(f, "status {}", list.join(" or "))
            }
            Rule::Json(pointer, test) => write!(f, "`{pointer}` {test}"),
            Rule::Header(name, test) => write!(f, "header `{name}` {test}"),
            Rule::Schema { source, .. } => write!(f, "the body matches {source}"),
            Rule::That { description, .. } => f.write_str(description),
            Rule::Problem(_) => f.write_str("an expectation"),
        }
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Test::Exists => f.write_str("exists"),
            Test::Absent => f.write_str("is absent"),
            Test::Equals(v) => write!(f, "equals {}", clip(&v.to_string())),
            Test::Contains(v) => write!(f, "contains {}", clip(&v.to_string())),
            Test::Matches(re) => write!(f, "matches `{}`", re.as_str()),
        }
    }
}

impl fmt::Debug for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Rule::Problem(p) => write!(f, "Expect(problem: {p})"),
            _ => write!(f, "Expect({self})"),
        }
    }
}

/// An expectation a response did not meet: what was expected, and what came instead (cut to
/// 200 characters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {actual}")]
pub struct Unmet {
    /// The expectation, as text.
    pub expected: String,
    /// What the response had instead.
    pub actual: String,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::http::Body;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            map.append(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_str(v).unwrap(),
            );
        }
        Response::new(
            "get order".into(),
            reqwest::StatusCode::from_u16(status).unwrap(),
            map,
            Body::whole(bytes::Bytes::from(body.to_owned())),
            Duration::from_millis(1),
            reqwest::Url::parse("http://127.0.0.1:1/orders/1").unwrap(),
            false,
        )
    }

    const ORDER: &str = r#"{"order_id": 7, "status": "paid", "items": [1, 2.0, "x"], "total": 15.0,
        "email": "ada@example.test", "meta": {"gift": true}}"#;

    #[test]
    fn values_in_the_body_are_tested_by_pointer() {
        let r = response(200, &[("content-type", "application/json")], ORDER);
        let holds = |e: Expect| e.holds(&r).map_err(|u| u.to_string());
        assert_eq!(holds(Expect::json("/status").equals("paid")), Ok(()));
        assert_eq!(
            holds(Expect::json("/total").equals(15)),
            Ok(()),
            "15 is 15.0"
        );
        assert_eq!(holds(Expect::json("/items").contains(2)), Ok(()));
        assert_eq!(holds(Expect::json("/email").contains("@example")), Ok(()));
        assert_eq!(holds(Expect::json("/meta").contains("gift")), Ok(()));
        assert_eq!(holds(Expect::json("/email").matches(r"^[^@]+@")), Ok(()));
        assert_eq!(holds(Expect::json("/order_id").matches(r"^\d+$")), Ok(()));
        assert_eq!(holds(Expect::json("/items/2").exists()), Ok(()));
        assert_eq!(holds(Expect::json("/refund").absent()), Ok(()));
        assert_eq!(holds(Expect::status_in([200, 201])), Ok(()));
        assert_eq!(
            holds(Expect::json("/status").equals("shipped")).unwrap_err(),
            r#"expected `/status` equals "shipped", got "paid""#
        );
        assert_eq!(
            holds(Expect::json("/tracking/id").exists()).unwrap_err(),
            "expected `/tracking/id` exists, got nothing at `/tracking/id`"
        );
        assert_eq!(
            holds(Expect::status(201)).unwrap_err(),
            "expected status 201, got status 200"
        );
        assert!(holds(Expect::json("/items").contains(3)).is_err());
        assert!(holds(Expect::json("/status").contains(3)).is_err());
    }

    #[test]
    fn headers_schemas_and_predicates() {
        let r = response(
            200,
            &[("Content-Type", "application/json; charset=utf-8")],
            ORDER,
        );
        assert!(
            Expect::header("content-type")
                .contains("json")
                .holds(&r)
                .is_ok()
        );
        assert!(
            Expect::header("CONTENT-TYPE")
                .matches("^application/")
                .holds(&r)
                .is_ok()
        );
        let miss = Expect::header("etag").exists().holds(&r).unwrap_err();
        assert_eq!(miss.actual, "no header `etag`");
        let schema = serde_json::json!({
            "type": "object",
            "required": ["order_id", "status"],
            "properties": { "order_id": { "type": "integer" }, "status": { "enum": ["pending", "paid", "shipped"] } }
        });
        assert!(Expect::schema(&schema).holds(&r).is_ok());
        let bad = response(200, &[], r#"{"order_id": "7", "status": "lost"}"#);
        let miss = Expect::schema(&schema).holds(&bad).unwrap_err();
        assert!(miss.actual.contains("at `/order_id`"), "{miss}");
        assert!(miss.actual.contains("at `/status`"), "{miss}");
        let not_json = response(200, &[], "<html>oops</html>");
        let miss = Expect::json("/status")
            .exists()
            .holds(&not_json)
            .unwrap_err();
        assert!(miss.actual.starts_with("a body that is not JSON"), "{miss}");
        assert!(miss.actual.ends_with("<html>oops</html>"), "{miss}");
        let e = Expect::that("the body names a status", |r| r.text().contains("status"));
        assert!(e.holds(&r).is_ok());
        assert_eq!(
            e.holds(&not_json).unwrap_err().to_string(),
            "expected the body names a status, got status 200: <html>oops</html>"
        );
    }

    #[test]
    fn actual_values_are_cut_and_problems_are_kept() {
        let long = format!(r#"{{"status": "{}"}}"#, "x".repeat(5000));
        let r = response(200, &[], &long);
        let miss = Expect::json("/status").equals("y").holds(&r).unwrap_err();
        assert!(miss.actual.chars().count() < 220, "{}", miss.actual.len());
        assert!(miss.actual.ends_with("… (cut)"));
        for (e, says) in [
            (Expect::json("status").exists(), "is not a JSON pointer"),
            (Expect::json("/a~2b").exists(), "`~` is written `~0`"),
            (
                Expect::json("/a").matches("(unclosed"),
                "is not a regular expression",
            ),
            (
                Expect::header("bad header").exists(),
                "not a valid header name",
            ),
            (Expect::status(99), "from 100 to 599"),
            (Expect::status_in([]), "at least one status"),
            (
                Expect::schema(&serde_json::json!({ "type": "nonsense" })),
                "not a valid JSON Schema",
            ),
            (
                Expect::schema_file("/nonexistent/order.schema.json"),
                "cannot read",
            ),
        ] {
            let p = e
                .problem()
                .unwrap_or_else(|| panic!("{e:?} has no problem"));
            assert!(p.contains(says), "{p}");
            assert!(e.holds(&r).is_err());
        }
    }
}
