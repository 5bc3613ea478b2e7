//! SQLite implementation of the locks store: the shared SQL of `palisade_store_sql`.

use crate::SqliteStore;
use palisade_core::{StoreError, TenantId};
use palisade_locks::{
    Acquired, Lease, LeaseCheck, LockAcquire, LockName, LockRelease, LockRenew, LockStore,
};

#[async_trait::async_trait]
impl LockStore for SqliteStore {
    async fn lock_acquire(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
    ) -> Result<Acquired, StoreError> {
        self.sql.lock_acquire(tenant, req).await
    }

    async fn lock_renew(
        &self,
        tenant: &TenantId,
        req: &LockRenew,
    ) -> Result<LeaseCheck<Lease>, StoreError> {
        self.sql.lock_renew(tenant, req).await
    }

    async fn lock_release(
        &self,
        tenant: &TenantId,
        req: &LockRelease,
    ) -> Result<LeaseCheck<()>, StoreError> {
        self.sql.lock_release(tenant, req).await
    }

    async fn lock_inspect(
        &self,
        tenant: &TenantId,
        name: &LockName,
    ) -> Result<Option<Lease>, StoreError> {
        self.sql.lock_inspect(tenant, name).await
    }
}
