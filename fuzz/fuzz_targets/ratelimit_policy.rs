//! Fuzzes rate-limit policy parsing from untrusted JSON: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = palisade_ratelimit::Policy::parse(&v);
    }
});
