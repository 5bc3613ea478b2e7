//! [`RateLimitConfigDialect`]: what differs per database in the rate-limit config SQL.

use crate::Dialect;
use palisade_core::StoreError;
use sqlx::{Pool, Postgres, Sqlite, Transaction};
use std::future::Future;

/// What differs per database in the rate-limit config SQL: the feed's version and pruning.
pub trait RateLimitConfigDialect: Dialect {
    /// Answers the version of the last rate-limit config change the tables reflect.
    const CONFIG_VERSION: &'static str;

    /// Appends `change` (JSON) to the rate-limit change feed in `tx`; its version. Writers of
    /// the rate-limit config are serialised from here to commit, so a count read after it in
    /// `tx` cannot change before the commit.
    fn config_change_record(
        tx: &mut Transaction<'static, Self>,
        tenant: &str,
        change: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// `RateLimitPolicyStore::ratelimit_feed_prune_changes`: deletes up to `limit` changes written before
    /// `before_ms` and raises `ratelimit_feed.pruned_through` to the highest deleted version,
    /// in one transaction; how many it deleted.
    fn config_prune(
        pool: &Pool<Self>,
        before_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// SQLite: one writer at a time (`BEGIN IMMEDIATE`).
impl RateLimitConfigDialect for Sqlite {
    /// The newest change, or the newest pruned one when the feed is empty.
    const CONFIG_VERSION: &'static str =
        "SELECT max(coalesce((SELECT max(version) FROM ratelimit_changes), 0),
                    (SELECT pruned_through FROM ratelimit_feed))";

    /// Runs in a `BEGIN IMMEDIATE` transaction ([`Self::BEGIN_WRITE`]): SQLite's one write lock
    /// serialises the writers; the version is the row's `AUTOINCREMENT` id.
    async fn config_change_record(
        tx: &mut Transaction<'static, Self>,
        tenant: &str,
        change: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO ratelimit_changes (tenant_id, change, at_ms) VALUES ($1, $2, $3)
             RETURNING version",
        )
        .bind(tenant)
        .bind(change)
        .bind(now_ms)
        .fetch_one(&mut **tx)
        .await
        .map_err(Self::map_err)
    }

    /// Two statements in one `BEGIN IMMEDIATE` transaction.
    async fn config_prune(
        pool: &Pool<Self>,
        before_ms: i64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let mut tx = crate::tx_begin(pool, Self::BEGIN_WRITE).await?;
        let gone: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM ratelimit_changes WHERE version IN (SELECT version FROM ratelimit_changes
             WHERE at_ms < $1 ORDER BY at_ms LIMIT $2) RETURNING version",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(Self::map_err)?;
        if let Some(top) = gone.iter().max() {
            sqlx::query("UPDATE ratelimit_feed SET pruned_through = max(pruned_through, $1)")
                .bind(top)
                .execute(&mut *tx)
                .await
                .map_err(Self::map_err)?;
        }
        tx.commit().await.map_err(Self::map_err)?;
        Ok(gone.len() as u64)
    }
}

/// PostgreSQL: writers serialise on the `ratelimit_version` row.
impl RateLimitConfigDialect for Postgres {
    /// Writers bump `ratelimit_version` in the transaction that writes, so in one snapshot it
    /// is exactly the last change the rows reflect.
    const CONFIG_VERSION: &'static str = "SELECT v FROM ratelimit_version";

    /// Bumps the one `ratelimit_version` row first: its lock serialises config writers, and a
    /// count read afterwards (a fresh READ COMMITTED snapshot) sees every committed write.
    async fn config_change_record(
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

    /// One statement; rows other prunes hold are skipped, not waited for.
    async fn config_prune(
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
