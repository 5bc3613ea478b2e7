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

    /// What this backend is and supports ([`palisade_core::Backend::features`]).
    const FEATURES: palisade_core::Features;

    /// Opens the pool (creating what the database needs first) and the backend's part.
    fn connect(
        opts: &Self::Options,
    ) -> impl Future<Output = Result<(Pool<D>, Self), StoreError>> + Send;

    /// Applies the crate's embedded migrations (with [`crate::migrate_reporting`]) and names
    /// those it applied.
    fn migrate(pool: &Pool<D>) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

#[async_trait::async_trait]
impl<D, B> palisade_core::Backend for crate::SqlStore<D, B>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: sqlx::Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: sqlx::IntoArguments<'q, D>,
    B: SqlBackend<D>,
{
    fn features(&self) -> palisade_core::Features {
        B::FEATURES
    }

    async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        crate::SqlStore::migrate(self).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        crate::SqlStore::ping(self).await
    }

    async fn close(&self) {
        crate::SqlStore::close(self).await
    }
}
