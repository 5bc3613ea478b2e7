//! The lease gate of a queue's rate per limit key, over Palisade's own rate limiting (its
//! store is the one every instance shares).

use palisade_core::secret::sha256_hex;
use palisade_jobs::{Job, LeaseGate, QueueLimits};
use palisade_ratelimit::{Algorithm, Check, Limit, OnStoreError, RateLimits};
use std::sync::Arc;

/// The policy name of the job start rates (reserved: no tenant policy can take it).
const RATE_POLICY: &str = "palisade.jobs.rate";

/// Admits a job's start when its (tenant, queue, limit key) is within the queue's
/// `rate_per_key` per `rate_window`: GCRA without burst, so starts are spaced evenly.
#[derive(Debug)]
pub struct RateGate {
    ratelimit: Arc<RateLimits>,
    limit: Limit,
}

impl RateGate {
    /// The gate of a queue with `limits`; `None` when it has no rate.
    pub fn for_queue(
        ratelimit: &Arc<RateLimits>,
        limits: &QueueLimits,
    ) -> Option<Arc<dyn LeaseGate>> {
        let rate = limits.rate_per_key?;
        let limit = Limit {
            algorithm: Algorithm::Gcra,
            quota: u64::from(rate),
            window_ms: limits.rate_window.as_millis() as u64,
            burst: 1,
            block_ms: 0,
            shadow: false,
            on_store_error: OnStoreError::Fallback,
        };
        Some(Arc::new(Self {
            ratelimit: ratelimit.clone(),
            limit,
        }))
    }
}

#[async_trait::async_trait]
impl LeaseGate for RateGate {
    async fn admit(&self, job: &Job) -> bool {
        // Queue and key are tenant-chosen (up to 200 characters each): hashed to a bounded key.
        let key = sha256_hex(format!("{}\n{}", job.queue, job.limit_key_str()).as_bytes());
        let check = Check {
            policy: RATE_POLICY.into(),
            limit: self.limit,
            key,
            cost: 1,
        };
        let decided = self
            .ratelimit
            .limiter()
            .check(&job.tenant, std::slice::from_ref(&check))
            .await;
        // A refused check (never expected: the check is well-formed) keeps the job waiting.
        decided.is_ok_and(|d| d.first().is_some_and(|d| d.allowed))
    }
}
