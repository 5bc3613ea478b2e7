//! The limiter: validates checks, asks the store, and counts every decision.

use crate::decision::{validate_checks, Check, Decision};
use crate::error::RateLimitError;
use crate::metrics;
use crate::store::RateLimitStore;
use palisade_core::TenantId;
use std::sync::Arc;
use std::time::Instant;

/// Decides checks against a store (wrap a shared store in [`crate::FallbackStore`]).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    store: Arc<dyn RateLimitStore>,
}

impl RateLimiter {
    /// A limiter over `store`.
    pub fn new(store: Arc<dyn RateLimitStore>) -> Self {
        Self { store }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn RateLimitStore> {
        &self.store
    }

    /// Validates and decides `checks` all or nothing, recording metrics.
    pub async fn check(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, RateLimitError> {
        validate_checks(checks)?;
        let start = Instant::now();
        let r = self.store.ratelimit_check(tenant, checks).await;
        let label = if r.is_ok() { "ok" } else { "error" };
        metrics::record_latency(metrics::STORE_SECONDS, label, start.elapsed());
        let decisions = r?;
        metrics::record_decisions(&decisions);
        Ok(decisions)
    }
}
