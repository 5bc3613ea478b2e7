//! Conformance suite of the ratelimit stores: identical decisions on every backend.
//!
//! With a controllable clock every value (remaining, reset-after, retry-after) is asserted
//! exactly while time is driven; a store on its server's clock (Redis `TIME`) runs the checks
//! that need no time travel, with long windows, plus short real-time checks
//! ([`conformance!`](crate::conformance)`(ratelimit, manual_clock | real_time, ..)`).

use palisade_core::{ManualClock, TenantId};
use palisade_ratelimit::{
    Algorithm, Check, Decision, KeyPart, Mode, Outcome, Policy, RateLimitStore,
};
use std::sync::Arc;
use std::time::Duration;

/// A start instant aligned to every window the suite uses (a whole day).
pub const START_MS: i64 = 1_700_006_400_000;

pub use crate::Time;

struct Ctx {
    store: Arc<dyn RateLimitStore>,
    time: Time,
}

impl Ctx {
    /// The subject of one check; a manual clock starts at [`START_MS`].
    fn new(store: Arc<dyn RateLimitStore>, time: Time) -> Self {
        if let Time::Manual(c) = &time {
            c.set(START_MS);
        }
        Self { store, time }
    }

    /// The manual clock of a check that drives time.
    fn clock(&self) -> &ManualClock {
        self.manual().expect(
            "this check drives the clock: run it with conformance!(ratelimit, manual_clock, ..)",
        )
    }

    fn manual(&self) -> Option<&ManualClock> {
        match &self.time {
            Time::Manual(c) => Some(c),
            Time::Real => None,
        }
    }

    async fn check(&self, t: &TenantId, checks: &[Check]) -> Vec<Decision> {
        self.store.ratelimit_check(t, checks).await.expect("check")
    }

    async fn one(&self, t: &TenantId, p: &Policy, key: &str, cost: u64) -> Decision {
        self.check(t, &[chk(p, key, cost)]).await[0]
    }
}

fn tenant() -> TenantId {
    TenantId::generate()
}

fn policy(name: &str, algorithm: Algorithm, quota: u64, window: Duration) -> Policy {
    Policy::new(name, algorithm, quota, window, vec![KeyPart::Tenant])
}

fn chk(p: &Policy, key: &str, cost: u64) -> Check {
    Check {
        policy: p.name.clone(),
        limit: p.limit(),
        key: key.to_owned(),
        cost,
    }
}

/// `(allowed, remaining, reset_after_ms, retry_after_ms)`.
fn v(d: &Decision) -> (bool, u64, u64, u64) {
    (d.allowed, d.remaining, d.reset_after_ms, d.retry_after_ms)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// GCRA with a burst: exact remaining, reset-after and retry-after while time is driven.
pub async fn gcra_sequence(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let (t, clock) = (tenant(), c.clock());
    let mut p = policy("gcra", Algorithm::Gcra, 10, Duration::from_secs(1));
    p.burst = Some(3);
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(v(&c.one(&t, &p, "k", 1).await));
    }
    assert_eq!(
        got,
        [
            (true, 2, 100, 0),
            (true, 1, 200, 0),
            (true, 0, 300, 0),
            (false, 0, 300, 100)
        ]
    );
    clock.advance(ms(99));
    assert_eq!(v(&c.one(&t, &p, "k", 1).await), (false, 0, 201, 1));
    clock.advance(ms(1));
    assert_eq!(v(&c.one(&t, &p, "k", 1).await), (true, 0, 300, 0));
    clock.advance(ms(250));
    assert_eq!(v(&c.one(&t, &p, "k", 2).await), (true, 0, 250, 0));
    assert_eq!(v(&c.one(&t, &p, "k", 3).await), (false, 0, 250, 250));
    clock.advance(ms(10_000));
    assert_eq!(v(&c.one(&t, &p, "k", 3).await), (true, 0, 300, 0));
    assert_eq!(v(&c.one(&t, &p, "other", 1).await), (true, 2, 100, 0));
}

