//! The delivery runner and the retention sweep as [`Maintenance`] tasks.

use crate::delivery::{Delivery, KIND, QUEUE};
use crate::store::InboxStore;
use async_trait::async_trait;
use palisade_core::{Maintenance, SharedClock, StoreError};
use palisade_jobs::{JobKind, JobStore, QueueName, Shutdown, Worker, WorkerConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Runs delivery jobs: each step runs a jobs [`Worker`] on the `webhooks` queue for a short
/// burst (woken at once by a new event), then lets its running deliveries finish, so the
/// supervisor's shutdown stops it within a burst and a delivery.
#[derive(Clone)]
pub struct Deliverer {
    jobs: Arc<dyn JobStore>,
    handler: Arc<Delivery>,
    workers: usize,
    wake: Arc<Notify>,
    burst: Duration,
    grace: Duration,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// A runner of `handler` over `jobs`, `workers` at once, woken by `wake`; a delivery
    /// under way at the end of a burst gets `grace` to finish.
    pub fn new(
        jobs: Arc<dyn JobStore>,
        handler: Arc<Delivery>,
        workers: usize,
        wake: Arc<Notify>,
        grace: Duration,
    ) -> Self {
        Self {
            jobs,
            handler,
            workers,
            wake,
            burst: Duration::from_millis(500),
            grace,
        }
    }
}

#[async_trait]
impl Maintenance for Deliverer {
    fn name(&self) -> &'static str {
        "webhooks_deliver"
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(1)
    }

    async fn step(&self) -> Result<u64, StoreError> {
        let mut cfg = WorkerConfig::new(QueueName::parse(QUEUE).expect("a valid queue"));
        cfg.concurrency = self.workers;
        cfg.poll = Duration::from_millis(100);
        let ran = Arc::new(AtomicU64::new(0));
        let counted = ran.clone();
        let worker = Worker::new(self.jobs.clone(), cfg)
            .handle(
                JobKind::parse(KIND).expect("a valid kind"),
                self.handler.clone(),
            )
            .wake_on(self.wake.clone())
            .observe(Arc::new(move |_, _| {
                counted.fetch_add(1, Ordering::Relaxed);
            }));
        let stop = Shutdown::new();
        let timer = {
            let (stop, burst) = (stop.clone(), self.burst);
            tokio::spawn(async move {
                tokio::time::sleep(burst).await;
                stop.fire();
            })
        };
        worker.run(stop, self.grace).await;
        timer.abort();
        Ok(ran.load(Ordering::Relaxed))
    }
}

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
