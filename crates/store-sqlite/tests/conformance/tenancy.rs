//! The tenancy conformance suite on SQLite.

use crate::common;

#[tokio::test]
async fn tenancy_conformance() {
    palisade_testkit::tenancy::run(std::sync::Arc::new(common::store().await)).await;
}