/// A fixed window: exact values, and the quota resets at the window boundary.
pub async fn fixed_window_sequence(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let (t, clock) = (tenant(), c.clock());
    clock.set(START_MS + 2_500);
    let p = policy("fixed", Algorithm::FixedWindow, 3, Duration::from_secs(10));
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(v(&c.one(&t, &p, "k", 1).await));
    }
    assert_eq!(
        got,
        [
            (true, 2, 7_500, 0),
            (true, 1, 7_500, 0),
            (true, 0, 7_500, 0),
            (false, 0, 7_500, 7_500)
        ]
    );
    clock.set(START_MS + 9_999);
    assert_eq!(v(&c.one(&t, &p, "k", 1).await), (false, 0, 1, 1));
    clock.set(START_MS + 10_000);
    assert_eq!(
        v(&c.one(&t, &p, "k", 1).await),
        (true, 2, 10_000, 0),
        "resets"
    );
    clock.set(START_MS);
}

/// A sliding window: exact values, and no second quota at a window boundary.
pub async fn sliding_window_sequence(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let (t, clock) = (tenant(), c.clock());
    clock.set(START_MS + 9_500);
    let p = policy(
        "sliding",
        Algorithm::SlidingWindow,
        3,
        Duration::from_secs(10),
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(v(&c.one(&t, &p, "k", 1).await));
    }
    // Sub-windows of 1 s; the one holding 9.5 s counts until 19.999 s.
    assert_eq!(
        got,
        [
            (true, 2, 10_499, 0),
            (true, 1, 10_499, 0),
            (true, 0, 10_499, 0)
        ]
    );
    clock.set(START_MS + 10_000);
    assert_eq!(
        v(&c.one(&t, &p, "k", 1).await),
        (false, 0, 9_999, 9_999),
        "no second quota at a window boundary"
    );
    clock.set(START_MS + 12_000);
    assert_eq!(v(&c.one(&t, &p, "k", 2).await), (false, 0, 7_999, 7_999));
    clock.set(START_MS + 19_998);
    assert_eq!(v(&c.one(&t, &p, "k", 1).await), (false, 0, 1, 1));
    clock.set(START_MS + 19_999);
    assert_eq!(v(&c.one(&t, &p, "k", 1).await), (true, 2, 10_000, 0));
    clock.set(START_MS + 20_500);
    assert_eq!(v(&c.one(&t, &p, "k", 2).await), (true, 0, 10_499, 0));
    assert_eq!(v(&c.one(&t, &p, "k", 1).await), (false, 0, 10_499, 9_499));
    clock.set(START_MS);
}

/// A violation blocks for the block duration, beyond the window, without extending it.
pub async fn block_after_violation(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let (t, clock) = (tenant(), c.clock());
    let mut p = policy("blocky", Algorithm::FixedWindow, 1, Duration::from_secs(1));
    p.block = Some(Duration::from_secs(5));
    assert!(c.one(&t, &p, "k", 1).await.allowed);
    assert_eq!(v(&c.one(&t, &p, "k", 1).await), (false, 0, 5_000, 5_000));
    clock.advance(ms(2_000));
    assert_eq!(
        v(&c.one(&t, &p, "k", 1).await),
        (false, 0, 3_000, 3_000),
        "blocked beyond the window, and the block is not extended"
    );
    clock.advance(ms(3_000));
    assert_eq!(v(&c.one(&t, &p, "k", 1).await), (true, 0, 1_000, 0));
    clock.set(START_MS);
}

/// On the server's clock: a window denies then allows, and a block denies but never cost 0.
pub async fn real_time_window_and_block(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let t = tenant();
    let p = policy("rt", Algorithm::FixedWindow, 2, Duration::from_secs(1));
    let mut denied = None;
    for _ in 0..10 {
        let d = c.one(&t, &p, "k", 1).await;
        if !d.allowed {
            denied = Some(d);
            break;
        }
    }
    let d = denied.expect("a third unit in one second is denied (or the window rolled)");
    assert!((1..=1000).contains(&d.retry_after_ms), "{d:?}");
    tokio::time::sleep(ms(d.retry_after_ms + 5)).await;
    assert!(
        c.one(&t, &p, "k", 1).await.allowed,
        "the next window allows"
    );

    let mut b = policy("rtb", Algorithm::Gcra, 1, Duration::from_secs(3600));
    b.block = Some(Duration::from_millis(700));
    assert!(c.one(&t, &b, "k", 1).await.allowed);
    let d = c.one(&t, &b, "k", 1).await;
    assert!(!d.allowed);
    let d = c.one(&t, &b, "k", 0).await;
    assert!(d.allowed, "cost 0 is never limited, even while blocked");
    let d = c.one(&t, &b, "k", 1).await;
    assert!(!d.allowed && d.retry_after_ms <= 700, "{d:?}");
}

