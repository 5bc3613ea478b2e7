//! A stored row damaged so a column cannot decode reads back as `StoreError::Corrupt`, not a panic.
//!
//! Each check writes a row through the store, lets the backend's `damage(table, column)` break
//! that column (SQLite stores text in it, PostgreSQL a NULL), then reads it back
//! ([`conformance!`](crate::conformance)`(corrupt, ..)`; [`ratelimit_state`] by hand, for the
//! stores that read the state row in Rust).

use palisade_core::{StoreError, TenantId};
use palisade_idempotency::{Fingerprint, IdempotencyBegin, IdempotencyKey, IdempotencyStore};
use palisade_locks::{FencingToken, HolderId, LockAcquire, LockName, LockRenew, LockStore, Ttl};
use palisade_ratelimit::{Algorithm, Check, KeyPart, Policy, RateLimitStore, RateLimitPolicyStore};
use palisade_tenancy::{TenantCreate, TenantStore};
use std::fmt::Debug;
use std::time::Duration;

#[track_caller]
fn assert_corrupt<T: Debug>(r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
}

fn policy() -> Policy {
    Policy::new(
        "p",
        Algorithm::FixedWindow,
        10,
        Duration::from_secs(60),
        vec![KeyPart::Tenant],
    )
}

/// `tenant_get` of a tenant whose `created_at_ms` is damaged.
pub async fn tenant(s: &dyn TenantStore, damage: impl AsyncFn(&str, &str)) {
    let req = TenantCreate {
        external_id: "corrupt".into(),
        name: "Corrupt".into(),
    };
    let (t, _) = s
        .tenant_create(TenantId::generate(), &req, 1)
        .await
        .unwrap();
    damage("tenants", "created_at_ms").await;
    assert_corrupt(s.tenant_get(&t.id).await);
}

/// A refused `lock_renew` (which reads the latest grant) of a lock whose `token` is damaged.
pub async fn lock(s: &dyn LockStore, damage: impl AsyncFn(&str, &str)) {
    let (t, name, ttl) = (
        TenantId::generate(),
        LockName::parse("l").unwrap(),
        Ttl::from_ms(60_000).unwrap(),
    );
    let req = LockAcquire {
        name: name.clone(),
        holder: HolderId::parse("a").unwrap(),
        ttl,
    };
    s.lock_acquire(&t, &req).await.unwrap();
    damage("locks", "token").await;
    let renew = LockRenew {
        name,
        holder: HolderId::parse("b").unwrap(),
        token: FencingToken(1),
        ttl,
    };
    assert_corrupt(s.lock_renew(&t, &renew).await);
}

/// A second `idempotency_begin` (which reads the in-flight entry) of an entry whose `attempt`
/// is damaged.
pub async fn idempotency(s: &dyn IdempotencyStore, damage: impl AsyncFn(&str, &str)) {
    let t = TenantId::generate();
    let req = IdempotencyBegin {
        principal: "p".into(),
        key: IdempotencyKey::new("k".into()).unwrap(),
        fingerprint: Fingerprint::from_hex("f".repeat(64)),
        lock_ttl: Duration::from_secs(60),
        retention: Duration::from_secs(3600),
    };
    s.idempotency_begin(&t, &req).await.unwrap();
    damage("idempotency_entries", "attempt").await;
    assert_corrupt(s.idempotency_begin(&t, &req).await);
}

/// `ratelimit_policy_get` of a policy whose `version` is damaged.
pub async fn policy_row(s: &dyn RateLimitPolicyStore, damage: impl AsyncFn(&str, &str)) {
    let t = TenantId::generate();
    s.ratelimit_policy_put(&t, &policy(), 1, 10).await.unwrap();
    damage("ratelimit_policies", "version").await;
    assert_corrupt(s.ratelimit_policy_get(&t, "p").await);
}

/// A second `ratelimit_check` of a key whose stored state (`column` of `ratelimit_state`) is
/// damaged: for the stores that read the state row in Rust.
pub async fn ratelimit_state(s: &dyn RateLimitStore, column: &str, damage: impl AsyncFn(&str, &str)) {
    let (t, p) = (TenantId::generate(), policy());
    let check = Check {
        policy: p.name.clone(),
        limit: p.limit(),
        key: "k".into(),
        cost: 1,
    };
    s.ratelimit_check(&t, std::slice::from_ref(&check))
        .await
        .unwrap();
    damage("ratelimit_state", column).await;
    assert_corrupt(s.ratelimit_check(&t, &[check]).await);
}
