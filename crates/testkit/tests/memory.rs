//! Every conformance suite against the in-memory stores.

use std::sync::Arc;

#[tokio::test]
async fn tenancy_conformance() {
    palisade_testkit::tenancy::run(Arc::new(palisade_tenancy::MemoryTenantStore::default())).await;
}

#[tokio::test]
async fn idempotency_conformance() {
    let clock = palisade_core::ManualClock::new(1_700_000_000_000);
    let store = palisade_idempotency::MemoryIdempotencyStore::new(clock.clone());
    let opts = palisade_testkit::idempotency::Options {
        clock: Some(clock),
        self_expiring: false,
    };
    palisade_testkit::idempotency::run(Arc::new(store), opts).await;
}
