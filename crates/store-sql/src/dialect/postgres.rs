//! PostgreSQL: errors by SQLSTATE; writers serialise on the row locks their statements take.

use super::Dialect;
use palisade_core::StoreError;
use sqlx::{Pool, Postgres, Transaction};

impl Dialect for Postgres {
    /// Skips rows other sessions hold, so a sweep never waits on a claim.
    const IDEMPOTENCY_PURGE: &'static str = "DELETE FROM idempotency_entries
        WHERE (tenant_id, principal, idem_key) IN (
            SELECT tenant_id, principal, idem_key FROM idempotency_entries
            WHERE expires_at_ms <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
          AND expires_at_ms <= $1";

    fn map_err(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable("postgres pool exhausted or closed".into())
            }
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("23505") => StoreError::Conflict(db.message().to_owned()),
                Some(c) if c.starts_with("08") || c == "57P01" || c == "53300" => {
                    StoreError::Unavailable(e.to_string())
                }
                Some("57014") => StoreError::Timeout,
                _ => StoreError::Backend(e.to_string()),
            },
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }

    fn rows_affected(r: &Self::QueryResult) -> u64 {
        r.rows_affected()
    }

    /// A READ COMMITTED transaction: its writes lock their rows until commit.
    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, StoreError> {
        pool.begin().await.map_err(Self::map_err)
    }
}
