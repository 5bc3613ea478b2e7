//! Damaged rows on PostgreSQL: a NULL where the store reads a value is `Corrupt`.

use crate::common;
use palisade_store_postgres::PgStore;
use palisade_testkit::corrupt;

/// Sets `table.column` of every row to NULL, in the test's own schema. (A new column type would
/// do too, but statements prepared before it fail as "cached plan must not change result type".)
fn damage(s: &PgStore) -> impl AsyncFn(&str, &str) + '_ {
    async |table, column| {
        let sql = format!(
            "ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL;
             UPDATE {table} SET {column} = NULL"
        );
        sqlx::raw_sql(&sql).execute(s.pool()).await.unwrap();
    }
}

#[tokio::test]
async fn a_damaged_tenant_row_is_corrupt() {
    let Some(s) = common::store("a_damaged_tenant_row_is_corrupt").await else {
        return;
    };
    corrupt::tenant(&s, damage(&s)).await;
}

#[tokio::test]
async fn a_damaged_lock_row_is_corrupt() {
    let Some(s) = common::store("a_damaged_lock_row_is_corrupt").await else {
        return;
    };
    corrupt::lock(&s, damage(&s)).await;
}

#[tokio::test]
async fn a_damaged_idempotency_row_is_corrupt() {
    let Some(s) = common::store("a_damaged_idempotency_row_is_corrupt").await else {
        return;
    };
    corrupt::idempotency(&s, damage(&s)).await;
}

#[tokio::test]
async fn a_damaged_policy_row_is_corrupt() {
    let Some(s) = common::store("a_damaged_policy_row_is_corrupt").await else {
        return;
    };
    corrupt::policy_row(&s, damage(&s)).await;
}
