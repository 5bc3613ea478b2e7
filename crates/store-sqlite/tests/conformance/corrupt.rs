//! Damaged rows on SQLite: a column holding text where the store reads a number is `Corrupt`.

use crate::common;
use palisade_store_sqlite::SqliteStore;
use palisade_testkit::corrupt;

/// Stores text in `table.column` of every row (SQLite's columns accept any type).
fn damage(s: &SqliteStore) -> impl AsyncFn(&str, &str) + '_ {
    async |table, column| {
        sqlx::query(&format!("UPDATE {table} SET {column} = 'not a number'"))
            .execute(s.pool())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_damaged_tenant_row_is_corrupt() {
    let s = common::store().await;
    corrupt::tenant(&s, damage(&s)).await;
}

#[tokio::test]
async fn a_damaged_lock_row_is_corrupt() {
    let s = common::store().await;
    corrupt::lock(&s, damage(&s)).await;
}

#[tokio::test]
async fn a_damaged_idempotency_row_is_corrupt() {
    let s = common::store().await;
    corrupt::idempotency(&s, damage(&s)).await;
}

#[tokio::test]
async fn a_damaged_policy_row_is_corrupt() {
    let s = common::store().await;
    corrupt::policy_row(&s, damage(&s)).await;
}

#[tokio::test]
async fn a_damaged_rate_state_row_is_corrupt() {
    let s = common::store().await;
    corrupt::rate_state(&s, "blocked_until_ms", damage(&s)).await;
}
