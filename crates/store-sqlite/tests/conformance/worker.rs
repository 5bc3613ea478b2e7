//! The in-process worker (`palisade_jobs::Worker`) on a SQLite store: a handler runs a job to
//! completion, a failing attempt is retried by backoff, and a graceful shutdown gives the
//! leases of unfinished jobs back.

use palisade_core::TenantId;
use palisade_jobs::{
    Backoff, HandlerError, Job, JobContext, JobEnqueue, JobEventKind, JobEvents, JobHandler, JobId,
    JobKind, JobLease, JobState, JobStore, LeaseScope, QueueName, Shutdown, Worker, WorkerConfig,
};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Fails the first `failures` attempts (retry by backoff), then succeeds; counts attempts.
struct Flaky {
    failures: u32,
    runs: AtomicU32,
}

#[async_trait::async_trait]
impl JobHandler for Flaky {
    async fn run(&self, _ctx: JobContext) -> Result<(), HandlerError> {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.failures {
            return Err(HandlerError::retry("transient failure"));
        }
        Ok(())
    }
}

/// Runs until its attempt is cancelled (shutdown past the grace period), counting starts.
struct Stuck {
    started: AtomicU32,
}

#[async_trait::async_trait]
impl JobHandler for Stuck {
    async fn run(&self, ctx: JobContext) -> Result<(), HandlerError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        ctx.cancelled().await;
        Err(HandlerError::retry("cancelled"))
    }
}

struct Setup {
    store: Arc<dyn JobStore>,
    tenant: TenantId,
    queue: QueueName,
    kind: JobKind,
}

async fn setup() -> Setup {
    Setup {
        store: Arc::new(crate::common::store().await),
        tenant: TenantId::generate(),
        queue: QueueName::parse("work").unwrap(),
        kind: JobKind::parse("task").unwrap(),
    }
}

impl Setup {
    async fn enqueue(&self, backoff_ms: i64) -> JobId {
        let mut e = JobEnqueue::new(self.queue.clone(), self.kind.clone(), serde_json::json!({}));
        e.backoff = Backoff {
            base_ms: backoff_ms,
            max_ms: backoff_ms,
            factor: 1.0,
            jitter: 0.0,
        };
        self.store
            .job_enqueue(&self.tenant, e)
            .await
            .unwrap()
            .job
            .id
    }

    /// Starts a worker with `handler`; its shutdown and its run task.
    fn start(
        &self,
        handler: Arc<dyn JobHandler>,
        grace: Duration,
    ) -> (Shutdown, tokio::task::JoinHandle<()>) {
        let mut cfg = WorkerConfig::new(self.queue.clone());
        cfg.poll = Duration::from_millis(20);
        let w = Worker::new(self.store.clone(), cfg).handle(self.kind.clone(), handler);
        let stop = Shutdown::new();
        let task = tokio::spawn(w.run(stop.clone(), grace));
        (stop, task)
    }

    async fn job(&self, id: &JobId) -> Job {
        self.store.job_get(&self.tenant, id).await.unwrap().unwrap()
    }

    /// Waits (up to 20 s) until `id` is in `state`.
    async fn wait_for(&self, id: &JobId, state: JobState) -> Job {
        for _ in 0..2_000 {
            let j = self.job(id).await;
            if j.state == state {
                return j;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "job never reached {state:?}: {:?}",
            self.job(id).await.state
        );
    }
}

/// A handler that succeeds runs the job once, to `completed`.
#[tokio::test]
async fn handler_runs_a_job_to_completion() {
    let s = setup().await;
    let id = s.enqueue(1_000).await;
    let h = Arc::new(Flaky {
        failures: 0,
        runs: AtomicU32::new(0),
    });
    let (stop, task) = s.start(h.clone(), Duration::from_secs(5));
    let job = s.wait_for(&id, JobState::Completed).await;
    stop.fire();
    task.await.unwrap();
    assert_eq!(job.attempt, 1);
    assert_eq!(h.runs.load(Ordering::SeqCst), 1);
}

/// A failing attempt schedules a retry by the job's backoff, and the retry completes it.
#[tokio::test]
async fn failing_handler_is_retried_by_backoff() {
    let s = setup().await;
    let id = s.enqueue(300).await;
    let h = Arc::new(Flaky {
        failures: 1,
        runs: AtomicU32::new(0),
    });
    let (stop, task) = s.start(h.clone(), Duration::from_secs(5));
    let job = s.wait_for(&id, JobState::Completed).await;
    stop.fire();
    task.await.unwrap();
    assert_eq!(job.attempt, 2);
    assert_eq!(h.runs.load(Ordering::SeqCst), 2);
    assert_eq!(job.last_error.as_deref(), Some("transient failure"));
    let events = s
        .store
        .job_events(
            &s.tenant,
            &JobEvents {
                id: id.clone(),
                from: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    let retry = events
        .iter()
        .find(|e| e.kind == JobEventKind::Retrying)
        .expect("a retrying event");
    let run_at = retry.data["run_at_ms"].as_i64().unwrap();
    assert!(
        run_at >= retry.at_ms + 300,
        "retry not delayed by the backoff"
    );
    let second = events
        .iter()
        .filter(|e| e.kind == JobEventKind::Started)
        .nth(1)
        .expect("a second start");
    assert!(second.at_ms >= run_at, "retried before its backoff ended");
}

/// A shutdown whose grace period ends before the handler does gives the lease back: the job
/// waits again, at once leasable by another worker, and its lease is not left to expire.
#[tokio::test]
async fn graceful_shutdown_gives_leases_back() {
    let s = setup().await;
    let id = s.enqueue(1_000).await;
    let h = Arc::new(Stuck {
        started: AtomicU32::new(0),
    });
    let (stop, task) = s.start(h.clone(), Duration::from_millis(100));
    s.wait_for(&id, JobState::Running).await;
    stop.fire();
    task.await.unwrap();
    assert_eq!(h.started.load(Ordering::SeqCst), 1);
    let job = s.job(&id).await;
    assert!(job.state.is_waiting(), "not handed back: {:?}", job.state);
    let other = JobLease {
        scope: LeaseScope::AllTenants,
        queue: s.queue.clone(),
        worker: WorkerConfig::new(s.queue.clone()).id,
        limit: 10,
        max_running_per_tenant: None,
        max_running_per_key: None,
        gate: None,
    };
    let leased = s.store.job_lease(&other).await.unwrap();
    assert_eq!(leased.len(), 1, "another worker cannot take it at once");
    assert_eq!(leased[0].job.id, id);
}
