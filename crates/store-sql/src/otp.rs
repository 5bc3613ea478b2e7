//! One-time passcodes: one row per (tenant, identity hash), decided in Rust inside a write transaction.
//!
//! Each issue and verify is one [`Dialect::BEGIN_WRITE`] transaction: make sure the identity's
//! row exists (`INSERT … ON CONFLICT DO NOTHING`), lock and read it with a no-op
//! `UPDATE … RETURNING` (PostgreSQL holds its row lock until commit; SQLite's `BEGIN IMMEDIATE`
//! already holds the one write lock), decide with the crate's pure function
//! ([`palisade_otp::verify_decide`]), write the result, commit. Two concurrent verifies of one
//! code queue on the row: the second sees the code consumed. Time is the store clock.

use crate::{Dialect, SqlStore, Value};
use async_trait::async_trait;
use palisade_core::{StoreError, TenantId};
use palisade_otp::{
    issue_decide, lockout_decide, unlock_decide, verify_decide, CodeHash, IdentityHash,
    IssueOutcome, OtpIssue, OtpState, OtpStore, OtpVerify, VerifyOutcome,
};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Transaction, Type};

const ENSURE: &str = "
INSERT INTO otp_state (tenant_id, identity) VALUES ($1, $2)
ON CONFLICT (tenant_id, identity) DO NOTHING";

const LOCK: &str = "
UPDATE otp_state SET updated_at_ms = updated_at_ms WHERE tenant_id = $1 AND identity = $2
RETURNING code_hash, code_expires_at_ms, window_start_ms, window_attempts, failures,
          locked_until_ms, last_failure_ms, updated_at_ms";

const SAVE: &str = "
UPDATE otp_state SET code_hash = $3, code_expires_at_ms = $4, window_start_ms = $5,
    window_attempts = $6, failures = $7, locked_until_ms = $8, last_failure_ms = $9,
    updated_at_ms = $10
WHERE tenant_id = $1 AND identity = $2";

const PURGEABLE: &str = "(code_hash IS NULL OR code_expires_at_ms <= $1)
    AND locked_until_ms <= $1 AND updated_at_ms <= $1 - $2";

impl<D, B> SqlStore<D, B>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    String: Value<D>,
    Option<String>: Value<D>,
{
    /// Locks and reads the identity's row in `tx`; `None` when it has none.
    async fn otp_lock(
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        identity: &IdentityHash,
    ) -> Result<Option<OtpState>, StoreError> {
        let row = sqlx::query(LOCK)
            .bind(tenant.as_str())
            .bind(identity.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(D::map_err)?;
        let Some(r) = row else { return Ok(None) };
        let count = |name: &str| -> Result<u32, StoreError> {
            let v: i64 = Self::col(&r, name)?;
            u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("otp_state.{name}")))
        };
        Ok(Some(OtpState {
            code: Self::col::<Option<String>>(&r, "code_hash")?.map(CodeHash::from_stored),
            code_expires_at_ms: Self::col(&r, "code_expires_at_ms")?,
            window_start_ms: Self::col(&r, "window_start_ms")?,
            window_attempts: count("window_attempts")?,
            failures: count("failures")?,
            locked_until_ms: Self::col(&r, "locked_until_ms")?,
            last_failure_ms: Self::col(&r, "last_failure_ms")?,
            updated_at_ms: Self::col(&r, "updated_at_ms")?,
        }))
    }

    async fn otp_save(
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        identity: &IdentityHash,
        s: &OtpState,
    ) -> Result<(), StoreError> {
        sqlx::query(SAVE)
            .bind(tenant.as_str())
            .bind(identity.as_str())
            .bind(s.code.as_ref().map(|c| c.as_str().to_owned()))
            .bind(s.code_expires_at_ms)
            .bind(s.window_start_ms)
            .bind(s.window_attempts as i64)
            .bind(s.failures as i64)
            .bind(s.locked_until_ms)
            .bind(s.last_failure_ms)
            .bind(s.updated_at_ms)
            .execute(&mut **tx)
            .await
            .map_err(D::map_err)?;
        Ok(())
    }

    /// Creates the identity's row if missing, then decides on it in one write transaction.
    async fn otp_decide<T: Send>(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
        decide: impl FnOnce(OtpState, i64) -> (OtpState, T) + Send,
    ) -> Result<T, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let result = async {
            sqlx::query(ENSURE)
                .bind(tenant.as_str())
                .bind(identity.as_str())
                .execute(&mut *tx)
                .await
                .map_err(D::map_err)?;
            let state = Self::otp_lock(&mut tx, tenant, identity)
                .await?
                .ok_or_else(|| StoreError::Backend("otp_state row vanished".into()))?;
            let (next, out) = decide(state, self.now_ms());
            Self::otp_save(&mut tx, tenant, identity, &next).await?;
            Ok(out)
        }
        .await;
        Self::end(tx, result).await
    }
}

#[async_trait]
impl<D, B> OtpStore for SqlStore<D, B>
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
    async fn otp_issue(
        &self,
        tenant: &TenantId,
        req: &OtpIssue,
    ) -> Result<IssueOutcome, StoreError> {
        self.otp_decide(tenant, &req.identity, |s, now| issue_decide(s, req, now))
            .await
    }

    async fn otp_verify(
        &self,
        tenant: &TenantId,
        req: &OtpVerify,
    ) -> Result<VerifyOutcome, StoreError> {
        self.otp_decide(tenant, &req.identity, |s, now| verify_decide(s, req, now))
            .await
    }

    async fn otp_unlock(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let result = async {
            let Some(state) = Self::otp_lock(&mut tx, tenant, identity).await? else {
                return Ok(false);
            };
            let (next, was) = unlock_decide(state, self.now_ms());
            Self::otp_save(&mut tx, tenant, identity, &next).await?;
            Ok(was)
        }
        .await;
        Self::end(tx, result).await
    }

    async fn otp_lockout(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT locked_until_ms FROM otp_state WHERE tenant_id = $1 AND identity = $2",
        )
        .bind(tenant.as_str())
        .bind(identity.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(D::map_err)?;
        row.map_or(Ok(0), |r| Self::col(&r, "locked_until_ms"))
    }

    async fn otp_lockout_record(
        &self,
        tenant: &TenantId,
        identity: &IdentityHash,
        until_ms: i64,
    ) -> Result<(), StoreError> {
        self.otp_decide(tenant, identity, |s, now| lockout_decide(s, until_ms, now))
            .await
    }

    async fn otp_purge(&self, retain_ms: i64, limit: u32) -> Result<u64, StoreError> {
        let sql = format!(
            "DELETE FROM otp_state WHERE {PURGEABLE} AND (tenant_id, identity) IN
               (SELECT tenant_id, identity FROM otp_state WHERE {PURGEABLE} LIMIT $3)"
        );
        let done = sqlx::query(&sql)
            .bind(self.now_ms())
            .bind(retain_ms)
            .bind(limit as i64)
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }

    async fn otp_key(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        sqlx::query("INSERT INTO otp_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(hex::encode(candidate))
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        let row = sqlx::query("SELECT key FROM otp_key WHERE id = 1")
            .fetch_one(self.pool())
            .await
            .map_err(D::map_err)?;
        let key: String = Self::col(&row, "key")?;
        hex::decode(&key).map_err(|_| StoreError::Corrupt("otp_key.key is not hex".into()))
    }
}
