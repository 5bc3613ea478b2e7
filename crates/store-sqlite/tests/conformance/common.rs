//! A fresh migrated SQLite store in a temporary file per test.

use palisade_core::ManualClock;
use palisade_store_sqlite::{SqliteOptions, SqliteStore};
use palisade_testkit::Time;
use sqlx::SqlitePool;
use std::sync::Arc;

/// A fresh, migrated store in its own temporary database file.
pub async fn store() -> SqliteStore {
    let dir = std::env::temp_dir().join(palisade_testkit::backends::unique("palisade_sqlite"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("test.db").display());
    let s = SqliteStore::connect(&SqliteOptions::new(url))
        .await
        .unwrap();
    s.migrate().await.unwrap();
    s
}

/// A fresh store on a manual clock, for the suites that drive time.
pub async fn timed(_check: &str) -> Option<(SqliteStore, Time)> {
    let clock = ManualClock::new(1_700_000_000_000);
    Some((store().await.with_clock(clock.clone()), Time::Manual(clock)))
}

/// A fresh store as the cron suite's subject: schedules and jobs in the same store.
pub async fn cron(_check: &str) -> Option<palisade_testkit::cron::Subject> {
    let clock = ManualClock::new(palisade_testkit::cron::T0);
    let s = Arc::new(store().await.with_clock(clock.clone()));
    Some(palisade_testkit::cron::Subject {
        cron: s.clone(),
        jobs: s,
        clock,
    })
}

/// A fresh store and the manual clock it reads, for the jobs suite.
pub async fn clocked(_check: &str) -> Option<(SqliteStore, Arc<ManualClock>)> {
    let clock = ManualClock::new(1_700_000_000_000);
    Some((store().await.with_clock(clock.clone()), clock))
}

/// A fresh store and how to damage it: text where the store reads a number (SQLite's columns
/// accept any type).
pub async fn corrupt_subject(_check: &str) -> Option<(SqliteStore, impl AsyncFn(&str, &str))> {
    let s = store().await;
    Some((s.clone(), damage(s.pool().clone())))
}

/// Stores text in `table.column` of every row.
pub fn damage(pool: SqlitePool) -> impl AsyncFn(&str, &str) {
    async move |table: &str, column: &str| {
        sqlx::query(&format!("UPDATE {table} SET {column} = 'not a number'"))
            .execute(&pool)
            .await
            .unwrap();
    }
}
