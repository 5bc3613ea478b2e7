//! An in-memory audit store, for tests and single-process embedding.

use crate::model::AuditRecord;
use crate::query::AuditQuery;
use crate::store::AuditStore;
use palisade_core::{Page, StoreError, TenantId};
use parking_lot::Mutex;

/// Audit records in process memory; lost on restart.
#[derive(Debug, Default)]
pub struct MemoryAuditStore {
    records: Mutex<Vec<AuditRecord>>,
}

impl MemoryAuditStore {
    fn list(&self, tenant: Option<&TenantId>, query: &AuditQuery) -> Page<AuditRecord> {
        let g = self.records.lock();
        let mut rows: Vec<AuditRecord> = g
            .iter()
            .filter(|r| tenant.is_none_or(|t| r.tenant.as_ref() == Some(t)))
            .filter(|r| query.matches(r))
            .cloned()
            .collect();
        rows.sort_by(|a, b| (b.at_ms, &b.id).cmp(&(a.at_ms, &a.id)));
        rows.truncate(query.limit as usize + 1);
        query.page(rows)
    }
}

#[async_trait::async_trait]
impl AuditStore for MemoryAuditStore {
    async fn audit_append(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        self.records.lock().extend_from_slice(records);
        Ok(())
    }

    async fn audit_list(
        &self,
        tenant: &TenantId,
        query: &AuditQuery,
    ) -> Result<Page<AuditRecord>, StoreError> {
        Ok(self.list(Some(tenant), query))
    }

    async fn audit_list_all(
        &self,
        tenant: Option<&TenantId>,
        query: &AuditQuery,
    ) -> Result<Page<AuditRecord>, StoreError> {
        Ok(self.list(tenant, query))
    }

    async fn audit_prune(&self, before_ms: i64, batch: u32) -> Result<u64, StoreError> {
        let mut g = self.records.lock();
        let mut left = batch as usize;
        g.retain(|r| {
            let drop = left > 0 && r.at_ms < before_ms;
            left -= drop as usize;
            !drop
        });
        Ok((batch as usize - left) as u64)
    }
}
