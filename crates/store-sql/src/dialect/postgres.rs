//! PostgreSQL: errors by SQLSTATE; writers serialise on the row locks their statements take.

use super::{map_sqlx_err, Dialect};
use palisade_core::StoreError;
use sqlx::Postgres;

impl Dialect for Postgres {
    /// By SQLSTATE: unique violation, statement timeout, and [`transient`] conditions.
    fn map_err(e: sqlx::Error) -> StoreError {
        map_sqlx_err(e, "postgres", |e, db| match db.code().as_deref() {
            Some("23505") => Some(StoreError::Conflict(db.message().to_owned())),
            Some("57014") => Some(StoreError::Timeout),
            Some(c) if transient(c) => Some(StoreError::Unavailable(e.to_string())),
            _ => None,
        })
    }

    fn rows_affected(r: &Self::QueryResult) -> u64 {
        r.rows_affected()
    }

    /// READ COMMITTED: writes lock their rows until commit.
    const BEGIN_WRITE: &'static str = "BEGIN";
    const SINGLE_WRITER: bool = false;

    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
}

/// SQLSTATEs of a condition that passes: a connection failure (class 08), insufficient
/// resources (53: disk, memory, connections), an operator intervention (57P: shutdown,
/// starting up), a serialization failure or deadlock (40001, 40P01: the transaction was rolled
/// back), a lock wait timeout (55P03) and a write on a read-only server (25006: a failover in
/// progress). Retrying later can succeed; none is a fault of the request or of Palisade.
fn transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code, "40001" | "40P01" | "55P03" | "25006")
}
