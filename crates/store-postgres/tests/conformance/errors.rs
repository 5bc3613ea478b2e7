//! Error mapping on a real server: the SQLSTATEs of a transient condition (a deadlock, a
//! serialization failure, too many connections, a server shutting down or starting, a lock
//! wait timeout, a read-only failover target) are `Unavailable` — retryable, a 503 — never a
//! `Backend` error (a 500).

use palisade_core::StoreError;
use palisade_store_sql::Dialect;
use sqlx::Connection;

/// The error of a statement raising SQLSTATE `code`, as the stores map it.
async fn mapped(conn: &mut sqlx::PgConnection, code: &str) -> StoreError {
    let sql = format!("DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{code}'; END $$");
    let e = sqlx::query(&sql).execute(&mut *conn).await.unwrap_err();
    <sqlx::Postgres as Dialect>::map_err(e)
}

#[tokio::test]
async fn transient_sqlstates_are_unavailable_and_others_are_not() {
    let Some(url) = palisade_testkit::backends::postgres_or_skip("pg_errors").await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    for code in [
        "40001", "40P01", "53000", "53100", "53200", "53300", "53400", "55P03", "57P01", "57P02",
        "57P03", "25006", "08006",
    ] {
        let e = mapped(&mut conn, code).await;
        assert!(
            matches!(e, StoreError::Unavailable(_)),
            "SQLSTATE {code}: {e:?}"
        );
    }
    assert!(matches!(
        mapped(&mut conn, "57014").await,
        StoreError::Timeout
    ));
    assert!(matches!(
        mapped(&mut conn, "23505").await,
        StoreError::Conflict(_)
    ));
    for code in ["22P02", "42P01", "XX000"] {
        let e = mapped(&mut conn, code).await;
        assert!(
            matches!(e, StoreError::Backend(_)),
            "SQLSTATE {code}: {e:?}"
        );
    }
}
