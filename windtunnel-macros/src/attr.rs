//! Parsing of the `#[agent(..)]` and `#[scenario(..)]` arguments and the checks of the
//! function they sit on. Only `impl`s that parse and validate; code generation is in `expand.rs`.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Error, Expr, ExprLit, FnArg, ItemFn, Lit, LitStr, ReturnType, Token, Type};

/// The arguments of `#[agent(..)]`.
#[derive(Default)]
pub(crate) struct AgentArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) weight: Option<u32>,
}

/// The arguments of `#[scenario(..)]`.
#[derive(Default)]
pub(crate) struct ScenarioArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) tags: Option<Vec<LitStr>>,
    pub(crate) ignore: Option<bool>,
    pub(crate) timeout_ms: Option<u64>,
}

const AGENT_KEYS: &str = "expected one of: `weight`, `name`";
const SCENARIO_KEYS: &str = "expected one of: `name`, `tags`, `ignore`, `timeout`";

/// Stores `value` in `slot`, or fails with "specified more than once" at `span`: the one place
/// duplicate keys are detected, so the check cannot drift between keys.
fn set_once<T>(slot: &mut Option<T>, value: T, key: &syn::Path) -> syn::Result<()> {
    if slot.is_some() {
        let name = key.get_ident().map(ToString::to_string).unwrap_or_default();
        return Err(Error::new_spanned(
            key,
            format!("`{name}` specified more than once"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

fn lit_str(meta: &syn::meta::ParseNestedMeta<'_>, example: &str) -> syn::Result<LitStr> {
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) if s.value().chars().any(char::is_control) => Err(Error::new_spanned(
            s,
            "expected no control characters (a newline or an escape would break `--list`, \
             JUnit and the terminal)",
        )),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) if !s.value().trim().is_empty() => Ok(s),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Err(Error::new_spanned(s, "expected a non-empty string")),
        other => Err(Error::new_spanned(
            other,
            format!("expected a string literal, like {example}"),
        )),
    }
}

impl AgentArgs {
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Self> {
        let mut out = AgentArgs::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                set_once(
                    &mut out.name,
                    lit_str(&meta, "`name = \"shopper\"`")?,
                    &meta.path,
                )
            } else if meta.path.is_ident("weight") {
                let expr: Expr = meta.value()?.parse()?;
                let weight = match &expr {
                    Expr::Lit(ExprLit {
                        lit: Lit::Int(i), ..
                    }) => i.base10_parse::<u32>().ok(),
                    _ => None,
                };
                match weight {
                    Some(w) if w >= 1 => set_once(&mut out.weight, w, &meta.path),
                    _ => Err(Error::new_spanned(
                        expr,
                        "expected a positive integer weight, like `weight = 3`",
                    )),
                }
            } else {
                Err(meta.error(format!("unknown `agent` attribute key; {AGENT_KEYS}")))
            }
        });
        syn::parse::Parser::parse2(parser, args)?;
        Ok(out)
    }
}

