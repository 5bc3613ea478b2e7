//! Fuzzes the API key token parser: never panics; whatever parses prints back identically.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_tenancy::ApiKeyToken;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(t) = ApiKeyToken::parse(s) {
            assert_eq!(t.expose(), s);
        }
    }
});
