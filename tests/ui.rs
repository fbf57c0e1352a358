//! Compile-time rules of `#[secure]`: each case under tests/ui/fail must fail with its .stderr; tests/ui/pass must compile.
//! The cases under tests/ui/declared* sit next to a `secure-api.roles` declaration.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/declared/pass/*.rs");
    t.compile_fail("tests/ui/declared/fail/*.rs");
    t.compile_fail("tests/ui/declared_cycle/*.rs");
    t.compile_fail("tests/ui/declared_malformed/*.rs");
}
