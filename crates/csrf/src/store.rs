//! The CSRF token store trait every backend implements; each operation is one atomic step.

use crate::model::{CsrfConsume, CsrfIssue};
use palisade_core::{StoreError, TenantId};

/// One-time tokens, scoped by tenant and keyed by the token's hash.
///
/// Rules every implementation keeps (the testkit's `csrf` suite checks them):
/// - `csrf_consume` succeeds only for a live token (store clock before its expiry) bound to the
///   presented session, and deletes it in the same atomic step: of concurrent consumes of one
///   token exactly one succeeds. A token presented with another session is not consumed.
/// - `csrf_purge` deletes expired tokens only.
#[async_trait::async_trait]
pub trait CsrfStore: Send + Sync + std::fmt::Debug {
    /// Stores a new token; answers its expiry (ms).
    async fn csrf_issue(&self, tenant: &TenantId, req: &CsrfIssue) -> Result<i64, StoreError>;

    /// Consumes a live token of the session; `true` when it did.
    async fn csrf_consume(&self, tenant: &TenantId, req: &CsrfConsume) -> Result<bool, StoreError>;

    /// Deletes up to `limit` expired tokens; how many it deleted.
    async fn csrf_purge(&self, limit: u32) -> Result<u64, StoreError>;
}
