//! The tenancy store trait every durable backend implements.

use crate::model::{ApiKey, KeyRecord, KeyStatus, Tenant, TenantCreate};
use palisade_core::{ChangeFeed, Page, PageRequest, StoreError, TenantId};

/// Durable storage of tenants and their keys.
///
/// Every write that can make a cached key stop authenticating (a revocation, a tenant renamed
/// or deleted) records a change ([`crate::topics`]) in the store's [`ChangeFeed`] in the same
/// atomic step, so every instance's key cache hears of it.
#[async_trait::async_trait]
pub trait TenantStore: ChangeFeed + Send + Sync + std::fmt::Debug {
    /// Creates a tenant, or returns the existing one with the same external id.
    /// The flag is true when this call created it. Atomic: concurrent calls create one tenant.
    async fn tenant_create(
        &self,
        id: TenantId,
        req: &TenantCreate,
        now_ms: i64,
    ) -> Result<(Tenant, bool), StoreError>;

    /// The tenant with this id.
    async fn tenant_get(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError>;

    /// Tenants ordered by id.
    async fn tenant_list(&self, page: &PageRequest) -> Result<Page<Tenant>, StoreError>;

    /// Renames a tenant (`name` already validated); the renamed tenant, `None` when there is
    /// no such tenant. Records [`crate::topics::TENANT_CHANGED`].
    async fn tenant_rename(
        &self,
        id: &TenantId,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<Tenant>, StoreError>;

    /// Deletes a tenant and every key of it in one atomic step; false when there is no such
    /// tenant. Records [`crate::topics::TENANT_DELETED`].
    async fn tenant_delete(&self, id: &TenantId, now_ms: i64) -> Result<bool, StoreError>;

    /// Stores a new key of `tenant`.
    async fn key_create(&self, tenant: &TenantId, rec: &KeyRecord) -> Result<(), StoreError>;

    /// The tenant's keys with `status`, ordered by id.
    async fn key_list(
        &self,
        tenant: &TenantId,
        status: KeyStatus,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, StoreError>;

    /// Revokes the tenant's key; false when the tenant has no such key. Records
    /// [`crate::topics::KEY_REVOKED`] in the same atomic step.
    async fn key_revoke(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// The key with this id, whatever its tenant: this is how authentication learns the tenant.
    async fn key_find(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError>;

    /// Records a successful use of the tenant's key.
    async fn key_touch(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;
}
