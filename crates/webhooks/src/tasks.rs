//! The retention sweep and the resume sweep as [`Maintenance`] tasks.

use crate::store::InboxStore;
use async_trait::async_trait;
use palisade_core::{Maintenance, SharedClock, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Every `every`, deletes delivered and failed events older than the retention (pending
/// ones are kept), in batches.
#[derive(Debug, Clone)]
pub struct Pruner {
    store: Arc<dyn InboxStore>,
    clock: SharedClock,
    retention: Duration,
    every: Duration,
}

impl Pruner {
    /// A pruner of `store` keeping events for `retention`, every `every`.
    pub fn new(
        store: Arc<dyn InboxStore>,
        clock: SharedClock,
        retention: Duration,
        every: Duration,
    ) -> Self {
        Self {
            store,
            clock,
            retention,
            every,
        }
    }
}

#[async_trait]
impl Maintenance for Pruner {
    fn name(&self) -> &'static str {
        "webhooks_prune"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    async fn step(&self) -> Result<u64, StoreError> {
        let before = self.clock.now_ms() - self.retention.as_millis() as i64;
        self.store
            .event_prune(before, 1_000)
            .await
            .map_err(|e| match e {
                crate::WebhookError::Store(s) => s,
                other => StoreError::Backend(format!("webhooks prune: {other}")),
            })
    }
}

/// Every `every`, gives pending events of pushing sources that have waited (due, unheld) for
/// longer than `grace` their delivery job again: the safety net under the hand-on of
/// settling attempts (a job that died, a parked event whose turn was never handed on).
#[derive(Debug, Clone)]
pub struct Resumer {
    store: Arc<dyn InboxStore>,
    clock: SharedClock,
    grace: Duration,
    every: Duration,
    wake: Arc<Notify>,
}

impl Resumer {
    /// A resume sweep of `store` every `every` for events due for longer than `grace`,
    /// waking the delivery runner when it enqueued something.
    pub fn new(
        store: Arc<dyn InboxStore>,
        clock: SharedClock,
        grace: Duration,
        every: Duration,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            clock,
            grace,
            every,
            wake,
        }
    }
}

#[async_trait]
impl Maintenance for Resumer {
    fn name(&self) -> &'static str {
        "webhooks_resume"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    async fn step(&self) -> Result<u64, StoreError> {
        let req = crate::params::EventResume {
            now_ms: self.clock.now_ms(),
            grace_ms: self.grace.as_millis() as i64,
            limit: 1_000,
        };
        let made = self.store.event_resume(&req).await.map_err(|e| match e {
            crate::WebhookError::Store(s) => s,
            other => StoreError::Backend(format!("webhooks resume: {other}")),
        })?;
        if made > 0 {
            self.wake.notify_one();
        }
        Ok(made)
    }
}
