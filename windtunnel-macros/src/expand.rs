//! Code generation for `#[agent]` and `#[scenario]`. Only `quote!`: validation happens in
//! `attr.rs`, and on any error the original item is emitted beside the error so that the rest of
//! the crate (and IDE completion) still sees the function.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ItemFn;

use crate::attr::{self, AgentArgs, Param, ScenarioArgs};

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote! { #item #error }
}

pub(crate) fn agent(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => return with_error(item, e),
    };
    let args = match AgentArgs::parse(args)
        .and_then(|a| attr::check_fn(&func, Param::AgentRef, "agent").map(|()| a))
    {
        Ok(a) => a,
        Err(e) => return with_error(item, e),
    };
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = &func;
    let (outer, inner): (Vec<_>, Vec<_>) = attrs
        .iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Outer));
    let stmts = &block.stmts;
    let ident = &sig.ident;
    let name = match &args.name {
        Some(lit) => quote!(#lit),
        None => {
            let s = ident.to_string();
            quote!(#s)
        }
    };
    let weight = args.weight.unwrap_or(1);
    let call = quote_spanned! {attr::output_span(&func)=>
        ::std::boxed::Box::pin(#ident(agent))
    };
    quote! {
        #(#outer)*
        #[allow(non_upper_case_globals)]
        #vis const #ident: ::windtunnel::AgentFn = {
            #[allow(clippy::needless_lifetimes)]
            #sig {
                #(#inner)*
                #(#stmts)*
            }

            fn __windtunnel_agent<'a>(
                agent: &'a mut ::windtunnel::Agent,
            ) -> ::windtunnel::__private::AgentFuture<'a> {
                #call
            }

            ::windtunnel::__private::agent_fn(#name, #weight, __windtunnel_agent)
        };
    }
}

pub(crate) fn scenario(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => return with_error(item, e),
    };
    let args = match ScenarioArgs::parse(args)
        .and_then(|a| attr::check_fn(&func, Param::ScenarioValue, "scenario").map(|()| a))
    {
        Ok(a) => a,
        Err(e) => return with_error(item, e),
    };
    let ident = &func.sig.ident;
    let fn_name = ident.to_string();
    let name = match &args.name {
        Some(lit) => quote!(::std::option::Option::Some(#lit)),
        None => quote!(::std::option::Option::None),
    };
    let tags = args.tags.unwrap_or_default();
    let ignore = args.ignore.unwrap_or(false);
    let timeout = match args.timeout_ms {
        Some(ms) => quote!(::std::option::Option::Some(::std::time::Duration::from_millis(#ms))),
        None => quote!(::std::option::Option::None),
    };
    let call = quote_spanned! {attr::output_span(&func)=>
        ::std::boxed::Box::pin(#ident(scenario))
    };
    quote! {
        #func

        const _: () = {
            fn __windtunnel_scenario(
                scenario: ::windtunnel::Scenario,
            ) -> ::windtunnel::__private::ScenarioFuture {
                #call
            }

            ::windtunnel::__private::inventory::submit! {
                ::windtunnel::__private::ScenarioRegistration {
                    fn_name: #fn_name,
                    name: #name,
                    module_path: ::std::module_path!(),
                    file: ::std::file!(),
                    line: ::std::line!(),
                    tags: &[#(#tags),*],
                    ignore: #ignore,
                    timeout: #timeout,
                    run: __windtunnel_scenario,
                }
            }
        };
    }
}
