//! The ratelimit conformance suites on PostgreSQL.

use crate::common;

use palisade_core::ManualClock;
use palisade_ratelimit::{Algorithm, Check, KeyPart, Policy, RateLimitStore};
use palisade_testkit::ratelimit::{run, run_policies, Time};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn ratelimit_conformance() {
    let Some(store) = common::store("ratelimit_conformance").await else {
        return;
    };
    let clock = ManualClock::new(0);
    run(
        Arc::new(store.with_clock(clock.clone())),
        Time::Manual(clock),
    )
    .await;
}

#[tokio::test]
async fn ratelimit_policy_conformance() {
    let Some(store) = common::store("ratelimit_policy_conformance").await else {
        return;
    };
    run_policies(Arc::new(store)).await;
}

#[tokio::test]
async fn expired_state_is_purged() {
    let Some(store) = common::store("expired_state_is_purged").await else {
        return;
    };
    let clock = ManualClock::new(1_000_000);
    let store = store.with_clock(clock.clone());
    let t = palisade_core::TenantId::generate();
    let p = Policy::new(
        "p",
        Algorithm::FixedWindow,
        5,
        Duration::from_secs(1),
        vec![KeyPart::Tenant],
    );
    for k in ["a", "b", "c"] {
        let c = Check {
            policy: "p".into(),
            limit: p.limit(),
            key: k.into(),
            cost: 1,
        };
        store.ratelimit_check(&t, &[c]).await.unwrap();
    }
    assert_eq!(store.ratelimit_purge_expired(100).await.unwrap(), 0);
    clock.advance(Duration::from_secs(1));
    assert_eq!(store.ratelimit_purge_expired(2).await.unwrap(), 2);
    assert_eq!(store.ratelimit_purge_expired(100).await.unwrap(), 1);
}

#[tokio::test]
async fn decides_exactly_like_the_memory_store() {
    let Some(store) = common::store("decides_exactly_like_the_memory_store").await else {
        return;
    };
    let clock = ManualClock::new(0);
    let store = Arc::new(store.with_clock(clock.clone()));
    palisade_testkit::ratelimit::same_as_memory(store, clock, 3_000).await;
}

/// The purge reaches expired rows through `ratelimit_state_expiry_minute` (migration 0009), an
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
