//! The idempotency conformance suite on SQLite.

use crate::common;

use palisade_core::ManualClock;
use std::sync::Arc;

#[tokio::test]
async fn idempotency_conformance() {
    let clock = ManualClock::new(1_700_000_000_000);
    let store = common::store().await.with_clock(clock.clone());
    palisade_testkit::idempotency::run(Arc::new(store), palisade_testkit::Time::Manual(clock))
        .await;
}
