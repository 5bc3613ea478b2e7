//! Fuzzes log redaction: never panics and is idempotent.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_core::redact::redact;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let once = redact(&s).into_owned();
    assert_eq!(redact(&once), once.as_str());
});