/// Cost 0 tracks without limiting; a denied cost consumes nothing.
pub async fn cost_zero_and_above_one(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let t = tenant();
    let p = policy(
        "cost",
        Algorithm::FixedWindow,
        5,
        Duration::from_secs(86_400),
    );
    let d = c.one(&t, &p, "k", 0).await;
    assert_eq!(
        (d.allowed, d.remaining, d.outcome),
        (true, 5, Outcome::Allowed)
    );
    assert_eq!(c.one(&t, &p, "k", 3).await.remaining, 2);
    let d = c.one(&t, &p, "k", 3).await;
    assert_eq!(
        (d.allowed, d.remaining),
        (false, 2),
        "a denied cost consumes nothing"
    );
    assert_eq!(c.one(&t, &p, "k", 0).await.remaining, 2);
    assert_eq!(c.one(&t, &p, "k", 2).await.remaining, 0);
    let d = c.one(&t, &p, "k", 0).await;
    assert!(d.allowed, "cost 0 tracks without limiting");
    let g = policy("costg", Algorithm::Gcra, 4, Duration::from_secs(3_600));
    assert_eq!(c.one(&t, &g, "k", 4).await.remaining, 0);
    assert!(!c.one(&t, &g, "k", 1).await.allowed);
}

/// Several checks are decided together: one denial consumes none of the others.
pub async fn all_or_nothing_across_policies(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let t = tenant();
    let day = Duration::from_secs(86_400);
    let a = policy("a", Algorithm::FixedWindow, 5, day);
    let b = policy("b", Algorithm::SlidingWindow, 1, day);
    let g = policy("g", Algorithm::Gcra, 3, day);
    let both = [chk(&a, "k", 1), chk(&b, "k", 1), chk(&g, "k", 1)];
    let d = c.check(&t, &both).await;
    assert!(d.iter().all(|d| d.allowed));
    assert_eq!(d.iter().map(|d| d.remaining).collect::<Vec<_>>(), [4, 0, 2]);
    let d = c.check(&t, &both).await;
    assert_eq!(
        d.iter().map(|d| (d.allowed, d.outcome)).collect::<Vec<_>>(),
        [
            (true, Outcome::Allowed),
            (false, Outcome::Limited),
            (true, Outcome::Allowed)
        ]
    );
    assert_eq!(d[0].remaining, 4, "a was not consumed");
    assert_eq!(d[2].remaining, 2, "g was not consumed");
    assert_eq!(c.one(&t, &a, "k", 1).await.remaining, 3);
    assert_eq!(c.one(&t, &g, "k", 1).await.remaining, 1);
    let over = c.check(&t, &[chk(&a, "k", 1), chk(&g, "k", 2)]).await;
    assert!(over[0].allowed && !over[1].allowed);
    assert_eq!(c.one(&t, &a, "k", 0).await.remaining, 3, "none consumed");
}

/// One key in two tenants is two counters.
pub async fn tenants_are_isolated(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let (x, y) = (tenant(), tenant());
    let p = policy(
        "iso",
        Algorithm::FixedWindow,
        1,
        Duration::from_secs(86_400),
    );
    assert!(c.one(&x, &p, "same", 1).await.allowed);
    assert!(!c.one(&x, &p, "same", 1).await.allowed);
    let d = c.one(&y, &p, "same", 1).await;
    assert!(d.allowed, "another tenant's key is another counter");
    assert_eq!(d.remaining, 0);
    assert!(c.one(&x, &p, "other", 1).await.allowed);
}

/// A shadow limit reports when it would limit but never denies nor stops the others.
pub async fn shadow_reports_but_never_denies(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let t = tenant();
    let day = Duration::from_secs(86_400);
    let mut s = policy("shadow", Algorithm::Gcra, 1, day);
    s.mode = Mode::Shadow;
    let e = policy("enforced", Algorithm::FixedWindow, 10, day);
    let pair = [chk(&s, "k", 1), chk(&e, "k", 1)];
    let d = c.check(&t, &pair).await;
    assert_eq!((d[0].outcome, d[1].remaining), (Outcome::Allowed, 9));
    let d = c.check(&t, &pair).await;
    assert_eq!(
        (d[0].allowed, d[0].outcome, d[0].remaining),
        (true, Outcome::ShadowLimited, 0)
    );
    assert!(
        d[0].retry_after_ms > 0,
        "shadow reports when it would allow again"
    );
    assert_eq!(
        (d[1].allowed, d[1].remaining),
        (true, 8),
        "a shadow limit does not stop the enforced one consuming"
    );
}

