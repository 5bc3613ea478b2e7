//! The locks conformance suite on Redis (real-time expiry: Redis owns the lease TTLs).

use crate::common;

use palisade_testkit::locks::{run, Time};

#[tokio::test]
async fn locks_conformance() {
    let Some(s) = common::store("locks_conformance").await else {
        return;
    };
    run(std::sync::Arc::new(s), Time::Real).await;
}
