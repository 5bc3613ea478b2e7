//! [`TokenRevocationPurge`]: the maintenance task deleting jti revocations past their token's expiry.

use crate::store::TokenStore;
use palisade_core::{Maintenance, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Deletes, in batches, jti revocations whose token has expired (an expired token is refused
/// by its `exp` anyway).
#[derive(Debug)]
pub struct TokenRevocationPurge {
    /// The store.
    pub store: Arc<dyn TokenStore>,
    /// The pause between steps.
    pub interval: Duration,
}

/// Rows deleted per step at most.
const BATCH: u32 = 1_000;

#[async_trait::async_trait]
impl Maintenance for TokenRevocationPurge {
    fn name(&self) -> &'static str {
        "tokens_revocation_purge"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn step(&self) -> Result<u64, StoreError> {
        self.store.revocation_purge(BATCH).await
    }
}