/// A reset forgets one key of one tenant.
pub async fn reset_forgets_a_key(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let t = tenant();
    let p = policy(
        "reset",
        Algorithm::SlidingWindow,
        1,
        Duration::from_secs(86_400),
    );
    assert!(!c.store.ratelimit_reset(&t, "reset", "k").await.unwrap());
    assert!(c.one(&t, &p, "k", 1).await.allowed);
    assert!(!c.one(&t, &p, "k", 1).await.allowed);
    assert!(!c
        .store
        .ratelimit_reset(&tenant(), "reset", "k")
        .await
        .unwrap());
    assert!(c.store.ratelimit_reset(&t, "reset", "k").await.unwrap());
    assert!(c.one(&t, &p, "k", 1).await.allowed);
}

/// 40 concurrent two-check decisions grant exactly the smaller quota.
pub async fn concurrent_checks_grant_exactly_the_quota(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = &Ctx::new(store, time);
    let t = tenant();
    let day = Duration::from_secs(86_400);
    let g = policy("race_g", Algorithm::Gcra, 10, day);
    let f = policy("race_f", Algorithm::FixedWindow, 7, day);
    let tasks = (0..40).map(|_| {
        let (store, t) = (c.store.clone(), t.clone());
        let checks = [chk(&g, "k", 1), chk(&f, "k", 1)];
        tokio::spawn(async move { store.ratelimit_check(&t, &checks).await })
    });
    let mut allowed = 0;
    for r in futures::future::join_all(tasks).await {
        let d = r.unwrap().expect("concurrent check must not fail");
        allowed += d.iter().all(|d| d.allowed) as u32;
    }
    assert_eq!(allowed, 7, "exactly the smaller quota is granted");
    assert_eq!(c.one(&t, &g, "k", 0).await.remaining, 3);
}

/// One check per decision (the stores' single-check fast paths) racing on one key.
pub async fn concurrent_single_checks_grant_exactly_the_quota(
    store: Arc<dyn RateLimitStore>,
    time: Time,
) {
    let c = &Ctx::new(store, time);
    let t = tenant();
    let day = Duration::from_secs(86_400);
    for (name, algorithm, quota) in [
        ("race1_g", Algorithm::Gcra, 9),
        ("race1_f", Algorithm::FixedWindow, 7),
        ("race1_s", Algorithm::SlidingWindow, 5),
    ] {
        let p = policy(name, algorithm, quota, day);
        let tasks = (0..30).map(|_| {
            let (store, t) = (c.store.clone(), t.clone());
            let checks = [chk(&p, "k", 1)];
            tokio::spawn(async move { store.ratelimit_check(&t, &checks).await })
        });
        let mut allowed = 0;
        for r in futures::future::join_all(tasks).await {
            let d = r.unwrap().expect("concurrent check must not fail");
            allowed += d[0].allowed as u64;
        }
        assert_eq!(allowed, quota, "{name}: exactly the quota is granted");
        assert_eq!(c.one(&t, &p, "k", 0).await.remaining, 0, "{name}");
    }
}

/// Cases random steps reach too rarely: a block that outlives a change of its policy to one
/// without a block, seen by an enforced and by a shadow check, with cost 0 and cost 1, and the
/// first allowed check once the block is over (each after `advance` ms).
fn scripted_steps() -> Vec<(u64, Vec<Check>)> {
    let mut blocking = policy("s", Algorithm::Gcra, 1, ms(1000));
    blocking.block = Some(ms(5000));
    let plain = policy("s", Algorithm::Gcra, 1, ms(1000));
    let mut shadow = plain.clone();
    shadow.mode = Mode::Shadow;
    let on = |p: &Policy, cost| vec![chk(p, "blocked", cost)];
    vec![
        (0, on(&blocking, 1)),
        (0, on(&blocking, 1)),
        (2000, on(&plain, 1)),
        (0, on(&shadow, 1)),
        (0, on(&shadow, 0)),
        (0, on(&plain, 0)),
        (3500, on(&shadow, 1)),
        (0, on(&plain, 1)),
    ]
}

