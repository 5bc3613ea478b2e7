//! Every conformance suite against the in-memory stores.

use std::sync::Arc;

#[tokio::test]
async fn tenancy_conformance() {
    palisade_testkit::tenancy::run(Arc::new(palisade_tenancy::MemoryTenantStore::default())).await;
}

#[tokio::test]
async fn locks_conformance() {
    use palisade_testkit::locks::{run, Time};
    let clock = palisade_core::ManualClock::new(1_700_000_000_000);
    let store = palisade_locks::MemoryLockStore::new(clock.clone());
    run(Arc::new(store), Time::Manual(clock)).await;
}

#[tokio::test]
async fn locks_conformance_in_real_time() {
    use palisade_testkit::locks::{run, Time};
    run(
        Arc::new(palisade_locks::MemoryLockStore::default()),
        Time::Real,
    )
    .await;
}

#[tokio::test]
async fn ratelimit_conformance() {
    let clock = palisade_core::ManualClock::new(0);
    let store = palisade_ratelimit::MemoryRateLimitStore::default().with_clock(clock.clone());
    palisade_testkit::ratelimit::run(
        Arc::new(store),
        palisade_testkit::ratelimit::Time::Manual(clock),
    )
    .await;
}

#[tokio::test]
async fn ratelimit_policy_conformance() {
    palisade_testkit::ratelimit::run_policies(Arc::new(
        palisade_ratelimit::MemoryPolicyStore::default(),
    ))
    .await;
}

#[tokio::test]
async fn ratelimit_memory_store_with_real_time() {
    palisade_testkit::ratelimit::run(
        Arc::new(palisade_ratelimit::MemoryRateLimitStore::default()),
        palisade_testkit::ratelimit::Time::Real,
    )
    .await;
}

#[tokio::test]
async fn idempotency_conformance() {
    let clock = palisade_core::ManualClock::new(1_700_000_000_000);
    let store = palisade_idempotency::MemoryIdempotencyStore::new(clock.clone());
    palisade_testkit::idempotency::run(Arc::new(store), palisade_testkit::Time::Manual(clock))
        .await;
}

/// The audit conformance checks on the memory store, one test per check on a fresh store.
mod audit {
    macro_rules! checks {
        ($($check:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $check() {
                let s = palisade_audit::MemoryAuditStore::default();
                palisade_testkit::audit::$check(&s).await;
            }
        )*};
    }

    checks!(
        append_and_list_back_in_order,
        cursor_pagination,
        filter_by_type,
        filter_by_time,
        tenant_isolation,
        operator_list_across_tenants,
        prune_deletes_only_older,
        redaction_of_secrets_in_detail
    );
}
