//! Fuzzes the parser of a delivery target's `Retry-After` (delay-seconds or an HTTP-date) and
//! the retry decision built on it: never panics, never asks for a negative delay, and a retry
//! is never scheduled before the schedule's delay nor after its longest delay.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_webhooks::delivery::{outcome_of, retry_after_ms};
use palisade_webhooks::Outcome;

fuzz_target!(|input: (String, i64, u8)| {
    let (value, now_ms, attempt) = input;
    let now_ms = now_ms.rem_euclid(4_102_444_800_000); // 1970..2100
    let asked = retry_after_ms(&value, now_ms);
    assert!(asked.is_none_or(|ms| ms >= 0), "a negative delay");
    let delays = [5_000, 300_000, 1_800_000];
    let attempt = u32::from(attempt % 4) + 1;
    match outcome_of(Some(503), asked, "x".into(), attempt, &delays, now_ms) {
        Outcome::Retry { at_ms, .. } => {
            let own = delays[attempt as usize - 1];
            assert!(at_ms >= now_ms + own, "before the schedule's delay");
            assert!(at_ms <= now_ms + 1_800_000, "after the longest delay");
        }
        Outcome::Failed { .. } => assert_eq!(attempt, 4),
        other => panic!("a 503 came to {other:?}"),
    }
});
