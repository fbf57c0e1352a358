//! The rate grammar (`Rate::parse_list`, the attribute's `rate` key at run time): never
//! panics, and what it accepts prints back to a string that parses to the same rates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_api_runtime::Rate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rates) = Rate::parse_list(text) {
        assert!(!rates.is_empty());
        let printed: Vec<String> = rates.iter().map(Rate::to_string).collect();
        let again = Rate::parse_list(&printed.join("; ")).expect("a printed rate parses");
        assert_eq!(rates, again);
        for rate in rates {
            assert!(rate.count() > 0 && rate.period_secs() > 0);
        }
    }
});
