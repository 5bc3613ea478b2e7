//! The locks conformance suite on PostgreSQL.

use crate::common;

use palisade_testkit::locks::{run, Time};

#[tokio::test]
async fn locks_conformance() {
    let Some(s) = common::store("locks_conformance").await else {
        return;
    };
    let clock = palisade_core::ManualClock::new(1_700_000_000_000);
    let store = s.with_clock(clock.clone());
    run(std::sync::Arc::new(store), Time::Manual(clock)).await;
}
