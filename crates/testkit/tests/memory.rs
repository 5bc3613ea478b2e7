//! Every conformance suite against the in-memory stores.

use std::sync::Arc;

#[tokio::test]
async fn tenancy_conformance() {
    palisade_testkit::tenancy::run(Arc::new(palisade_tenancy::MemoryTenantStore::default())).await;
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
