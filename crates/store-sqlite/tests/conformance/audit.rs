//! The audit conformance checks on SQLite, one test per check on a fresh database.

use crate::common;

macro_rules! checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let s = common::store().await;
            palisade_testkit::audit::$check(&*s.sql().audit_store()).await;
        }
    )*};
}

checks!(
    append_and_list_back_in_order,
    cursor_pagination,
    filter_by_type,
    filter_by_time,
    tenant_isolation,
    operator_list_across_tenants,
    prune_deletes_only_older,
    redaction_of_secrets_in_detail
);
