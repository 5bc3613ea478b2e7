//! Error mapping on a real database file: a write that finds the database locked by another
//! writer (`SQLITE_BUSY`, also after the busy timeout) is `Unavailable` — retryable, a 503 —
//! never a `Backend` error (a 500).

use palisade_core::StoreError;
use palisade_store_sql::Dialect;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::time::Duration;

#[tokio::test]
async fn a_write_locked_out_by_another_writer_is_unavailable() {
    let dir = std::env::temp_dir().join(palisade_testkit::backends::unique("sqlite_busy"));
    std::fs::create_dir_all(&dir).unwrap();
    let opts = SqliteConnectOptions::new()
        .filename(dir.join("busy.db"))
        .create_if_missing(true)
        .busy_timeout(Duration::from_millis(50));
    let mut holder = opts.connect().await.unwrap();
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&mut holder)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut writer = opts.connect().await.unwrap();
    let e = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut writer)
        .await
        .unwrap_err();
    let e = <sqlx::Sqlite as Dialect>::map_err(e);
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
