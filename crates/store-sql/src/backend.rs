//! [`SqlBackend`]: what a SQL store crate adds to the shared SQL (connecting, migrations).

use crate::Dialect;
use palisade_core::StoreError;
use sqlx::Pool;
use std::fmt::Debug;
use std::future::Future;

/// A SQL store crate's own part of its [`SqlStore`](crate::SqlStore): how it connects and
/// migrates (and, as [`RateLimitDecisions`](crate::RateLimitDecisions), how it decides rate
/// limits); the value is kept in the store ([`SqlStore::backend`](crate::SqlStore::backend)).
pub trait SqlBackend<D: Dialect>: Clone + Debug + Send + Sync + Sized + 'static {
    /// Connection settings.
    type Options;

    /// Opens the pool (creating what the database needs first) and the backend's part.
    fn connect(
        opts: &Self::Options,
    ) -> impl Future<Output = Result<(Pool<D>, Self), StoreError>> + Send;

    /// Applies the crate's embedded migrations.
    fn migrate(pool: &Pool<D>) -> impl Future<Output = Result<(), StoreError>> + Send;
}
