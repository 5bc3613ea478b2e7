//! The audit trail: one append-only table, listed newest first by `(at_ms, id)`.
//!
//! A batch is appended in one transaction; there is no `UPDATE` (the migrations also refuse
//! one with a trigger). Listings filter by tenant (or not, for the operator), type and time in
//! SQL and page by the `(at_ms, id)` of the last row returned; retention deletes old rows in
//! bounded batches. `AuditStore` is implemented here directly for [`SqlStore`], so a store
//! crate's store is a `SqlStore`.

use crate::{Dialect, SqlStore, Value};
use palisade_audit::{AuditEventType, AuditQuery, AuditRecord, AuditStore};
use palisade_core::{Page, StoreError, TenantId};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

const INSERT: &str = "INSERT INTO audit_events
    (id, tenant_id, kind, actor, request_id, at_ms, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// `$1`: tenant (`''`: any, operator only); `$2`: type (`''`: any); `$3 <= at_ms < $4`;
/// after the cursor `($5, $6)`; `$7` rows.
const LIST: &str = "SELECT id, tenant_id, kind, actor, request_id, at_ms, detail FROM audit_events
    WHERE {tenant} AND ($2 = '' OR kind = $2) AND at_ms >= $3 AND at_ms < $4
      AND (at_ms < $5 OR (at_ms = $5 AND id < $6))
    ORDER BY at_ms DESC, id DESC LIMIT $7";

const PRUNE: &str = "DELETE FROM audit_events WHERE id IN (
    SELECT id FROM audit_events WHERE at_ms < $1 ORDER BY at_ms LIMIT $2)";

/// Which tenants a listing reads.
enum Scope<'a> {
    /// Exactly this tenant's records.
    Tenant(&'a TenantId),
    /// Every record (the operator), or one tenant's when given.
    All(Option<&'a TenantId>),
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("audit_events.{what}"))
}

impl<D, B> SqlStore<D, B>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    String: Value<D>,
    Option<String>: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    fn audit_record(r: &D::Row) -> Result<AuditRecord, StoreError> {
        let tenant: Option<String> = Self::col(r, "tenant_id")?;
        let kind: String = Self::col(r, "kind")?;
        let detail: String = Self::col(r, "detail")?;
        Ok(AuditRecord {
            id: Self::col(r, "id")?,
            tenant: tenant
                .map(|t| TenantId::parse(&t).map_err(|_| corrupt("tenant_id")))
                .transpose()?,
            kind: AuditEventType::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            actor: Self::col(r, "actor")?,
            request_id: Self::col(r, "request_id")?,
            at_ms: Self::col(r, "at_ms")?,
            detail: serde_json::from_str(&detail).map_err(|_| corrupt("detail"))?,
        })
    }

    async fn audit_insert(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        for r in records {
            sqlx::query(INSERT)
                .bind(r.id.as_str())
                .bind(r.tenant.as_ref().map(TenantId::to_string))
                .bind(r.kind.as_str())
                .bind(r.actor.clone())
                .bind(r.request_id.clone())
                .bind(r.at_ms)
                .bind(r.detail.to_string())
                .execute(&mut *tx)
                .await
                .map_err(D::map_err)?;
        }
        tx.commit().await.map_err(D::map_err)
    }

    async fn audit_select(
        &self,
        scope: Scope<'_>,
        q: &AuditQuery,
    ) -> Result<Page<AuditRecord>, StoreError> {
        let (tenant_sql, tenant) = match scope {
            Scope::Tenant(t) => ("tenant_id = $1", t.as_str()),
            Scope::All(t) => (
                "($1 = '' OR tenant_id = $1)",
                t.map_or("", TenantId::as_str),
            ),
        };
        let sql = LIST.replace("{tenant}", tenant_sql);
        let (after_at, after_id) = q
            .after
            .as_ref()
            .map_or((i64::MAX, ""), |c| (c.at_ms, c.id.as_str()));
        let rows = sqlx::query(&sql)
            .bind(tenant)
            .bind(q.kind.map_or("", AuditEventType::as_str))
            .bind(q.since_ms.unwrap_or(i64::MIN))
            .bind(q.until_ms.unwrap_or(i64::MAX))
            .bind(after_at)
            .bind(after_id)
            .bind(i64::from(q.limit) + 1)
            .fetch_all(self.pool())
            .await
            .map_err(D::map_err)?;
        let items = rows
            .iter()
            .map(Self::audit_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(q.page(items))
    }

    async fn audit_delete_before(&self, before_ms: i64, batch: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(PRUNE)
            .bind(before_ms)
            .bind(i64::from(batch))
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }
}

#[async_trait::async_trait]
impl<D, B> AuditStore for SqlStore<D, B>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    String: Value<D>,
    Option<String>: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    async fn audit_append(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.audit_insert(records).await
    }

    async fn audit_list(
        &self,
        tenant: &TenantId,
        query: &AuditQuery,
    ) -> Result<Page<AuditRecord>, StoreError> {
        self.audit_select(Scope::Tenant(tenant), query).await
    }

    async fn audit_list_all(
        &self,
        tenant: Option<&TenantId>,
        query: &AuditQuery,
    ) -> Result<Page<AuditRecord>, StoreError> {
        self.audit_select(Scope::All(tenant), query).await
    }

    async fn audit_prune(&self, before_ms: i64, batch: u32) -> Result<u64, StoreError> {
        self.audit_delete_before(before_ms, batch).await
    }
}
