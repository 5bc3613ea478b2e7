//! What differs between the SQL databases, and the bounds the shared SQL needs of them.

use palisade_core::StoreError;
use sqlx::{Database, Decode, Encode, Pool, Transaction, Type};
use std::future::Future;

mod postgres;
mod sqlite;

/// The error mapping both databases share: an exhausted pool or a broken connection is
/// `Unavailable`, an undecodable column `Corrupt`; a database error goes to `by_code` (the
/// database's own codes, never message text), and what nobody claims is `Backend`.
fn map_sqlx_err(
    e: sqlx::Error,
    database: &str,
    by_code: impl FnOnce(&sqlx::Error, &dyn sqlx::error::DatabaseError) -> Option<StoreError>,
) -> StoreError {
    let mapped = match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Some(StoreError::Unavailable(
            format!("{database} pool exhausted or closed"),
        )),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => Some(StoreError::Unavailable(e.to_string())),
        sqlx::Error::Database(db) => by_code(&e, db.as_ref()),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::Decode(_) => Some(StoreError::Corrupt(e.to_string())),
        _ => None,
    };
    mapped.unwrap_or_else(|| StoreError::Backend(e.to_string()))
}

/// A value the shared SQL binds and reads on database `D` (`Option`s of it come free).
pub trait Value<D: Database>: for<'q> Encode<'q, D> + for<'r> Decode<'r, D> + Type<D> {}

impl<D: Database, T> Value<D> for T where T: for<'q> Encode<'q, D> + for<'r> Decode<'r, D> + Type<D> {}

/// One SQL database as the shared SQL sees it: implemented for `sqlx::Sqlite` and
/// `sqlx::Postgres`.
pub trait Dialect: Database {
    /// Deletes at most `$2` idempotency entries expired at `$1` (ms).
    const IDEMPOTENCY_PURGE: &'static str;

    /// Maps a sqlx error to the shared [`StoreError`] by kind and error code, never by text.
    fn map_err(e: sqlx::Error) -> StoreError;

    /// Rows a statement wrote.
    fn rows_affected(r: &Self::QueryResult) -> u64;

    /// Opens a transaction in which a read followed by a write is one atomic step against
    /// every other writer of the rows it touches.
    const BEGIN_WRITE: &'static str;

    /// Opens a read-only transaction whose reads all see one snapshot.
    const BEGIN_SNAPSHOT: &'static str;

    /// Answers the version of the last rate-limit config change the tables reflect.
    const RATE_CONFIG_VERSION: &'static str;

    /// Appends `change` (JSON) to the rate-limit change feed in `tx`; its version. Writers of
    /// the rate-limit config are serialised from here to commit, so a count read after it in
    /// `tx` cannot change before the commit.
    fn rate_config_change_record(
        tx: &mut Transaction<'static, Self>,
        tenant: &str,
        change: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// `RatePolicyStore::rate_config_prune`: deletes up to `limit` changes written before
    /// `before_ms` and raises `ratelimit_feed.pruned_through` to the highest deleted version,
    /// in one transaction; how many it deleted.
    fn rate_config_prune(
        pool: &Pool<Self>,
        before_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
