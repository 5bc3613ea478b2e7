//! [`CsrfPurge`]: the maintenance task deleting expired CSRF tokens.

use crate::store::CsrfStore;
use palisade_core::{Maintenance, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Deletes expired tokens in batches.
#[derive(Debug)]
pub struct CsrfPurge {
    /// The store.
    pub store: Arc<dyn CsrfStore>,
    /// The pause between steps.
    pub interval: Duration,
}

#[async_trait::async_trait]
impl Maintenance for CsrfPurge {
    fn name(&self) -> &'static str {
        "csrf_purge"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn step(&self) -> Result<u64, StoreError> {
        self.store.csrf_purge(1_000).await
    }
}
