//! PostgreSQL: errors by SQLSTATE; writers serialise on the row locks their statements take.

use super::{map_sqlx_err, Dialect};
use palisade_core::StoreError;
use sqlx::{Pool, Postgres, Transaction};

impl Dialect for Postgres {
    /// Skips rows other sessions hold, so a sweep never waits on a claim.
    const IDEMPOTENCY_PURGE: &'static str = "DELETE FROM idempotency_entries
        WHERE (tenant_id, principal, idem_key) IN (
            SELECT tenant_id, principal, idem_key FROM idempotency_entries
            WHERE expires_at_ms <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
          AND expires_at_ms <= $1";

    /// By SQLSTATE: unique violation, connection failures, statement timeout.
    fn map_err(e: sqlx::Error) -> StoreError {
        map_sqlx_err(e, "postgres", |e, db| match db.code().as_deref() {
            Some("23505") => Some(StoreError::Conflict(db.message().to_owned())),
            Some(c) if c.starts_with("08") || c == "57P01" || c == "53300" => {
                Some(StoreError::Unavailable(e.to_string()))
            }
            Some("57014") => Some(StoreError::Timeout),
            _ => None,
        })
    }

    fn rows_affected(r: &Self::QueryResult) -> u64 {
        r.rows_affected()
    }

    /// READ COMMITTED: writes lock their rows until commit.
    const BEGIN_WRITE: &'static str = "BEGIN";

    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

    /// Writers bump `ratelimit_version` in the transaction that writes, so in one snapshot it
    /// is exactly the last change the rows reflect.
    const RATE_CONFIG_VERSION: &'static str = "SELECT v FROM ratelimit_version";

    /// Bumps the one `ratelimit_version` row first: its lock serialises config writers, and a
    /// count read afterwards (a fresh READ COMMITTED snapshot) sees every committed write.
    async fn rate_config_change_record(
        tx: &mut Transaction<'static, Self>,
        tenant: &str,
        change: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let v: i64 = sqlx::query_scalar("UPDATE ratelimit_version SET v = v + 1 RETURNING v")
            .fetch_one(&mut **tx)
            .await
            .map_err(Self::map_err)?;
        sqlx::query(
            "INSERT INTO ratelimit_changes (version, tenant_id, change, at_ms)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(v)
        .bind(tenant)
        .bind(change)
        .bind(now_ms)
        .execute(&mut **tx)
        .await
        .map_err(Self::map_err)?;
        Ok(v)
    }

    /// One statement (migration 0008); rows other prunes hold are skipped, not waited for.
    async fn rate_config_prune(
        pool: &Pool<Self>,
        before_ms: i64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "WITH gone AS (
               DELETE FROM ratelimit_changes WHERE version IN (SELECT version FROM ratelimit_changes
                 WHERE at_ms < $1 ORDER BY at_ms LIMIT $2 FOR UPDATE SKIP LOCKED)
               RETURNING version),
             raised AS (
               UPDATE ratelimit_feed
               SET pruned_through = GREATEST(pruned_through, (SELECT max(version) FROM gone))
               WHERE EXISTS (SELECT 1 FROM gone))
             SELECT count(*) FROM gone",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_one(pool)
        .await
        .map_err(Self::map_err)?;
        Ok(n as u64)
    }
}
