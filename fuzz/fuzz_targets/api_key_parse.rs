//! The API-key parser (`ApiKey::parse`, run on every `X-API-Key` header before any store
//! lookup): never panics, answers a fixed reason that cannot quote the input, and what it accepts is the
//! input itself and parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_api_runtime::ApiKey;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ApiKey::parse(text) {
        Ok(key) => {
            assert_eq!(key.expose(), text);
            assert!(text.starts_with(key.prefix()));
            assert_eq!(ApiKey::parse(key.expose()).as_ref(), Ok(&key));
            assert!(!format!("{key:?}").contains(key.expose()));
        }
        // The message is a fixed reason (a `&'static str`): nothing of the input in it.
        Err(err) => assert_eq!(
            err.to_string(),
            format!("invalid API key: {}", err.reason())
        ),
    }
});