/// A tiny deterministic generator (xorshift64*), so a failing sequence replays exactly.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// One random decision: 1 to 3 checks over policies `a`..`c` and keys `k1`, `k2`, with the
/// parameters [`same_as_memory`] explores.
pub fn random_checks(r: &mut Rng) -> Vec<Check> {
    let mut checks: Vec<Check> = Vec::new();
    for _ in 0..1 + r.below(3) {
        let name = ["a", "b", "c"][r.below(3) as usize];
        let key = ["k1", "k2"][r.below(2) as usize];
        if !checks.iter().any(|c| c.policy == name && c.key == key) {
            checks.push(random_check(r, name, key));
        }
    }
    checks
}

fn random_check(r: &mut Rng, policy: &str, key: &str) -> Check {
    let algorithm = [
        Algorithm::Gcra,
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
    ][r.below(3) as usize];
    let quota = 1 + r.below(5);
    let mut p = self::policy(policy, algorithm, quota, ms(1000 + r.below(3) * 500));
    if algorithm == Algorithm::Gcra && r.below(2) == 0 {
        p.burst = Some(1 + r.below(4));
    }
    if r.below(4) == 0 {
        p.block = Some(ms(1 + r.below(2500)));
    }
    if r.below(5) == 0 {
        p.mode = Mode::Shadow;
    }
    let cost = r.below(p.limit().capacity() + 1);
    chk(&p, key, cost)
}

/// `store` decides exactly like the in-process memory store over 3000 random decisions
/// ([`same_as_memory`]).
pub async fn decides_exactly_like_the_memory_store(store: Arc<dyn RateLimitStore>, time: Time) {
    let Time::Manual(clock) = time else {
        panic!("this check drives the clock: run it with conformance!(ratelimit, manual_clock, ..)")
    };
    same_as_memory(store, clock, 3_000).await;
}

/// `ratelimit_purge_expired` deletes state past its expiry, at most `limit` rows a call (for
/// the stores that purge: SQLite, PostgreSQL).
pub async fn expired_state_is_purged(store: Arc<dyn RateLimitStore>, time: Time) {
    let c = Ctx::new(store, time);
    let (t, clock) = (tenant(), c.clock());
    clock.set(1_000_000);
    let p = policy("p", Algorithm::FixedWindow, 5, Duration::from_secs(1));
    for k in ["a", "b", "c"] {
        c.one(&t, &p, k, 1).await;
    }
    assert_eq!(c.store.ratelimit_purge_expired(100).await.unwrap(), 0);
    clock.advance(Duration::from_secs(1));
    assert_eq!(c.store.ratelimit_purge_expired(2).await.unwrap(), 2);
    assert_eq!(c.store.ratelimit_purge_expired(100).await.unwrap(), 1);
}

/// Differential check: `store` decides exactly like the in-process
/// [`palisade_ratelimit::MemoryRateLimitStore`] (the reference `decide_all`) over `steps`
/// random decisions of 1 to 3 checks — every algorithm, bursts, blocks, shadow mode, cost 0,
/// the algorithm or window of a key changing between checks — on one driven clock.
pub async fn same_as_memory(store: Arc<dyn RateLimitStore>, clock: Arc<ManualClock>, steps: u32) {
    let reference = palisade_ratelimit::MemoryRateLimitStore::default().with_clock(clock.clone());
    let t = tenant();
    clock.set(START_MS + 123);
    for (step, (advance, checks)) in scripted_steps().into_iter().enumerate() {
        clock.advance(ms(advance));
        let want = reference.ratelimit_check(&t, &checks).await.unwrap();
        let got = store.ratelimit_check(&t, &checks).await.expect("check");
        assert_eq!(got, want, "scripted step {step}: {checks:?}");
    }
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for step in 0..steps {
        let jump = match r.below(10) {
            0 => 5_000,
            1..=3 => 0,
            _ => r.below(700),
        };
        clock.advance(ms(jump));
        let checks = random_checks(&mut r);
        let want = reference.ratelimit_check(&t, &checks).await.unwrap();
        let got = store.ratelimit_check(&t, &checks).await.expect("check");
        assert_eq!(got, want, "step {step}: {checks:?}");
    }
}
