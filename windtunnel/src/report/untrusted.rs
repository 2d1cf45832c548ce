//! Text that came from outside (a SUT's bodies and headers, names a user wrote, a report file)
//! made safe for where it is written: XML 1.0 ([`for_xml`]), a terminal ([`for_terminal`]) and
//! GitHub-flavoured Markdown ([`for_markdown`]).
//! Neither drops information silently: a character that cannot be written is shown as its
//! escape (`\x1b`, `\u{fffe}`), so a reader still sees that it was there.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether XML 1.0 allows `c` in a document (its `Char` production), and it is not a C1 control
/// (allowed but "discouraged" by the standard, and a terminal escape on some terminals).
fn xml_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || c >= '\u{10000}'
}

/// Whether a terminal shows `c` as itself: no C0 or C1 control other than a newline or a tab,
/// no DEL (so no escape sequence, carriage return or backspace can rewrite what is on screen).
fn terminal_shows(c: char) -> bool {
    !c.is_control() || c == '\n' || c == '\t'
}

fn escape(c: char, out: &mut String) {
    if (c as u32) < 0x100 {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:x}}}", c as u32);
    }
}

fn replace(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if text.chars().all(&keep) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if keep(c) {
            out.push(c);
        } else {
            escape(c, &mut out);
        }
    }
    Cow::Owned(out)
}

/// `text` with every character XML 1.0 forbids (and every C1 control) written as a visible
/// escape, for an XML attribute or text node (the XML writer escapes `<`, `&` and quotes).
///
/// ```
/// use windtunnel::report::untrusted::for_xml;
/// assert_eq!(for_xml("ok\u{1b}[31m"), "ok\\x1b[31m");
/// ```
pub fn for_xml(text: &str) -> Cow<'_, str> {
    replace(text, xml_allows)
}

/// `text` for the inside of a CDATA section that a writer closes with `]]>`: [`for_xml`], with
/// every `]]>` split across two sections (`]]]]><![CDATA[>`), so a reader gets the text back
/// unchanged and nothing in it can close the section early.
///
/// ```
/// use windtunnel::report::untrusted::for_cdata;
/// assert_eq!(for_cdata("a]]>b"), "a]]]]><![CDATA[>b");
/// ```
pub fn for_cdata(text: &str) -> Cow<'_, str> {
    match for_xml(text) {
        Cow::Borrowed(t) if !t.contains("]]>") => Cow::Borrowed(t),
        t => Cow::Owned(t.replace("]]>", "]]]]><![CDATA[>")),
    }
}

/// `text` with every control character but newline and tab written as a visible escape, so
/// nothing from a SUT or a name can move the cursor, recolour or rewrite the terminal.
///
/// ```
/// use windtunnel::report::untrusted::for_terminal;
/// assert_eq!(for_terminal("a\u{1b}[2Jb\r\n"), "a\\x1b[2Jb\\x0d\n");
/// ```
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    replace(text, terminal_shows)
}

/// `text` with every control character, newline and tab included, written as a visible
/// escape: a name that fits on one line of `--list`, JUnit and the terminal.
pub fn for_name(text: &str) -> Cow<'_, str> {
    replace(text, name_allows)
}

/// `text` as literal GitHub-flavoured Markdown on one line (a paragraph or a table cell): every
/// ASCII punctuation character backslash-escaped, so nothing in it becomes markup, HTML, a link,
/// an image or an autolink, or ends a table cell; every control character (newline included)
/// as a visible escape.
///
/// ```
/// use windtunnel::report::untrusted::for_markdown;
/// assert_eq!(for_markdown("a|b <img> [x](y)"), r"a\|b \<img\> \[x\]\(y\)");
/// assert_eq!(for_markdown("see https://x.io\n"), r"see https\:\/\/x\.io\x0a");
/// ```
pub fn for_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
            out.push(c);
        } else if name_allows(c) {
            out.push(c);
        } else {
            escape(c, &mut out);
        }
    }
    out
}

/// Whether a name may hold `c`: no control character, nothing XML forbids.
fn name_allows(c: char) -> bool {
    !c.is_control() && xml_allows(c)
}

/// Why a name (of a scenario, a request, an objective) cannot be used: it is empty or holds a
/// control character, which would break `--list`, JUnit or the terminal. `None` when it is fine.
pub fn name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("a name cannot be empty".into());
    }
    name.chars().find(|c| !name_allows(*c)).map(|c| {
        let mut shown = String::new();
        escape(c, &mut shown);
        format!(
            "a name cannot contain the control character `{shown}`: `{}`",
            for_name(name)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_keeps_what_xml_allows_and_escapes_the_rest() {
        assert!(matches!(
            for_xml("plain <text> & ünïcode ☃ 🦀"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            for_xml("a\u{0}b\u{1}c\u{8}d\u{b}e"),
            "a\\x00b\\x01c\\x08d\\x0be"
        );
        assert_eq!(for_xml("\u{fffe}\u{ffff}\u{85}"), "\\u{fffe}\\u{ffff}\\x85");
        assert_eq!(for_xml("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
    }

    #[test]
    fn cdata_splits_every_terminator() {
        assert_eq!(for_cdata("]]>]]>"), "]]]]><![CDATA[>]]]]><![CDATA[>");
        assert_eq!(for_cdata("]]"), "]]");
        assert_eq!(for_cdata("x\u{1b}]]>"), "x\\x1b]]]]><![CDATA[>");
    }

    #[test]
    fn terminal_shows_no_control_sequence() {
        assert_eq!(for_terminal("\u{1b}]0;title\u{7}"), "\\x1b]0;title\\x07");
        assert_eq!(for_terminal("\u{9b}31m\u{7f}\u{8}"), "\\x9b31m\\x7f\\x08");
        assert!(matches!(
            for_terminal("line\n\tindent ünï"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn names_with_controls_are_refused_and_shown_escaped() {
        assert_eq!(name_problem("checkout"), None);
        assert_eq!(name_problem("GET /a b"), None);
        let p = name_problem("a\nb").unwrap();
        assert!(p.contains("`\\x0a`") && p.contains("`a\\x0ab`"), "{p}");
        assert!(name_problem(" ").is_some());
        assert!(name_problem("x\u{1b}[31m").is_some());
    }
}
