//! The idempotency store trait every backend implements.

use crate::error::IdempotencyError;
use crate::model::{
    BeginOutcome, EntryRef, EntryUpdate, IdempotencyBegin, IdempotencyComplete, RecoveryPointSet,
};
use palisade_core::{StoreError, TenantId};

/// Idempotency entries keyed by tenant + principal + key. Every claim and every token-checked
/// update is one atomic step in the store.
#[async_trait::async_trait]
pub trait IdempotencyStore: Send + Sync + std::fmt::Debug {
    /// Claims the key or reports why not, in one atomic step (see [`crate::model::decide_begin`]).
    async fn idempotency_begin(
        &self,
        tenant: &TenantId,
        req: &IdempotencyBegin,
    ) -> Result<BeginOutcome, StoreError>;

    /// Records a recovery point and extends the lock, if the token still holds the entry.
    async fn idempotency_recovery_point_set(
        &self,
        tenant: &TenantId,
        req: &RecoveryPointSet,
    ) -> Result<EntryUpdate, StoreError>;

    /// Stores the response for replay, if the token still holds the entry.
    async fn idempotency_complete(
        &self,
        tenant: &TenantId,
        req: &IdempotencyComplete,
    ) -> Result<EntryUpdate, StoreError>;

    /// Deletes the in-flight entry (the operation did not run), if the token still holds it.
    async fn idempotency_abandon(
        &self,
        tenant: &TenantId,
        entry: &EntryRef,
    ) -> Result<EntryUpdate, StoreError>;

    /// Deletes up to `limit` expired entries of any tenant; returns how many.
    ///
    /// The one cross-tenant method: a maintenance sweep that only deletes rows whose
    /// `expires_at` passed and returns nothing but a count. Stores whose entries expire by
    /// themselves (Redis) return 0.
    async fn idempotency_expired_delete(&self, limit: u32) -> Result<u64, StoreError>;

    /// [`Self::idempotency_complete`] with refusals as errors.
    async fn complete(
        &self,
        tenant: &TenantId,
        req: &IdempotencyComplete,
    ) -> Result<(), IdempotencyError> {
        self.idempotency_complete(tenant, req).await?.into_result()
    }

    /// [`Self::idempotency_recovery_point_set`] with refusals as errors.
    async fn recovery_point_set(
        &self,
        tenant: &TenantId,
        req: &RecoveryPointSet,
    ) -> Result<(), IdempotencyError> {
        self.idempotency_recovery_point_set(tenant, req)
            .await?
            .into_result()
    }

    /// [`Self::idempotency_abandon`] with refusals as errors.
    async fn abandon(&self, tenant: &TenantId, entry: &EntryRef) -> Result<(), IdempotencyError> {
        self.idempotency_abandon(tenant, entry).await?.into_result()
    }

    /// Deletes expired entries in batches of `batch` until none is left or `max_batches` ran;
    /// counts them in `palisade_idempotency_expired_total`. Returns how many.
    async fn expired_sweep(&self, batch: u32, max_batches: u32) -> Result<u64, StoreError> {
        let mut total = 0;
        for _ in 0..max_batches {
            let n = self.idempotency_expired_delete(batch).await?;
            total += n;
            if n < u64::from(batch) {
                break;
            }
        }
        crate::metrics::expired(total);
        Ok(total)
    }
}
