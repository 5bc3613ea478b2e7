//! The tenancy conformance suite on PostgreSQL.

use crate::common;

#[tokio::test]
async fn tenancy_conformance() {
    let Some(s) = common::store("tenancy_conformance").await else {
        return;
    };
    palisade_testkit::tenancy::run(std::sync::Arc::new(s)).await;
}
