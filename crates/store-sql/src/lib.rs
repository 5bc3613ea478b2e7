//! The SQL both SQL stores share: queries and row mapping generic over sqlx's `Database`.
//!
//! [`SqlStore`] holds a pool and the store clock; each capability module adds its operations
//! to it for every [`Dialect`] (SQLite and PostgreSQL). The statements are written once with
//! `$n` placeholders, which both drivers accept. What differs per database (error codes, how a
//! write transaction is opened, statements that are not portable) is a [`Dialect`] method.
//! `palisade-store-sqlite` and `palisade-store-postgres` own their pools, migrations and
//! rate-limit decisions, and implement the other store traits by delegating here
//! ([`impl_sql_stores!`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audit;
mod delegate;
mod dialect;
mod idempotency;
mod locks;
mod ratelimit;
mod tenants;

pub use dialect::{Dialect, Value};

/// What [`impl_sql_stores!`] names, so the store crates need not list it.
#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    pub use palisade_core::{Page, PageRequest, StoreError, TenantId};
    pub use palisade_idempotency as idem;
    pub use palisade_locks as locks;
    pub use palisade_ratelimit as ratelimit;
    pub use palisade_tenancy as tenancy;
}

use palisade_core::{SharedClock, StoreError, SystemClock};
use sqlx::{ColumnIndex, Database, Decode, Pool, Row, Transaction, Type};

/// A pool of database `D` and the store clock: the shared operations run on it.
#[derive(Debug)]
pub struct SqlStore<D: Database> {
    pool: Pool<D>,
    clock: SharedClock,
}

impl<D: Database> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<D: Database> SqlStore<D> {
    /// The shared operations on `pool`, timed by the system clock.
    pub fn new(pool: Pool<D>) -> Self {
        Self {
            pool,
            clock: SystemClock::shared(),
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

    /// A transaction opened with `begin` (e.g. [`Dialect::BEGIN_WRITE`]).
    pub async fn begin(&self, begin: &'static str) -> Result<Transaction<'static, D>, StoreError>
    where
        D: Dialect,
    {
        self.pool.begin_with(begin).await.map_err(D::map_err)
    }

    /// The store clock's time (ms).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
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
