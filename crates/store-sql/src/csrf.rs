//! One-time CSRF tokens: an insert per issue, a conditional `DELETE … RETURNING` per use.
//!
//! A consume deletes the token's row only when it is the presented session's and live, in one
//! statement: of concurrent consumes exactly one deletes (and so succeeds). Time is the store
//! clock.

use crate::{Dialect, SqlStore, Value};
use async_trait::async_trait;
use palisade_core::{StoreError, TenantId};
use palisade_csrf::{CsrfConsume, CsrfIssue, CsrfStore};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<D, B> CsrfStore for SqlStore<D, B>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    async fn csrf_issue(&self, tenant: &TenantId, req: &CsrfIssue) -> Result<i64, StoreError> {
        let expires = self.now_ms() + req.ttl_ms;
        sqlx::query(
            "INSERT INTO csrf_tokens (tenant_id, token_hash, session_hash, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.as_str())
        .bind(req.token.0.as_str())
        .bind(req.session.0.as_str())
        .bind(expires)
        .execute(self.pool())
        .await
        .map_err(D::map_err)?;
        Ok(expires)
    }

    async fn csrf_consume(&self, tenant: &TenantId, req: &CsrfConsume) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM csrf_tokens
             WHERE tenant_id = $1 AND token_hash = $2 AND session_hash = $3 AND expires_at_ms > $4",
        )
        .bind(tenant.as_str())
        .bind(req.token.0.as_str())
        .bind(req.session.0.as_str())
        .bind(self.now_ms())
        .execute(self.pool())
        .await
        .map_err(D::map_err)?;
        Ok(D::rows_affected(&done) == 1)
    }

    async fn csrf_purge(&self, limit: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM csrf_tokens WHERE expires_at_ms <= $1 AND (tenant_id, token_hash) IN
               (SELECT tenant_id, token_hash FROM csrf_tokens WHERE expires_at_ms <= $1 LIMIT $2)",
        )
        .bind(self.now_ms())
        .bind(limit as i64)
        .execute(self.pool())
        .await
        .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }
}
