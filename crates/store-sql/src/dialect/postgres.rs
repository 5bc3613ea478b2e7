//! PostgreSQL: errors by SQLSTATE; writers serialise on the row locks their statements take.

use super::{map_sqlx_err, Dialect};
use palisade_core::StoreError;
use sqlx::Postgres;

impl Dialect for Postgres {
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
}
