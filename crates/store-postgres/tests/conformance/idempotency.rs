//! The idempotency conformance suite on PostgreSQL.

use crate::common;

use palisade_core::ManualClock;
use std::sync::Arc;

#[tokio::test]
async fn idempotency_conformance() {
    let clock = ManualClock::new(1_700_000_000_000);
    let Some(store) = common::store("idempotency_conformance").await else {
        return;
    };
    let store = store.with_clock(clock.clone());
    palisade_testkit::idempotency::run(Arc::new(store), palisade_testkit::Time::Manual(clock))
        .await;
}
