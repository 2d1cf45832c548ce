//! Compile-time behaviour of `#[agent]` and `#[scenario]`: misuse is an error pointing at the
//! offending tokens (snapshots in `ui/*.stderr`, regenerate with `TRYBUILD=overwrite`), and
//! every documented form compiles.

#[test]
fn macros() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
