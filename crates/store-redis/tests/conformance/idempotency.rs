//! The idempotency conformance suite on Redis (server time, real short TTLs).

use crate::common;

#[tokio::test]
async fn idempotency_conformance() {
    let Some(store) = common::store("idempotency_conformance").await else {
        return;
    };
    palisade_testkit::idempotency::run(std::sync::Arc::new(store), palisade_testkit::Time::Real)
        .await;
}
