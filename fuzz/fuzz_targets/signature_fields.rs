//! The structured-field parsers of HTTP Message Signatures (`Signature-Input` and
//! `Signature`, read on every signed request before any key lookup): never panic, and the
//! signature parameters of an accepted input print back to a member that parses to the same
//! components and parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_api_runtime::signature::{parse_signature, parse_signature_input};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_signature(text);
    let Ok(inputs) = parse_signature_input(text) else {
        return;
    };
    for input in inputs {
        let printed = format!("{}={}", input.label(), input.signature_params());
        let again = parse_signature_input(&printed).expect("printed parameters parse");
        assert_eq!(again.len(), 1);
        let again = &again[0];
        assert_eq!(again.label(), input.label());
        assert_eq!(again.components(), input.components());
        assert_eq!(again.created(), input.created());
        assert_eq!(again.keyid(), input.keyid());
        assert_eq!(again.nonce(), input.nonce());
        assert_eq!(again.alg(), input.alg());
    }
});
