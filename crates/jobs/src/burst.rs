//! [`Burst`]: a [`Worker`] of one queue and kind run as a [`Maintenance`] task, for the jobs a
//! capability enqueues for itself (webhook deliveries, lockout notices).

use crate::handler::JobHandler;
use crate::model::{JobKind, QueueName};
use crate::store::JobStore;
use crate::worker::{Shutdown, Worker, WorkerConfig};
use async_trait::async_trait;
use palisade_core::{Maintenance, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Runs one kind of job: each step runs a [`Worker`] for a short burst (polling, and woken at
/// once by a `wake` when one is given), then lets its running jobs finish, so the supervisor's
/// shutdown stops it within a burst and a job.
#[derive(Clone)]
pub struct Burst {
    name: &'static str,
    jobs: Arc<dyn JobStore>,
    queue: QueueName,
    kind: JobKind,
    handler: Arc<dyn JobHandler>,
    workers: usize,
    wake: Option<Arc<Notify>>,
    poll: Duration,
    burst: Duration,
    grace: Duration,
}

impl std::fmt::Debug for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Burst")
            .field("name", &self.name)
            .field("queue", &self.queue)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl Burst {
    /// The task `name` running `handler` for jobs of `kind` in `queue` of `jobs`.
    pub fn new(
        name: &'static str,
        jobs: Arc<dyn JobStore>,
        (queue, kind): (QueueName, JobKind),
        handler: Arc<dyn JobHandler>,
    ) -> Self {
        Self {
            name,
            jobs,
            queue,
            kind,
            handler,
            workers: 1,
            wake: None,
            poll: Duration::from_millis(100),
            burst: Duration::from_millis(500),
            grace: Duration::from_secs(30),
        }
    }

    /// `workers` jobs at once (default 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Woken at once by `wake` (e.g. after an enqueue of this process).
    pub fn wake_on(mut self, wake: Arc<Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// How often an idle worker looks for due jobs (default 100 ms).
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// How long a job under way at the end of a burst may take to finish (default 30 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

#[async_trait]
impl Maintenance for Burst {
    fn name(&self) -> &'static str {
        self.name
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(1)
    }

    async fn step(&self) -> Result<u64, StoreError> {
        let mut cfg = WorkerConfig::new(self.queue.clone());
        cfg.concurrency = self.workers;
        cfg.poll = self.poll;
        let ran = Arc::new(AtomicU64::new(0));
        let counted = ran.clone();
        let mut worker = Worker::new(self.jobs.clone(), cfg)
            .handle(self.kind.clone(), self.handler.clone())
            .observe(Arc::new(move |_, _| {
                counted.fetch_add(1, Ordering::Relaxed);
            }));
        if let Some(w) = &self.wake {
            worker = worker.wake_on(w.clone());
        }
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
