//! SQLite: one writer at a time, taken up front by `BEGIN IMMEDIATE`.

use super::Dialect;
use palisade_core::StoreError;
use sqlx::{Pool, Sqlite, Transaction};

impl Dialect for Sqlite {
    const IDEMPOTENCY_PURGE: &'static str = "DELETE FROM idempotency_entries WHERE rowid IN (
        SELECT rowid FROM idempotency_entries WHERE expires_at_ms <= $1 LIMIT $2)";

    fn map_err(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable("sqlite pool exhausted or closed".into())
            }
            sqlx::Error::Io(_) => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }

    fn rows_affected(r: &Self::QueryResult) -> u64 {
        r.rows_affected()
    }

    /// Takes SQLite's write lock up front (`BEGIN IMMEDIATE`), so read-decide-write inside it
    /// is atomic and never fails on a lock upgrade.
    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, StoreError> {
        pool.begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Self::map_err)
    }
}
