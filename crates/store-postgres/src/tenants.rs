//! PostgreSQL implementation of the tenancy store: the shared SQL of `palisade_store_sql`.

use crate::PgStore;
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use palisade_tenancy::{ApiKey, KeyRecord, KeyStatus, Tenant, TenantCreate, TenantStore};

#[async_trait::async_trait]
impl TenantStore for PgStore {
    async fn tenant_create(
        &self,
        id: TenantId,
        req: &TenantCreate,
        now_ms: i64,
    ) -> Result<(Tenant, bool), StoreError> {
        self.sql.tenant_create(id, req, now_ms).await
    }

    async fn tenant_get(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        self.sql.tenant_get(id).await
    }

    async fn tenant_list(&self, page: &PageRequest) -> Result<Page<Tenant>, StoreError> {
        self.sql.tenant_list(page).await
    }

    async fn key_create(&self, tenant: &TenantId, rec: &KeyRecord) -> Result<(), StoreError> {
        self.sql.key_create(tenant, rec).await
    }

    async fn key_list(
        &self,
        tenant: &TenantId,
        status: KeyStatus,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, StoreError> {
        self.sql.key_list(tenant, status, page).await
    }

    async fn key_revoke(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.sql.key_revoke(tenant, key_id, now_ms).await
    }

    async fn key_find(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.sql.key_find(key_id).await
    }

    async fn key_touch(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.sql.key_touch(tenant, key_id, now_ms).await
    }
}
