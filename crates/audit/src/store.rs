//! The audit store trait every backend implements: append, list (tenant or operator), prune.

use crate::model::AuditRecord;
use crate::query::AuditQuery;
use palisade_core::{Page, StoreError, TenantId};

/// Append-only storage of audit records.
///
/// Rules every implementation keeps (the testkit's `audit` checks them):
/// - `audit_append` stores every record of the batch, or none (one transaction).
/// - Listings are newest first: by `at_ms` descending, then `id` descending; `next` is the
///   [`AuditCursor`](crate::AuditCursor) text of the last item when more remain.
/// - `audit_list` returns only `tenant`'s records; records without a tenant are never listed
///   to a tenant.
/// - There is no update: records change only by `audit_prune` deleting old ones.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync + std::fmt::Debug {
    /// Appends `records` in one atomic step.
    async fn audit_append(&self, records: &[AuditRecord]) -> Result<(), StoreError>;

    /// One page of `tenant`'s records matching `query`.
    async fn audit_list(
        &self,
        tenant: &TenantId,
        query: &AuditQuery,
    ) -> Result<Page<AuditRecord>, StoreError>;

    /// One page of every tenant's records (and those without a tenant) matching `query`, or of
    /// `tenant`'s only when given: the operator's view.
    async fn audit_list_all(
        &self,
        tenant: Option<&TenantId>,
        query: &AuditQuery,
    ) -> Result<Page<AuditRecord>, StoreError>;

    /// Deletes at most `batch` records older than `before_ms` (`at_ms < before_ms`); how many.
    async fn audit_prune(&self, before_ms: i64, batch: u32) -> Result<u64, StoreError>;
}
