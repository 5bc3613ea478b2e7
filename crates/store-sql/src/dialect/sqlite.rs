//! SQLite: one writer at a time, taken up front by `BEGIN IMMEDIATE`.

use super::{map_sqlx_err, Dialect};
use palisade_core::StoreError;
use sqlx::{Pool, Sqlite, Transaction};

impl Dialect for Sqlite {
    const IDEMPOTENCY_PURGE: &'static str = "DELETE FROM idempotency_entries WHERE rowid IN (
        SELECT rowid FROM idempotency_entries WHERE expires_at_ms <= $1 LIMIT $2)";

    fn map_err(e: sqlx::Error) -> StoreError {
        map_sqlx_err(e, "sqlite", |_, db| {
            db.is_unique_violation()
                .then(|| StoreError::Conflict(db.message().to_owned()))
        })
    }

    fn rows_affected(r: &Self::QueryResult) -> u64 {
        r.rows_affected()
    }

    /// Takes SQLite's write lock up front, so read-decide-write inside it is atomic and never
    /// fails on a lock upgrade.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    /// In WAL mode a read transaction sees one snapshot.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";

    /// The newest change, or the newest pruned one when the feed is empty.
    const RATE_CONFIG_VERSION: &'static str =
        "SELECT max(coalesce((SELECT max(version) FROM ratelimit_changes), 0),
                    (SELECT pruned_through FROM ratelimit_feed))";

    /// Runs in a `BEGIN IMMEDIATE` transaction ([`Self::BEGIN_WRITE`]): SQLite's one write lock
    /// serialises the writers; the version is the row's `AUTOINCREMENT` id.
    async fn rate_config_change_record(
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

    /// Two statements in one `BEGIN IMMEDIATE` transaction (migration 0005).
    async fn rate_config_prune(
        pool: &Pool<Self>,
        before_ms: i64,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let mut tx = pool
            .begin_with(Self::BEGIN_WRITE)
            .await
            .map_err(Self::map_err)?;
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
