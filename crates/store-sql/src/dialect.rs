//! What differs between the SQL databases, and the bounds the shared SQL needs of them.

use palisade_core::StoreError;
use sqlx::{Database, Decode, Encode, Type};

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
/// `sqlx::Postgres`. What one capability needs to differ is its own trait beside its SQL
/// ([`IdempotencyDialect`](crate::IdempotencyDialect),
/// [`RateLimitConfigDialect`](crate::RateLimitConfigDialect)).
pub trait Dialect: Database {
    /// Maps a sqlx error to the shared [`StoreError`] by kind and error code, never by text.
    fn map_err(e: sqlx::Error) -> StoreError;

    /// Rows a statement wrote.
    fn rows_affected(r: &Self::QueryResult) -> u64;

    /// Opens a transaction in which a read followed by a write is one atomic step against
    /// every other writer of the rows it touches.
    const BEGIN_WRITE: &'static str;

    /// Opens a read-only transaction whose reads all see one snapshot.
    const BEGIN_SNAPSHOT: &'static str;

    /// True when the database takes one write transaction at a time (SQLite): concurrent
    /// small writes then go faster grouped into one transaction than each in its own.
    const SINGLE_WRITER: bool;
}
