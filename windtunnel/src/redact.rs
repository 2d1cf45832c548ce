//! Secrets are sent, never written down: the values of secret headers and query parameters
//! become [`REDACTED`] wherever windtunnel writes text (reports, `--check-config`, error samples,
//! logs). Secret are the headers `authorization`, `proxy-authorization`, `cookie` and
//! `set-cookie`, the keys of [`DEFAULT_SECRET_KEYS`] (as headers and as query parameters), and
//! the keys the settings file lists under `redact = [..]`. Keys compare without case.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a secret value is written as.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values are always secret.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Header and query keys that are secret unless the settings file says otherwise. (Default:
/// `token`, `access_token`, `api_key`, `apikey`, `password`, `secret`, `client_secret`,
/// `x-api-key`.)
pub const DEFAULT_SECRET_KEYS: &[&str] = &[
    "token",
    "access_token",
    "api_key",
    "apikey",
    "password",
    "secret",
    "client_secret",
    "x-api-key",
];

/// The keys the user listed (`redact = [..]` in the settings file), lowercased. Redaction is a
/// policy of the whole process: the same text must not be secret in one log line and not in
/// the next.
static EXTRA: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds `keys` to the secret keys for the rest of the process.
pub(crate) fn add_keys(keys: &[String]) {
    let mut extra = EXTRA.write().unwrap_or_else(|e| e.into_inner());
    for k in keys {
        let k = k.trim().to_ascii_lowercase();
        if !k.is_empty() && !extra.contains(&k) {
            extra.push(k);
        }
    }
}

/// Whether the value of header or query key `key` is secret.
pub fn is_secret(key: &str) -> bool {
    let key = key.trim();
    SECRET_HEADERS
        .iter()
        .chain(DEFAULT_SECRET_KEYS)
        .any(|k| k.eq_ignore_ascii_case(key))
        || EXTRA
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
}

/// The value of header `name` as it may be written.
pub fn header_value<'v>(name: &str, value: &'v str) -> &'v str {
    if is_secret(name) { REDACTED } else { value }
}

/// A URL as it may be written: a password in it and the values of secret query parameters
/// are [`REDACTED`]. Text that is not a URL is returned unchanged.
///
/// ```
/// use windtunnel::redact::url;
/// assert_eq!(
///     url("http://me:pw@shop.test/a?page=2&access_token=abc"),
///     "http://me:[redacted]@shop.test/a?page=2&access_token=[redacted]"
/// );
/// ```
pub fn url(text: &str) -> Cow<'_, str> {
    let Some(scheme_end) = text.find("://") else {
        return Cow::Borrowed(text);
    };
    let rest_start = scheme_end + 3;
    let rest = &text[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = String::new();
    let mut changed = false;
    out.push_str(&text[..rest_start]);
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(REDACTED);
                    changed = true;
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let after = &rest[authority_end..];
    let (before_fragment, fragment) = match after.find('#') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let (query, query_changed) = redact_query(query);
            changed |= query_changed;
            out.push_str(&query);
        }
        None => out.push_str(before_fragment),
    }
    out.push_str(fragment);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

fn redact_query(query: &str) -> (String, bool) {
    let mut changed = false;
    let pairs: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret(&percent_decoded(k)) => {
                changed = true;
                Cow::Owned(format!("{k}={REDACTED}"))
            }
            _ => Cow::Borrowed(pair),
        })
        .collect();
    (pairs.join("&"), changed)
}

fn percent_decoded(key: &str) -> Cow<'_, str> {
    url::form_urlencoded::parse(format!("{key}=").as_bytes())
        .next()
        .map_or(Cow::Borrowed(key), |(k, _)| Cow::Owned(k.into_owned()))
}

/// Free text (an error message, a log line) with every URL in it passed through [`url()`].
pub fn text(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        // The URL starts at its scheme: the letters right before `://`.
        let start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |p| p + 1);
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '`' | '>' | '<'))
            .map_or(rest.len(), |p| i + p);
        out.push_str(&rest[..start]);
        let redacted = url(&rest[start..end]);
        changed |= matches!(redacted, Cow::Owned(_));
        out.push_str(&redacted);
        rest = &rest[end..];
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_and_keys_ignore_case() {
        assert!(is_secret("Authorization") && is_secret("COOKIE") && is_secret("Set-Cookie"));
        assert!(is_secret("access_token") && is_secret("X-Api-Key"));
        assert!(!is_secret("accept") && !is_secret("page"));
        assert_eq!(header_value("authorization", "Bearer x"), REDACTED);
        assert_eq!(header_value("x-team", "shop"), "shop");
    }

    #[test]
    fn listed_keys_become_secret() {
        assert!(!is_secret("x-session-only-in-this-test"));
        add_keys(&[" X-Session-Only-In-This-Test ".into()]);
        assert!(is_secret("x-session-only-in-this-test"));
    }

    #[test]
    fn urls_lose_passwords_and_secret_query_values() {
        assert_eq!(
            url("http://127.0.0.1:8080/a?b=1"),
            "http://127.0.0.1:8080/a?b=1"
        );
        assert_eq!(url("https://u@h/"), "https://u@h/");
        assert_eq!(url("https://u:p@h"), "https://u:[redacted]@h");
        assert_eq!(
            url("http://h/p?token=1&Token=2&q=3#frag"),
            "http://h/p?token=[redacted]&Token=[redacted]&q=3#frag"
        );
        assert_eq!(
            url("http://h/p?acc%65ss_token=x"),
            "http://h/p?acc%65ss_token=[redacted]"
        );
        assert_eq!(url("/relative?token=1"), "/relative?token=1");
    }

    #[test]
    fn urls_in_text_are_found_and_redacted() {
        assert_eq!(
            text("error sending request for url (http://h/a?token=s3cr3t): refused"),
            "error sending request for url (http://h/a?token=[redacted]): refused"
        );
        assert_eq!(
            text("a `https://u:p@h/x` and http://h/?password=p"),
            "a `https://u:[redacted]@h/x` and http://h/?password=[redacted]"
        );
        assert!(matches!(text("no url here"), Cow::Borrowed(_)));
    }
}