impl ScenarioArgs {
    pub(crate) fn parse(args: TokenStream) -> syn::Result<Self> {
        let mut out = ScenarioArgs::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("name") {
                set_once(
                    &mut out.name,
                    lit_str(&meta, "`name = \"checkout\"`")?,
                    &meta.path,
                )
            } else if meta.path.is_ident("tags") {
                let expr: Expr = meta.value()?.parse()?;
                let Expr::Array(array) = &expr else {
                    return Err(Error::new_spanned(
                        expr,
                        "expected an array of string literals, like `tags = [\"nightly\"]`",
                    ));
                };
                let mut tags = Vec::new();
                for elem in &array.elems {
                    match elem {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) if is_valid_tag(&s.value()) => tags.push(s.clone()),
                        other => {
                            return Err(Error::new_spanned(
                                other,
                                "expected a tag: a string of letters, digits, `-`, `_`, `.` or `:`",
                            ));
                        }
                    }
                }
                set_once(&mut out.tags, tags, &meta.path)
            } else if meta.path.is_ident("ignore") {
                let value = if meta.input.peek(Token![=]) {
                    let expr: Expr = meta.value()?.parse()?;
                    match expr {
                        Expr::Lit(ExprLit {
                            lit: Lit::Bool(b), ..
                        }) => b.value,
                        other => {
                            return Err(Error::new_spanned(
                                other,
                                "expected `true` or `false`, or just `ignore`",
                            ));
                        }
                    }
                } else {
                    true
                };
                set_once(&mut out.ignore, value, &meta.path)
            } else if meta.path.is_ident("timeout") {
                let lit = lit_str(&meta, "`timeout = \"5m\"`")?;
                let ms = match humantime::parse_duration(&lit.value()) {
                    Ok(d) if !d.is_zero() => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                    Ok(_) => return Err(Error::new_spanned(lit, "the timeout must be above zero")),
                    Err(e) => {
                        return Err(Error::new_spanned(
                            lit,
                            format!(
                                "invalid duration ({e}); expected e.g. \"30s\", \"5m\", \"1h 30m\""
                            ),
                        ));
                    }
                };
                set_once(&mut out.timeout_ms, ms, &meta.path)
            } else {
                Err(meta.error(format!("unknown `scenario` attribute key; {SCENARIO_KEYS}")))
            }
        });
        syn::parse::Parser::parse2(parser, args)?;
        Ok(out)
    }
}

fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// What the single parameter of the function must look like.
pub(crate) enum Param {
    /// `a: &mut Agent`
    AgentRef,
    /// `s: Scenario`
    ScenarioValue,
}

/// Checks the shape of the function: `async`, no generics, one parameter of the right form, a
/// declared return type. Type mismatches beyond that are reported by rustc at spans we set.
pub(crate) fn check_fn(item: &ItemFn, param: Param, what: &str) -> syn::Result<()> {
    let sig = &item.sig;
    let usage = match param {
        Param::AgentRef => "`async fn name(a: &mut Agent) -> Result<()>`",
        Param::ScenarioValue => "`async fn name(s: Scenario) -> Result<()>`",
    };
    if sig.asyncness.is_none() {
        return Err(Error::new_spanned(
            sig.fn_token,
            format!("#[{what}] needs an `async fn`; expected {usage}"),
        ));
    }
    if let Some(c) = &sig.constness {
        return Err(Error::new_spanned(
            c,
            format!("#[{what}] cannot be a `const fn`"),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(Error::new_spanned(
            &sig.generics,
            format!("#[{what}] functions cannot be generic; expected {usage}"),
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(Error::new_spanned(v, format!("expected {usage}")));
    }
    if sig.inputs.len() != 1 {
        let span = if sig.inputs.is_empty() {
            sig.paren_token.span.join()
        } else {
            sig.inputs.span()
        };
        return Err(Error::new(
            span,
            format!("#[{what}] takes exactly one parameter; expected {usage}"),
        ));
    }
    let arg = &sig.inputs[0];
    let FnArg::Typed(pat_ty) = arg else {
        return Err(Error::new_spanned(
            arg,
            format!("#[{what}] cannot take `self`; expected {usage}"),
        ));
    };
    let ok = match (&param, &*pat_ty.ty) {
        (Param::AgentRef, Type::Reference(r)) => r.mutability.is_some(),
        (Param::AgentRef, _) => false,
        (Param::ScenarioValue, Type::Reference(_)) => false,
        (Param::ScenarioValue, _) => true,
    };
    if !ok {
        return Err(Error::new_spanned(
            &pat_ty.ty,
            format!("wrong parameter type; expected {usage}"),
        ));
    }
    if let ReturnType::Default = sig.output {
        return Err(Error::new(
            sig.paren_token.span.close(),
            format!("#[{what}] must return `Result<()>`; expected {usage}"),
        ));
    }
    Ok(())
}

/// The span to blame when the function's future has the wrong output: its return type.
pub(crate) fn output_span(item: &ItemFn) -> Span {
    match &item.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => item.sig.ident.span(),
    }
}
