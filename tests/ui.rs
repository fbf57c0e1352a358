//! Compile-time rules of `#[secure]`: each case under tests/ui/fail must fail with its .stderr; tests/ui/pass must compile.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
