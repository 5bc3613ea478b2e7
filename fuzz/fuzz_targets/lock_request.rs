//! Fuzzes lock request validation (name, holder, TTL, wait): never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, i64, i64)| {
    let (name, holder, ttl_ms, wait_ms) = input;
    let errors = palisade_locks::validate(name, holder, ttl_ms, wait_ms);
    if errors.is_empty() {
        assert!(palisade_locks::LockAcquire::parse(name, holder, ttl_ms).is_ok());
    }
});
