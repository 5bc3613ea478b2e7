//! The dispatch, the retention sweep and the resume sweep as [`Maintenance`] tasks.

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

/// Most events one dispatch call takes.
const DISPATCH_BATCH: u32 = 500;

/// How long a woken dispatch waits for more events before it writes.
const DISPATCH_LINGER: Duration = Duration::from_millis(5);

/// Gives pushed events their delivery jobs ([`InboxStore::event_dispatch`]) in batches: woken
/// at once by this process's ingress, and every `poll` for events another instance stored (or
/// left marked when it stopped between its insert and its dispatch). Wakes the delivery runner
/// when it made jobs.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    store: Arc<dyn InboxStore>,
    poll: Duration,
    woken_by: Arc<Notify>,
    wake: Arc<Notify>,
}

impl Dispatcher {
    /// A dispatch of `store`, woken by `woken_by` or every `poll`, waking `wake` after it made
    /// jobs.
    pub fn new(
        store: Arc<dyn InboxStore>,
        poll: Duration,
        woken_by: Arc<Notify>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            poll,
            woken_by,
            wake,
        }
    }

    /// Dispatches until none are left: the number dispatched.
    pub async fn drain(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self
                .store
                .event_dispatch(DISPATCH_BATCH)
                .await
                .map_err(|e| match e {
                    crate::WebhookError::Store(s) => s,
                    other => StoreError::Backend(format!("webhooks dispatch: {other}")),
                })?;
            total += n;
            if n > 0 {
                self.wake.notify_one();
            }
            if n < u64::from(DISPATCH_BATCH) {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl Maintenance for Dispatcher {
    fn name(&self) -> &'static str {
        "webhooks_dispatch"
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(1)
    }

    async fn step(&self) -> Result<u64, StoreError> {
        if tokio::time::timeout(self.poll, self.woken_by.notified())
            .await
            .is_ok()
        {
            // woken by an ingress: let the events arriving with it join the batch
            tokio::time::sleep(DISPATCH_LINGER).await;
        }
        self.drain().await
    }
}
