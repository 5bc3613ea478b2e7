//! [`OtpPurge`]: the maintenance task deleting OTP state that holds nothing live any more.

use crate::store::OtpStore;
use palisade_core::{Maintenance, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Deletes, in batches, the state of identities with no live code and no lockout that has not
/// changed for the retention ([`crate::OtpSettings::retention`]).
#[derive(Debug)]
pub struct OtpPurge {
    /// The store.
    pub store: Arc<dyn OtpStore>,
    /// How long unchanged state is kept.
    pub retention: Duration,
    /// The pause between steps.
    pub interval: Duration,
}

/// Rows deleted per step at most.
const BATCH: u32 = 1_000;

#[async_trait::async_trait]
impl Maintenance for OtpPurge {
    fn name(&self) -> &'static str {
        "otp_purge"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn step(&self) -> Result<u64, StoreError> {
        self.store
            .otp_purge(self.retention.as_millis() as i64, BATCH)
            .await
    }
}
