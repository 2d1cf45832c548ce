//! Numbers and lists as messages and labels write them: `99.9` not `99.90000001`, `a, b, c` or
//! `none`.

/// `a, b, c`, or `none` when there are none: a list in a message.
pub(crate) fn list_or_none(items: &[impl AsRef<str>]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    items.join(", ")
}

/// `99.0` → "99", `99.9` → "99.9", `0.1` → "0.1": no float noise in labels.
pub(crate) fn trim_float(v: f64) -> String {
    let s = format!("{:.4}", v);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_lose_their_noise_and_lists_say_none() {
        assert_eq!(trim_float(99.0), "99");
        assert_eq!(trim_float(99.9), "99.9");
        assert_eq!(trim_float(0.1 + 0.2), "0.3");
        assert_eq!(list_or_none(&["a", "b"]), "a, b");
        let none: [&str; 0] = [];
        assert_eq!(list_or_none(&none), "none");
    }
}
