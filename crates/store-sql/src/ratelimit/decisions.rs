//! [`RateLimitDecisions`]: the rate-limit decisions each SQL store crate writes for its database.

use crate::{Dialect, SqlBackend, SqlStore};
use async_trait::async_trait;
use palisade_core::{StoreError, TenantId};
use palisade_ratelimit::{Check, Decision, RateLimitStore};
use std::future::Future;

/// A store crate's rate-limit decision path: it differs per database (SQLite decides in Rust in
/// one write transaction, PostgreSQL in a SQL function over batches), so each store crate
/// implements it for its [`SqlBackend`]; [`SqlStore`] is then a `RateLimitStore`.
pub trait RateLimitDecisions<D: Dialect>: SqlBackend<D> {
    /// True when `check` queues decisions in this process and bounds a sent call by its own
    /// timeout: `ratelimit_check_within` then awaits the answer instead of abandoning it at
    /// the deadline (see `RateLimitStore::ratelimit_check_within`).
    const AWAITS_SENT: bool = false;

    /// `RateLimitStore::ratelimit_check` on `store`.
    fn check(
        store: &SqlStore<D, Self>,
        tenant: &TenantId,
        checks: &[Check],
    ) -> impl Future<Output = Result<Vec<Decision>, StoreError>> + Send;

    /// `RateLimitStore::ratelimit_reset` on `store`.
    fn reset(
        store: &SqlStore<D, Self>,
        tenant: &TenantId,
        policy: &str,
        key: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// `RateLimitStore::ratelimit_purge_expired` on `store`.
    fn purge_expired(
        store: &SqlStore<D, Self>,
        limit: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

#[async_trait]
impl<D: Dialect, B: RateLimitDecisions<D>> RateLimitStore for SqlStore<D, B> {
    async fn ratelimit_check(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        B::check(self, tenant, checks).await
    }

    async fn ratelimit_check_within(
        &self,
        tenant: &TenantId,
        checks: &[Check],
        deadline: std::time::Duration,
    ) -> Result<Vec<Decision>, StoreError> {
        if B::AWAITS_SENT {
            return B::check(self, tenant, checks).await;
        }
        tokio::time::timeout(deadline, B::check(self, tenant, checks))
            .await
            .unwrap_or(Err(StoreError::Timeout))
    }

    async fn ratelimit_reset(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        B::reset(self, tenant, policy, key).await
    }

    async fn ratelimit_purge_expired(&self, limit: u32) -> Result<u64, StoreError> {
        B::purge_expired(self, limit).await
    }
}
