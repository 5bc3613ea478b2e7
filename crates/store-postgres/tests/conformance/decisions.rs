//! PostgreSQL's rate-limit decisions: batches of concurrent checks, row-lock order, the purge index.

use crate::common;
use palisade_store_postgres::PgStore;

use palisade_core::{ManualClock, TenantId};
use palisade_ratelimit::{Algorithm, Check, KeyPart, Policy, RateLimitStore};
use std::sync::Arc;
use std::time::Duration;

/// The purge reaches expired rows through `ratelimit_state_expiry_minute`, an
/// index on a column a decision changes at most once a minute, so decisions stay HOT.
#[tokio::test]
async fn purge_can_use_the_expiry_index() {
    let Some(store) = common::store("purge_can_use_the_expiry_index").await else {
        return;
    };
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT ctid FROM ratelimit_state
         WHERE expires_minute <= 123456789 / 60000 AND expires_at_ms <= 123456789 LIMIT 10",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("ratelimit_state_expiry_minute"), "{plan}");
}

fn limit_of(algorithm: Algorithm, quota: u64) -> palisade_ratelimit::Limit {
    Policy::new(
        "p",
        algorithm,
        quota,
        Duration::from_secs(60),
        vec![KeyPart::Tenant],
    )
    .limit()
}

fn check_on(policy: &str, key: &str, limit: palisade_ratelimit::Limit) -> Check {
    Check {
        policy: policy.into(),
        limit,
        key: key.into(),
        cost: 1,
    }
}

/// Runs `n` concurrent single checks (they share batches) and counts the allowed ones per tenant.
async fn allowed_of(store: &Arc<PgStore>, calls: Vec<(TenantId, Check)>) -> Vec<(TenantId, bool)> {
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|(t, c)| {
            let s = store.clone();
            tokio::spawn(async move {
                let d = s.ratelimit_check(&t, &[c]).await.expect("check");
                (t, d[0].allowed)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn batched_decisions_on_one_key_allow_exactly_the_quota() {
    let Some(store) = common::store("batched_decisions_on_one_key").await else {
        return;
    };
    let store = Arc::new(store.with_clock(ManualClock::new(1_700_000_000_000)));
    let t = TenantId::generate();
    for (i, algorithm) in [
        Algorithm::Gcra,
        Algorithm::FixedWindow,
        Algorithm::SlidingWindow,
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("k{i}");
        let calls = (0..300)
            .map(|_| (t.clone(), check_on("p", &key, limit_of(algorithm, 70))))
            .collect();
        let allowed = allowed_of(&store, calls).await;
        let n = allowed.iter().filter(|(_, a)| *a).count();
        assert_eq!(n, 70, "{algorithm:?}");
    }
}

#[tokio::test]
async fn tenants_in_one_batch_stay_isolated() {
    let Some(store) = common::store("tenants_in_one_batch_stay_isolated").await else {
        return;
    };
    let store = Arc::new(store.with_clock(ManualClock::new(1_700_000_000_000)));
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let calls = (0..200)
        .map(|i| {
            let t = if i % 2 == 0 { a.clone() } else { b.clone() };
            (
                t,
                check_on("p", "same", limit_of(Algorithm::FixedWindow, 30)),
            )
        })
        .collect();
    let allowed = allowed_of(&store, calls).await;
    for t in [&a, &b] {
        let n = allowed.iter().filter(|(x, ok)| x == t && *ok).count();
        assert_eq!(n, 30, "tenant {t}");
    }
}

/// Multi-check decisions (batched, and straight `ratelimit_decide` calls as an instance of an
/// older version makes them) race batched single checks on overlapping rows: every row lock
/// is taken in one global order, so none fails with a deadlock.
#[tokio::test]
async fn multi_and_single_checks_on_overlapping_keys_do_not_deadlock() {
    let Some(store) = common::store("multi_and_single_checks_do_not_deadlock").await else {
        return;
    };
    let store = Arc::new(store);
    let t = TenantId::generate();
    let keys: Vec<String> = (0..6).map(|i| format!("k{i}")).collect();
    let limit = limit_of(Algorithm::Gcra, 1_000_000);
    let mut tasks = Vec::new();
    for task in 0..48u64 {
        let (s, t, keys) = (store.clone(), t.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25u64 {
                let pick = |j: u64| keys[((task * 7 + i * 3 + j * 5) % 6) as usize].clone();
                let policies = ["p", "q"];
                match task % 3 {
                    0 => {
                        let c = check_on(policies[(i % 2) as usize], &pick(0), limit);
                        s.ratelimit_check(&t, &[c]).await.expect("single check");
                    }
                    1 => {
                        // reverse key order: the store must sort
                        let c: Vec<Check> = (0..3)
                            .rev()
                            .map(|j| check_on(policies[(j % 2) as usize], &pick(j), limit))
                            .collect();
                        s.ratelimit_check(&t, &c).await.expect("multi check");
                    }
                    _ => {
                        let (p, k): (Vec<&str>, Vec<String>) = (0..3)
                            .rev()
                            .map(|j| (policies[(j % 2) as usize], pick(j)))
                            .unzip();
                        let n = p.len();
                        let _: Vec<i64> = sqlx::query_scalar(
                            "SELECT ratelimit_decide($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        )
                        .bind(t.as_str())
                        .bind(1_700_000_000_000i64 + i as i64)
                        .bind(&p)
                        .bind(&k)
                        .bind(vec!["g"; n])
                        .bind(vec![1_000_000i64; n])
                        .bind(vec![60_000i64; n])
                        .bind(vec![1_000_000i64; n])
                        .bind(vec![0i64; n])
                        .bind(vec![false; n])
                        .bind(vec![1i64; n])
                        .fetch_one(s.pool())
                        .await
                        .expect("ratelimit_decide");
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// The batches keep their connections between decisions; closing the store still returns at
/// once (the pool's close waits for every connection handed out, so a kept one would hang it).
#[tokio::test]
async fn close_returns_after_decisions_kept_their_connections() {
    let Some(store) = common::store("close_after_decisions").await else {
        return;
    };
    let store = Arc::new(store);
    let t = TenantId::generate();
    let calls = (0..1000)
        .map(|i| {
            (
                t.clone(),
                check_on("p", &format!("k{i}"), limit_of(Algorithm::Gcra, 5)),
            )
        })
        .collect();
    assert_eq!(allowed_of(&store, calls).await.len(), 1000);
    let closed = tokio::time::timeout(Duration::from_secs(20), store.close()).await;
    assert!(closed.is_ok(), "the store did not close within 20 s");
}
