//! `{{name}}` templates in a plan's paths, headers and bodies. Names are checked when the plan
//! is read, so an unknown variable is an error before any request, not an empty string.

use std::collections::HashMap;

use serde_json::Value;

use crate::config::did_you_mean;

/// A text with `{{variable}}` holes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    Var(String),
}

/// The variables of one iteration.
pub(crate) type Vars = HashMap<String, Value>;

impl Template {
    /// Compiles `text`; every variable must be one of `known`.
    pub(crate) fn compile(text: &str, known: &[String]) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("`{{{{` without a closing `}}}}` in `{text}`"))?;
            let name = after[..close].trim();
            if name.is_empty() {
                return Err(format!("an empty `{{{{}}}}` in `{text}`"));
            }
            if !known.iter().any(|k| k == name) {
                let mut message = format!("unknown variable `{{{{{name}}}}}`");
                if let Some(near) = did_you_mean(name, known.iter().map(String::as_str)) {
                    message.push_str(&format!(" (did you mean `{{{{{near}}}}}`?)"));
                }
                if known.is_empty() {
                    message.push_str("; no variable is defined here");
                } else {
                    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
                    message.push_str(&format!("; defined here: {}", list.join(", ")));
                }
                message.push_str(
                    " (variables come from `vars`, `data` files as `file.column`, values an \
                     earlier step extracts, and `agent` and `iteration`)",
                );
                return Err(message);
            }
            parts.push(Part::Var(name.to_owned()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The text with each variable's value in place (strings without quotes).
    pub(crate) fn render(&self, vars: &Vars) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var(v) => match vars.get(v) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => {}
                },
            }
        }
        out
    }

    /// As a JSON value: a template that is one variable alone keeps the variable's type (a
    /// number stays a number); anything else is a string.
    pub(crate) fn render_value(&self, vars: &Vars) -> Value {
        if let [Part::Var(v)] = self.parts.as_slice() {
            return vars.get(v).cloned().unwrap_or(Value::Null);
        }
        Value::String(self.render(vars))
    }
}

/// A JSON body whose strings are templates.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum JsonTemplate {
    Plain(Value),
    Text(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

impl JsonTemplate {
    /// Compiles every string of `value`; the error names the key path inside the body.
    pub(crate) fn compile(value: &Value, known: &[String]) -> Result<Self, (String, String)> {
        Ok(match value {
            Value::String(s) => {
                JsonTemplate::Text(Template::compile(s, known).map_err(|e| (String::new(), e))?)
            }
            Value::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        JsonTemplate::compile(v, known).map_err(|(p, e)| (format!("[{i}]{p}"), e))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => JsonTemplate::Object(
                map.iter()
                    .map(|(k, v)| {
                        JsonTemplate::compile(v, known)
                            .map(|t| (k.clone(), t))
                            .map_err(|(p, e)| (format!(".{k}{p}"), e))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => JsonTemplate::Plain(other.clone()),
        })
    }

    pub(crate) fn render(&self, vars: &Vars) -> Value {
        match self {
            JsonTemplate::Plain(v) => v.clone(),
            JsonTemplate::Text(t) => t.render_value(vars),
            JsonTemplate::Array(items) => {
                Value::Array(items.iter().map(|t| t.render(vars)).collect())
            }
            JsonTemplate::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, t)| (k.clone(), t.render(vars)))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> Vec<String> {
        ["token", "product_id", "customers.name"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn renders_variables_in_text_and_json() {
        let t = Template::compile("/products/{{ product_id }}?by={{customers.name}}", &known())
            .unwrap();
        let vars: Vars = [
            ("product_id".to_owned(), json!(7)),
            ("customers.name".to_owned(), json!("ada")),
        ]
        .into_iter()
        .collect();
        assert_eq!(t.render(&vars), "/products/7?by=ada");
        let body = JsonTemplate::compile(
            &json!({"product_id": "{{product_id}}", "note": "for {{customers.name}}", "n": 2}),
            &known(),
        )
        .unwrap();
        assert_eq!(
            body.render(&vars),
            json!({"product_id": 7, "note": "for ada", "n": 2})
        );
    }

    #[test]
    fn unknown_variables_are_errors_with_a_suggestion() {
        let err = Template::compile("Bearer {{tokn}}", &known()).unwrap_err();
        assert!(
            err.starts_with(
                "unknown variable `{{tokn}}` (did you mean `{{token}}`?); defined here: `token`"
            ),
            "{err}"
        );
        let err = Template::compile("x {{token", &known()).unwrap_err();
        assert!(err.contains("without a closing"), "{err}");
        let (path, err) =
            JsonTemplate::compile(&json!({"items": [{"id": "{{nope}}"}]}), &known()).unwrap_err();
        assert_eq!(path, ".items[0].id");
        assert!(err.contains("`{{nope}}`"), "{err}");
    }
}
