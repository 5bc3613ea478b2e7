//! The expiry sweep: a maintenance task deleting expired idempotency entries in batches.

use crate::store::IdempotencyStore;
use async_trait::async_trait;
use palisade_core::{Maintenance, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Rows deleted per statement.
const BATCH: u32 = 1_000;
/// Statements per sweep at most (so one sweep never holds the store for long).
const MAX_BATCHES: u32 = 20;

/// Every `every`, deletes expired entries in batches (the store counts them in
/// `palisade_idempotency_expired_total`). Several processes sweeping at once is harmless:
/// each batch deletes only rows that already expired.
#[derive(Debug, Clone)]
pub struct ExpiredSweep {
    store: Arc<dyn IdempotencyStore>,
    every: Duration,
}

impl ExpiredSweep {
    /// A sweep of `store` every `every`.
    pub fn new(store: Arc<dyn IdempotencyStore>, every: Duration) -> Self {
        Self { store, every }
    }
}

#[async_trait]
impl Maintenance for ExpiredSweep {
    fn name(&self) -> &'static str {
        "idempotency_expired_sweep"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    async fn step(&self) -> Result<u64, StoreError> {
        let r = self.store.expired_sweep(BATCH, MAX_BATCHES).await;
        if r.is_err() {
            crate::metrics::store_error("sweep");
        }
        r
    }
}
