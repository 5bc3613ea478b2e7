//! SQLite: one writer at a time, taken up front by `BEGIN IMMEDIATE`.

use super::{map_sqlx_err, Dialect};
use palisade_core::StoreError;
use sqlx::Sqlite;

impl Dialect for Sqlite {
    fn map_err(e: sqlx::Error) -> StoreError {
        map_sqlx_err(e, "sqlite", |e, db| {
            if db.is_unique_violation() {
                return Some(StoreError::Conflict(db.message().to_owned()));
            }
            // The primary result code is the extended code's low byte: SQLITE_BUSY (5) and
            // SQLITE_LOCKED (6) mean another writer held the database past the busy timeout,
            // SQLITE_FULL (13) a full disk. They pass; the request was not at fault.
            let primary = db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .map(|c| c & 0xff);
            matches!(primary, Some(5 | 6 | 13)).then(|| StoreError::Unavailable(e.to_string()))
        })
    }

    fn rows_affected(r: &Self::QueryResult) -> u64 {
        r.rows_affected()
    }

    /// Takes SQLite's write lock up front, so read-decide-write inside it is atomic and never
    /// fails on a lock upgrade.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const SINGLE_WRITER: bool = true;

    /// In WAL mode a read transaction sees one snapshot.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";
}
