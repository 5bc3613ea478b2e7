//! SQLite implementation of the tenancy store.

use crate::{map_err, SqliteStore};
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use palisade_tenancy::{ApiKey, KeyRecord, KeyStatus, Tenant, TenantCreate, TenantStore};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn tenant(r: &SqliteRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: TenantId::parse(r.get("id")).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        external_id: r.get("external_id"),
        name: r.get("name"),
        created_at_ms: r.get("created_at_ms"),
    })
}

fn key(r: &SqliteRow) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        key: ApiKey {
            id: r.get("id"),
            tenant_id: TenantId::parse(r.get("tenant_id"))
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            name: r.get("name"),
            created_at_ms: r.get("created_at_ms"),
            last_used_at_ms: r.get("last_used_at_ms"),
            revoked_at_ms: r.get("revoked_at_ms"),
        },
        secret_hash: r.get("secret_hash"),
    })
}

#[async_trait::async_trait]
impl TenantStore for SqliteStore {
    async fn tenant_create(
        &self,
        id: TenantId,
        req: &TenantCreate,
        now_ms: i64,
    ) -> Result<(Tenant, bool), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, external_id, name, created_at_ms) VALUES (?, ?, ?, ?)
             ON CONFLICT (external_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(&req.external_id)
        .bind(&req.name)
        .bind(now_ms)
        .execute(self.pool())
        .await
        .map_err(map_err)?
        .rows_affected()
            == 1;
        let row = sqlx::query("SELECT * FROM tenants WHERE external_id = ?")
            .bind(&req.external_id)
            .fetch_one(self.pool())
            .await
            .map_err(map_err)?;
        Ok((tenant(&row)?, inserted))
    }

    async fn tenant_get(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT * FROM tenants WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        row.as_ref().map(tenant).transpose()
    }

    async fn tenant_list(&self, page: &PageRequest) -> Result<Page<Tenant>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tenants WHERE id > ? ORDER BY id LIMIT ?")
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(page.limit as i64 + 1)
            .fetch_all(self.pool())
            .await
            .map_err(map_err)?;
        let items = rows.iter().map(tenant).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |t| t.id.to_string()))
    }

    async fn key_create(&self, tenant: &TenantId, rec: &KeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, secret_hash, created_at_ms)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&rec.key.id)
        .bind(tenant.as_str())
        .bind(&rec.key.name)
        .bind(&rec.secret_hash)
        .bind(rec.key.created_at_ms)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn key_list(
        &self,
        tenant: &TenantId,
        status: KeyStatus,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT * FROM api_keys WHERE tenant_id = ? AND id > ? AND {} ORDER BY id LIMIT ?",
            status.sql()
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(page.limit as i64 + 1)
            .fetch_all(self.pool())
            .await
            .map_err(map_err)?;
        let items = rows
            .iter()
            .map(|r| key(r).map(|k| k.key))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |k| k.id.clone()))
    }

    async fn key_revoke(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = COALESCE(revoked_at_ms, ?)
             WHERE tenant_id = ? AND id = ?",
        )
        .bind(now_ms)
        .bind(tenant.as_str())
        .bind(key_id)
        .execute(self.pool())
        .await
        .map_err(map_err)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn key_find(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = ?")
            .bind(key_id)
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        row.as_ref().map(key).transpose()
    }

    async fn key_touch(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at_ms = ? WHERE tenant_id = ? AND id = ?")
            .bind(now_ms)
            .bind(tenant.as_str())
            .bind(key_id)
            .execute(self.pool())
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
