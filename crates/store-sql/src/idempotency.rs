//! Idempotency entries.
//!
//! The claim is one `INSERT … ON CONFLICT DO UPDATE … WHERE <expired or lock expired> RETURNING`
//! (on PostgreSQL concurrent claimers of one key wait on the row and re-check the condition on
//! its newest version; SQLite has one writer; either way exactly one wins); token-checked
//! updates are one conditional `UPDATE`/`DELETE`. Only when they write nothing is the row read,
//! to say why.

use crate::{Dialect, SqlStore, Value};
use async_trait::async_trait;
use palisade_core::{StoreError, TenantId};
use palisade_idempotency::row::{self, EntryRow, COMPLETED};
use palisade_idempotency::IdempotencyStore;
use palisade_idempotency::{
    BeginOutcome, EntryRef, EntryToken, EntryUpdate, IdempotencyBegin, IdempotencyComplete,
    RecoveryPointSet,
};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use std::time::Duration;

const CLAIM: &str = "
INSERT INTO idempotency_entries (tenant_id, principal, idem_key, fingerprint, token_hash, attempt,
    state, locked_until_ms, expires_at_ms, created_at_ms, updated_at_ms)
VALUES ($1, $2, $3, $4, $5, 1, 'in_flight', $7, $8, $6, $6)
ON CONFLICT (tenant_id, principal, idem_key) DO UPDATE SET
    token_hash = excluded.token_hash,
    attempt = CASE WHEN idempotency_entries.expires_at_ms <= $6 THEN 1
                   ELSE idempotency_entries.attempt + 1 END,
    recovery_name = CASE WHEN idempotency_entries.expires_at_ms <= $6 THEN NULL
                         ELSE idempotency_entries.recovery_name END,
    recovery_data = CASE WHEN idempotency_entries.expires_at_ms <= $6 THEN NULL
                         ELSE idempotency_entries.recovery_data END,
    fingerprint = excluded.fingerprint,
    state = 'in_flight',
    locked_until_ms = excluded.locked_until_ms,
    expires_at_ms = excluded.expires_at_ms,
    response_status = NULL, response_headers = NULL, response_body = NULL,
    created_at_ms = CASE WHEN idempotency_entries.expires_at_ms <= $6 THEN $6
                         ELSE idempotency_entries.created_at_ms END,
    updated_at_ms = $6
WHERE idempotency_entries.expires_at_ms <= $6
   OR (idempotency_entries.state = 'in_flight'
       AND idempotency_entries.locked_until_ms <= $6
       AND idempotency_entries.fingerprint = excluded.fingerprint)
RETURNING attempt, recovery_name, recovery_data";

/// The holder condition every token-checked update shares (params $1..$5).
const HELD: &str = "tenant_id = $1 AND principal = $2 AND idem_key = $3 AND token_hash = $4
    AND state = 'in_flight' AND expires_at_ms > $5";

type Query<'q, D> = sqlx::query::Query<'q, D, <D as sqlx::Database>::Arguments<'q>>;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `attempt` and `response_status` are `INTEGER` (32 bits on PostgreSQL): read as `i32`.
fn attempt(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What differs per database in the idempotency SQL.
pub trait IdempotencyDialect: Dialect {
    /// Deletes at most `$2` idempotency entries expired at `$1` (ms).
    const EXPIRED_DELETE: &'static str;
}

impl IdempotencyDialect for sqlx::Sqlite {
    const EXPIRED_DELETE: &'static str = "DELETE FROM idempotency_entries WHERE rowid IN (
        SELECT rowid FROM idempotency_entries WHERE expires_at_ms <= $1 LIMIT $2)";
}

