//! The SQL both SQL stores share: queries and row mapping generic over sqlx's `Database`.
//!
//! [`SqlStore`] holds a pool, the store clock and the store crate's own part (its
//! [`SqlBackend`]); each capability module implements that capability's store trait for it
//! directly, for every [`Dialect`] (SQLite and PostgreSQL): `TenantStore` in `tenants.rs`,
//! the change feed (`ChangeFeed`) in `changes.rs`,
//! `LockStore` in `locks.rs`, `IdempotencyStore` in `idempotency.rs`, `RateLimitPolicyStore` in
//! `ratelimit/config.rs`, `JobStore` in `jobs.rs`, `CronStore` in `cron.rs`, `RealtimeStore`
//! in `realtime.rs`, `StreamSlotStore` in `stream_slots.rs`, `OtpStore` in `otp.rs`,
//! `CsrfStore` in `csrf.rs`, `TokenStore` in `tokens.rs`, and `RateLimitStore`
//! in `ratelimit/decisions.rs` through the store crate's [`RateLimitDecisions`]. The
//! statements are written once with `$n` placeholders, which both drivers accept. What differs
//! per database is a [`Dialect`] method, or a method of the capability's own dialect trait
//! ([`IdempotencyDialect`], [`JobDialect`], [`RateLimitConfigDialect`]).
//! `palisade-store-sqlite` and `palisade-store-postgres` own their pools, migrations and
//! rate-limit decisions, and name their store `SqlStore<Db, TheirBackend>`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audit;
mod backend;
mod changes;
mod cron;
mod csrf;
mod dialect;
mod idempotency;
mod jobs;
mod locks;
mod otp;
mod ratelimit;
mod realtime;
mod stream_slots;
mod tenants;
mod tokens;
mod webhooks;

pub use backend::SqlBackend;
pub use changes::ChangeDialect;
pub use dialect::{Dialect, Value};
pub use idempotency::IdempotencyDialect;
pub use jobs::{lease_sql as job_lease_sql, JobDialect, JOB_CHANNEL, JOB_STOP_CHANNEL};
pub use ratelimit::{RateLimitConfigDialect, RateLimitDecisions};

use palisade_core::{SharedClock, StoreError, SystemClock};
use sqlx::{ColumnIndex, Database, Decode, Executor, IntoArguments, Pool, Row, Transaction, Type};

/// A pool of database `D`, the store clock and the store crate's part `B`: it implements every
/// store trait of the SQL stores (`palisade_store_sqlite::SqliteStore` and
/// `palisade_store_postgres::PgStore` are names of it).
#[derive(Debug)]
pub struct SqlStore<D: Database, B = ()> {
    pool: Pool<D>,
    clock: SharedClock,
    backend: B,
}

impl<D: Database, B: Clone> Clone for SqlStore<D, B> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            clock: self.clock.clone(),
            backend: self.backend.clone(),
        }
    }
}

impl<D: Database> SqlStore<D> {
    /// The shared operations on `pool`, timed by the system clock, with no store crate part.
    pub fn new(pool: Pool<D>) -> Self {
        Self::with_backend(pool, ())
    }
}

impl<D: Dialect, B: SqlBackend<D>> SqlStore<D, B> {
    /// Connects as the store crate's [`SqlBackend::connect`] says. Does not migrate.
    pub async fn connect(opts: &B::Options) -> Result<Self, StoreError> {
        let (pool, backend) = B::connect(opts).await?;
        Ok(Self::with_backend(pool, backend))
    }

    /// Applies the store crate's migrations ([`SqlBackend::migrate`]); the names applied.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        B::migrate(&self.pool).await
    }
}

/// Runs `migrator` on `pool` and names the migrations it applied (`0030_jobs`): those not
/// recorded as applied before the run.
pub async fn migrate_reporting<D>(
    pool: &Pool<D>,
    migrator: &sqlx::migrate::Migrator,
) -> Result<Vec<String>, StoreError>
where
    D: Database,
    D::Connection: sqlx::migrate::Migrate,
{
    use sqlx::migrate::Migrate;
    let failed = |e: sqlx::migrate::MigrateError| StoreError::Backend(e.to_string());
    let before: std::collections::HashSet<i64> = {
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        conn.ensure_migrations_table().await.map_err(failed)?;
        let applied = conn.list_applied_migrations().await.map_err(failed)?;
        applied.into_iter().map(|m| m.version).collect()
    };
    migrator.run(pool).await.map_err(failed)?;
    Ok(migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !before.contains(&m.version))
        .map(|m| format!("{:04}_{}", m.version, m.description.replace(' ', "_")))
        .collect())
}

impl<D: Database, B> SqlStore<D, B> {
    /// The store on `pool` with the store crate's part `backend`, timed by the system clock.
    pub fn with_backend(pool: Pool<D>, backend: B) -> Self {
        Self {
            pool,
            clock: SystemClock::shared(),
            backend,
        }
    }

    /// Replaces the clock (tests drive a manual one).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The connection pool.
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    /// The pool's size (its maximum number of connections).
    pub fn pool_size(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    /// The store crate's part.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction opened with `begin` (e.g. [`Dialect::BEGIN_WRITE`]); see [`tx_begin`].
    pub async fn begin(&self, begin: &'static str) -> Result<Transaction<'static, D>, StoreError>
    where
        D: Dialect,
    {
        tx_begin(&self.pool, begin).await
    }

    /// Ends `tx`: commits when `result` is `Ok`, else rolls back before answering. (A dropped
    /// transaction rolls back later, on the pool's time, and keeps its row locks meanwhile: a
    /// `SKIP LOCKED` lease would pass over those rows.)
    pub async fn end<T, E: From<StoreError>>(
        tx: Transaction<'static, D>,
        result: Result<T, E>,
    ) -> Result<T, E>
    where
        D: Dialect,
    {
        match result {
            Ok(v) => {
                tx.commit().await.map_err(D::map_err)?;
                Ok(v)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    /// The store clock's time (ms).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError>
    where
        D: Dialect,
        for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
        for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(D::map_err)?;
        Ok(())
    }

    /// Column `name` of `r`; a missing or undecodable column (a damaged row) is
    /// [`StoreError::Corrupt`] ([`Dialect::map_err`]), never a panic.
    fn col<'r, T>(r: &'r D::Row, name: &str) -> Result<T, StoreError>
    where
        D: Dialect,
        T: Decode<'r, D> + Type<D>,
        for<'a> &'a str: ColumnIndex<D::Row>,
    {
        r.try_get(name).map_err(D::map_err)
    }
}

/// A transaction of `pool` opened with `begin`, in a task of its own: a caller dropped while
/// the `BEGIN` is on the wire (a client gone, a timeout) would otherwise leave the pooled
/// PostgreSQL connection inside a transaction nobody ends (sqlx 0.8.6: launchbadge/sqlx#4393),
/// and the next borrower's writes would run in it, never committed, or fail once it aborted.
/// The task finishes the `BEGIN`; a transaction nobody takes is dropped there, rolling back.
pub async fn tx_begin<D: Dialect>(
    pool: &sqlx::Pool<D>,
    begin: &'static str,
) -> Result<Transaction<'static, D>, StoreError> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin_with(begin).await })
        .await
        .map_err(|_| StoreError::Unavailable("the transaction did not open".into()))?
        .map_err(D::map_err)
}
