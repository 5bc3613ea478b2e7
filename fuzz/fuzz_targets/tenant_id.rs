//! Fuzzes tenant id parsing: never panics; accepted ids are safe in keys (no `:` `{` `}`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_core::TenantId;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = TenantId::parse(s) {
            assert!(!t.as_str().contains([':', '{', '}']));
            assert_eq!(t.as_str(), s);
        }
    }
});
