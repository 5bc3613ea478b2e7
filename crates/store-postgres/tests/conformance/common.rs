//! A fresh migrated PostgreSQL store in its own schema per test.

use palisade_core::ManualClock;
use palisade_store_postgres::{PgOptions, PgStore};
use palisade_testkit::Time;
use sqlx::PgPool;
use std::sync::Arc;

/// A fresh, migrated store in its own schema, or `None` when PostgreSQL is absent outside CI.
pub async fn store(test: &str) -> Option<PgStore> {
    let url = palisade_testkit::backends::postgres_or_skip(test).await?;
    let mut opts = PgOptions::new(url);
    opts.schema = Some(palisade_testkit::backends::unique("t"));
    opts.max_connections = Some(8);
    let s = PgStore::connect(&opts).await.unwrap();
    s.migrate().await.unwrap();
    Some(s)
}

/// A fresh store on a manual clock, for the suites that drive time.
pub async fn timed(test: &str) -> Option<(PgStore, Time)> {
    let clock = ManualClock::new(1_700_000_000_000);
    let s = store(test).await?.with_clock(clock.clone());
    Some((s, Time::Manual(clock)))
}

/// A fresh store as the cron suite's subject: schedules and jobs in the same store.
pub async fn cron(test: &str) -> Option<palisade_testkit::cron::Subject> {
    let clock = ManualClock::new(palisade_testkit::cron::T0);
    let s = Arc::new(store(test).await?.with_clock(clock.clone()));
    Some(palisade_testkit::cron::Subject {
        cron: s.clone(),
        jobs: s,
        clock,
    })
}

/// A fresh store and the manual clock it reads, for the jobs suite.
pub async fn clocked(test: &str) -> Option<(PgStore, Arc<ManualClock>)> {
    let clock = ManualClock::new(1_700_000_000_000);
    Some((store(test).await?.with_clock(clock.clone()), clock))
}

/// A fresh store and how to damage it: a NULL where the store reads a value.
pub async fn corrupt_subject(test: &str) -> Option<(PgStore, impl AsyncFn(&str, &str))> {
    let s = store(test).await?;
    Some((s.clone(), damage(s.pool().clone())))
}

/// Sets `table.column` of every row to NULL, in the test's own schema. (A new column type would
/// do too, but statements prepared before it fail as "cached plan must not change result type".)
fn damage(pool: PgPool) -> impl AsyncFn(&str, &str) {
    async move |table: &str, column: &str| {
        let sql = format!(
            "ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL;
             UPDATE {table} SET {column} = NULL"
        );
        sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
    }
}
