//! SQLite implementation of the idempotency store: the shared SQL of `palisade_store_sql`.

use crate::SqliteStore;
use palisade_core::{StoreError, TenantId};
use palisade_idempotency::{
    BeginOutcome, EntryRef, EntryUpdate, IdempotencyBegin, IdempotencyComplete, IdempotencyStore,
    RecoveryPointSet,
};

#[async_trait::async_trait]
impl IdempotencyStore for SqliteStore {
    async fn idempotency_begin(
        &self,
        tenant: &TenantId,
        req: &IdempotencyBegin,
    ) -> Result<BeginOutcome, StoreError> {
        self.sql.idempotency_begin(tenant, req).await
    }

    async fn idempotency_recovery_point_set(
        &self,
        tenant: &TenantId,
        req: &RecoveryPointSet,
    ) -> Result<EntryUpdate, StoreError> {
        self.sql.idempotency_recovery_point_set(tenant, req).await
    }

    async fn idempotency_complete(
        &self,
        tenant: &TenantId,
        req: &IdempotencyComplete,
    ) -> Result<EntryUpdate, StoreError> {
        self.sql.idempotency_complete(tenant, req).await
    }

    async fn idempotency_abandon(
        &self,
        tenant: &TenantId,
        entry: &EntryRef,
    ) -> Result<EntryUpdate, StoreError> {
        self.sql.idempotency_abandon(tenant, entry).await
    }

    async fn idempotency_expired_delete(&self, limit: u32) -> Result<u64, StoreError> {
        self.sql.idempotency_expired_delete(limit).await
    }
}
