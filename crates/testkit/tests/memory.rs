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
