//! SQLite: one writer at a time, taken up front by `BEGIN IMMEDIATE`.

use super::{map_sqlx_err, Dialect};
use palisade_core::StoreError;
use sqlx::Sqlite;

impl Dialect for Sqlite {
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
}