impl IdempotencyDialect for sqlx::Postgres {
    /// Skips rows other sessions hold, so a sweep never waits on a claim.
    const EXPIRED_DELETE: &'static str = "DELETE FROM idempotency_entries
        WHERE (tenant_id, principal, idem_key) IN (
            SELECT tenant_id, principal, idem_key FROM idempotency_entries
            WHERE expires_at_ms <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
          AND expires_at_ms <= $1";
}

impl<D, B> SqlStore<D, B>
where
    D: IdempotencyDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    i32: Value<D>,
    String: Value<D>,
    Vec<u8>: Value<D>,
{
    fn entry_row(r: &D::Row) -> Result<EntryRow, StoreError> {
        Ok(EntryRow {
            fingerprint: Self::col(r, "fingerprint")?,
            token_hash: Self::col(r, "token_hash")?,
            attempt: i64::from(Self::col::<i32>(r, "attempt")?),
            state: Self::col(r, "state")?,
            locked_until_ms: Self::col(r, "locked_until_ms")?,
            expires_at_ms: Self::col(r, "expires_at_ms")?,
            recovery_name: Self::col(r, "recovery_name")?,
            recovery_data: Self::col(r, "recovery_data")?,
            response_status: Self::col::<Option<i32>>(r, "response_status")?.map(i64::from),
            response_headers: Self::col(r, "response_headers")?,
            response_body: Self::col(r, "response_body")?,
        })
    }

    async fn idem_read(
        &self,
        tenant: &TenantId,
        principal: &str,
        key: &str,
    ) -> Result<Option<EntryRow>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM idempotency_entries WHERE tenant_id = $1 AND principal = $2 AND idem_key = $3",
        )
        .bind(tenant.as_str())
        .bind(principal)
        .bind(key)
        .fetch_optional(self.pool())
        .await
        .map_err(D::map_err)?;
        row.as_ref().map(Self::entry_row).transpose()
    }

    async fn idem_claim(
        &self,
        tenant: &TenantId,
        req: &IdempotencyBegin,
        now: i64,
    ) -> Result<Option<BeginOutcome>, StoreError> {
        let token = EntryToken::generate();
        let row = sqlx::query(CLAIM)
            .bind(tenant.as_str())
            .bind(req.principal.as_str())
            .bind(req.key.as_str())
            .bind(req.fingerprint.as_str())
            .bind(token.hash())
            .bind(now)
            .bind(now.saturating_add(ms(req.lock_ttl)))
            .bind(now.saturating_add(ms(req.retention)))
            .fetch_optional(self.pool())
            .await
            .map_err(D::map_err)?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(BeginOutcome::Proceed {
            token,
            recovery_point: row::decode_point(
                Self::col(&r, "recovery_name")?,
                Self::col(&r, "recovery_data")?,
            )?,
            attempt: attempt(Self::col(&r, "attempt")?),
        }))
    }

    /// Runs a token-checked statement (`$1..$5` = scope, token hash, now); explains a miss.
    async fn idem_update<'q>(
        &self,
        tenant: &TenantId,
        entry: &EntryRef,
        sql: &'q str,
        extra: impl FnOnce(Query<'q, D>) -> Query<'q, D>,
    ) -> Result<EntryUpdate, StoreError> {
        let now = self.now_ms();
        let q = sqlx::query(sql)
            .bind(tenant.as_str().to_owned())
            .bind(entry.principal.clone())
            .bind(entry.key.as_str().to_owned())
            .bind(entry.token.hash())
            .bind(now);
        let done = extra(q).execute(self.pool()).await.map_err(D::map_err)?;
        if D::rows_affected(&done) == 1 {
            return Ok(EntryUpdate::Applied);
        }
        let row = self
            .idem_read(tenant, &entry.principal, entry.key.as_str())
            .await?;
        row::update_refusal(row, &entry.token, now)
    }
}

#[async_trait]
impl<D, B> IdempotencyStore for SqlStore<D, B>
where
    D: IdempotencyDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    i32: Value<D>,
    String: Value<D>,
    Vec<u8>: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    /// `IdempotencyStore::idempotency_begin`: claims the key, or says why not.
    async fn idempotency_begin(
        &self,
        tenant: &TenantId,
        req: &IdempotencyBegin,
    ) -> Result<BeginOutcome, StoreError> {
        for _ in 0..5 {
            let now = self.now_ms();
            if let Some(out) = self.idem_claim(tenant, req, now).await? {
                return Ok(out);
            }
            let row = self
                .idem_read(tenant, &req.principal, req.key.as_str())
                .await?;
            if let Some(out) = row::begin_refusal(row, req, now)? {
                return Ok(out);
            }
        }
        Err(StoreError::Backend(
            "idempotency begin did not settle".into(),
        ))
    }

    /// `IdempotencyStore::idempotency_recovery_point_set`.
    async fn idempotency_recovery_point_set(
        &self,
        tenant: &TenantId,
        req: &RecoveryPointSet,
    ) -> Result<EntryUpdate, StoreError> {
        let sql = format!(
            "UPDATE idempotency_entries SET recovery_name = $6, recovery_data = $7,
                 locked_until_ms = $5 + $8, updated_at_ms = $5 WHERE {HELD}"
        );
        self.idem_update(tenant, &req.entry, &sql, |q| {
            q.bind(req.point.name.clone())
                .bind(row::encode_data(&req.point))
                .bind(ms(req.lock_ttl))
        })
        .await
    }

    /// `IdempotencyStore::idempotency_complete`.
    async fn idempotency_complete(
        &self,
        tenant: &TenantId,
        req: &IdempotencyComplete,
    ) -> Result<EntryUpdate, StoreError> {
        let sql = format!(
            "UPDATE idempotency_entries SET state = '{COMPLETED}', response_status = $6,
                 response_headers = $7, response_body = $8, expires_at_ms = $5 + $9,
                 recovery_name = NULL, recovery_data = NULL, updated_at_ms = $5
             WHERE {HELD}"
        );
        self.idem_update(tenant, &req.entry, &sql, |q| {
            q.bind(i32::from(req.response.status))
                .bind(row::encode_headers(&req.response))
                .bind(req.response.body.clone())
                .bind(ms(req.ttl))
        })
        .await
    }

    /// `IdempotencyStore::idempotency_abandon`.
    async fn idempotency_abandon(
        &self,
        tenant: &TenantId,
        entry: &EntryRef,
    ) -> Result<EntryUpdate, StoreError> {
        let sql = format!("DELETE FROM idempotency_entries WHERE {HELD}");
        self.idem_update(tenant, entry, &sql, |q| q).await
    }

    /// `IdempotencyStore::idempotency_expired_delete`: [`IdempotencyDialect::EXPIRED_DELETE`].
    async fn idempotency_expired_delete(&self, limit: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(D::EXPIRED_DELETE)
            .bind(self.now_ms())
            .bind(i64::from(limit))
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }
}
