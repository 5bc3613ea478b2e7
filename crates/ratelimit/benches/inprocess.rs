//! In-process keyed decisions: Palisade's memory store against the `governor` crate, same run.
//!
//! `cargo bench -p palisade-ratelimit --bench inprocess` (release). Both limit 10 000 distinct
//! keys at a generous GCRA rate (every decision allowed, so both do the full update), one
//! thread, keys cycled in the same order; the figure is ns per decision, best of 5 rounds.
//! Both read their own clock per decision (governor: quanta; Palisade: its `FastClock`).

use governor::{Quota, RateLimiter as Governor};
use palisade_core::TenantId;
use palisade_ratelimit::{Algorithm, Check, KeyPart, MemoryOptions, MemoryRateLimitStore, Policy};
use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

const KEYS: usize = 10_000;
const ROUNDS: usize = 5;
const PER_ROUND: usize = 2_000_000;

fn best(mut f: impl FnMut() -> Duration) -> f64 {
    (0..ROUNDS)
        .map(|_| f().as_nanos() as f64 / PER_ROUND as f64)
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("user:{i}")).collect();

    let gov = Governor::keyed(Quota::per_second(NonZeroU32::new(1_000_000_000).unwrap()));
    let governor_ns = best(|| {
        let t = Instant::now();
        for i in 0..PER_ROUND {
            black_box(gov.check_key(&keys[i % KEYS]).is_ok());
        }
        t.elapsed()
    });

    let store = MemoryRateLimitStore::new(MemoryOptions::default());
    let tenant = TenantId::parse("bench").unwrap();
    let p = Policy::new(
        "api",
        Algorithm::Gcra,
        1_000_000_000,
        Duration::from_secs(1),
        vec![KeyPart::Principal],
    );
    let checks: Vec<Check> = keys
        .iter()
        .map(|k| Check {
            policy: p.name.clone(),
            limit: p.limit(),
            key: k.clone(),
            cost: 1,
        })
        .collect();
    let palisade_ns = best(|| {
        let t = Instant::now();
        for i in 0..PER_ROUND {
            black_box(store.check_one(&tenant, &checks[i % KEYS]).allowed);
        }
        t.elapsed()
    });
    println!("governor keyed check_key:      {governor_ns:8.1} ns/decision");
    println!("palisade check_one:             {palisade_ns:8.1} ns/decision");
    println!(
        "ratio palisade / governor:     {:8.2}",
        palisade_ns / governor_ns
    );
}
