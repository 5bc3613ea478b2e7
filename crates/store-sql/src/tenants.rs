//! Tenants and API keys.

use crate::{ChangeDialect, SqlStore, Value};
use async_trait::async_trait;
use palisade_core::{ChangeRecord, Page, PageRequest, StoreError, TenantId};
use palisade_tenancy::{topics, TenantStore};
use palisade_tenancy::{ApiKey, KeyRecord, KeyStatus, Tenant, TenantCreate};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

fn tenant_id(s: String) -> Result<TenantId, StoreError> {
    TenantId::parse(&s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl<D, B> SqlStore<D, B>
where
    D: ChangeDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    String: Value<D>,
{
    fn tenant(r: &D::Row) -> Result<Tenant, StoreError> {
        Ok(Tenant {
            id: tenant_id(Self::col(r, "id")?)?,
            external_id: Self::col(r, "external_id")?,
            name: Self::col(r, "name")?,
            created_at_ms: Self::col(r, "created_at_ms")?,
        })
    }

    fn key(r: &D::Row) -> Result<KeyRecord, StoreError> {
        Ok(KeyRecord {
            key: ApiKey {
                id: Self::col(r, "id")?,
                tenant_id: tenant_id(Self::col(r, "tenant_id")?)?,
                name: Self::col(r, "name")?,
                created_at_ms: Self::col(r, "created_at_ms")?,
                last_used_at_ms: Self::col(r, "last_used_at_ms")?,
                revoked_at_ms: Self::col(r, "revoked_at_ms")?,
            },
            secret_hash: Self::col(r, "secret_hash")?,
        })
    }
}

#[async_trait]
impl<D, B> TenantStore for SqlStore<D, B>
where
    D: ChangeDialect,
    usize: ColumnIndex<D::Row>,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    String: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    /// `TenantStore::tenant_create`: inserts unless the external id exists; the stored tenant,
    /// and whether this call created it.
    async fn tenant_create(
        &self,
        id: TenantId,
        req: &TenantCreate,
        now_ms: i64,
    ) -> Result<(Tenant, bool), StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, external_id, name, created_at_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (external_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(req.external_id.as_str())
        .bind(req.name.as_str())
        .bind(now_ms)
        .execute(self.pool())
        .await
        .map_err(D::map_err)?;
        let inserted = D::rows_affected(&inserted) == 1;
        let row = sqlx::query("SELECT * FROM tenants WHERE external_id = $1")
            .bind(req.external_id.as_str())
            .fetch_one(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok((Self::tenant(&row)?, inserted))
    }

    /// `TenantStore::tenant_get`.
    async fn tenant_get(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT * FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(D::map_err)?;
        row.as_ref().map(Self::tenant).transpose()
    }

    /// `TenantStore::tenant_list`: by id, after the page cursor.
    async fn tenant_list(&self, page: &PageRequest) -> Result<Page<Tenant>, StoreError> {
        let rows = sqlx::query("SELECT * FROM tenants WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(page.limit as i64 + 1)
            .fetch_all(self.pool())
            .await
            .map_err(D::map_err)?;
        let items = rows
            .iter()
            .map(Self::tenant)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |t| t.id.to_string()))
    }

    /// `TenantStore::tenant_rename`: the update and its change in one transaction.
    async fn tenant_rename(
        &self,
        id: &TenantId,
        name: &str,
        now_ms: i64,
    ) -> Result<Option<Tenant>, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let row = sqlx::query("UPDATE tenants SET name = $1 WHERE id = $2 RETURNING *")
            .bind(name)
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(D::map_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let tenant = Self::tenant(&row)?;
        let rec = ChangeRecord {
            topic: topics::TENANT_CHANGED,
            tenant: id,
            subject: None,
        };
        D::change_record(&mut tx, rec, now_ms).await?;
        tx.commit().await.map_err(D::map_err)?;
        Ok(Some(tenant))
    }

    /// `TenantStore::tenant_delete`: keys, tenant and the change in one transaction.
    async fn tenant_delete(&self, id: &TenantId, now_ms: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(D::map_err)?;
        let gone = sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(D::map_err)?;
        if D::rows_affected(&gone) != 1 {
            return Ok(false);
        }
        let rec = ChangeRecord {
            topic: topics::TENANT_DELETED,
            tenant: id,
            subject: None,
        };
        D::change_record(&mut tx, rec, now_ms).await?;
        tx.commit().await.map_err(D::map_err)?;
        Ok(true)
    }

    /// `TenantStore::key_create`.
    async fn key_create(&self, tenant: &TenantId, rec: &KeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, name, secret_hash, created_at_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(rec.key.id.as_str())
        .bind(tenant.as_str())
        .bind(rec.key.name.as_str())
        .bind(rec.secret_hash.as_str())
        .bind(rec.key.created_at_ms)
        .execute(self.pool())
        .await
        .map_err(D::map_err)?;
        Ok(())
    }

    /// `TenantStore::key_list`: a tenant's keys in `status`, by id, after the page cursor.
    async fn key_list(
        &self,
        tenant: &TenantId,
        status: KeyStatus,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT * FROM api_keys WHERE tenant_id = $1 AND id > $2 AND {} ORDER BY id LIMIT $3",
            status.sql()
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(page.after.as_deref().unwrap_or(""))
            .bind(page.limit as i64 + 1)
            .fetch_all(self.pool())
            .await
            .map_err(D::map_err)?;
        let items = rows
            .iter()
            .map(|r| Self::key(r).map(|k| k.key))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |k| k.id.clone()))
    }

    /// `TenantStore::key_revoke`: true when the tenant has the key (revoked now or before);
    /// the change is recorded in the same transaction.
    async fn key_revoke(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = COALESCE(revoked_at_ms, $1)
             WHERE tenant_id = $2 AND id = $3",
        )
        .bind(now_ms)
        .bind(tenant.as_str())
        .bind(key_id)
        .execute(&mut *tx)
        .await
        .map_err(D::map_err)?;
        if D::rows_affected(&n) != 1 {
            return Ok(false);
        }
        let rec = ChangeRecord {
            topic: topics::KEY_REVOKED,
            tenant,
            subject: Some(key_id),
        };
        D::change_record(&mut tx, rec, now_ms).await?;
        tx.commit().await.map_err(D::map_err)?;
        Ok(true)
    }

    /// `TenantStore::key_find`: any tenant's key by id.
    async fn key_find(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1")
            .bind(key_id)
            .fetch_optional(self.pool())
            .await
            .map_err(D::map_err)?;
        row.as_ref().map(Self::key).transpose()
    }

    /// `TenantStore::key_touch`.
    async fn key_touch(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_keys SET last_used_at_ms = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(now_ms)
            .bind(tenant.as_str())
            .bind(key_id)
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(())
    }
}
