//! The locks conformance suite on SQLite.

use crate::common;

use palisade_testkit::locks::{run, Time};

#[tokio::test]
async fn locks_conformance() {
    let clock = palisade_core::ManualClock::new(1_700_000_000_000);
    let store = common::store().await.with_clock(clock.clone());
    run(std::sync::Arc::new(store), Time::Manual(clock)).await;
}
