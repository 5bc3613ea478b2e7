//! A busy in-process worker completes its finished attempts in batches
//! (`JobStore::job_complete_many`), each still checked against its own token.

use palisade_core::{Page, TenantId};
use palisade_jobs::{
    Cancelled, Enqueued, HandlerError, HeartbeatAnswer, Job, JobComplete, JobContext, JobEnqueue,
    JobError, JobEvent, JobEvents, JobFail, JobHandler, JobHeartbeat, JobId, JobKind, JobLease,
    JobList, JobPrune, JobRelease, JobRescue, JobRetry, JobState, JobStore, Leased, MemoryJobStore,
    QueueName, QueueStats, Rescued, Shutdown, Worker, WorkerConfig,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The memory store, recording the size of every batch of completions and counting the
/// completions made one by one; a batch takes 20 ms, so finished attempts pile up meanwhile.
#[derive(Debug, Default)]
struct Recording {
    inner: MemoryJobStore,
    batches: Mutex<Vec<usize>>,
    singles: Mutex<usize>,
}

#[async_trait::async_trait]
impl JobStore for Recording {
    async fn job_enqueue(&self, t: &TenantId, r: JobEnqueue) -> Result<Enqueued, JobError> {
        self.inner.job_enqueue(t, r).await
    }
    async fn job_lease(&self, r: &JobLease) -> Result<Vec<Leased>, JobError> {
        self.inner.job_lease(r).await
    }
    async fn job_heartbeat(
        &self,
        t: &TenantId,
        r: &JobHeartbeat,
    ) -> Result<HeartbeatAnswer, JobError> {
        self.inner.job_heartbeat(t, r).await
    }
    async fn job_complete(&self, t: &TenantId, r: &JobComplete) -> Result<Job, JobError> {
        *self.singles.lock().unwrap() += 1;
        self.inner.job_complete(t, r).await
    }
    async fn job_complete_many(
        &self,
        reqs: &[(TenantId, JobComplete)],
    ) -> Vec<Result<Job, JobError>> {
        self.batches.lock().unwrap().push(reqs.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut out = Vec::new();
        for (t, r) in reqs {
            out.push(self.inner.job_complete(t, r).await);
        }
        out
    }
    async fn job_fail(&self, t: &TenantId, r: &JobFail) -> Result<Job, JobError> {
        self.inner.job_fail(t, r).await
    }
    async fn job_release(&self, t: &TenantId, r: &JobRelease) -> Result<Job, JobError> {
        self.inner.job_release(t, r).await
    }
    async fn job_cancel(&self, t: &TenantId, id: &JobId) -> Result<Cancelled, JobError> {
        self.inner.job_cancel(t, id).await
    }
    async fn job_retry(&self, t: &TenantId, r: &JobRetry) -> Result<Vec<Job>, JobError> {
        self.inner.job_retry(t, r).await
    }
    async fn job_get(&self, t: &TenantId, id: &JobId) -> Result<Option<Job>, JobError> {
        self.inner.job_get(t, id).await
    }
    async fn job_list(&self, t: &TenantId, r: &JobList) -> Result<Page<Job>, JobError> {
        self.inner.job_list(t, r).await
    }
    async fn job_events(&self, t: &TenantId, r: &JobEvents) -> Result<Vec<JobEvent>, JobError> {
        self.inner.job_events(t, r).await
    }
    async fn job_delete(&self, t: &TenantId, id: &JobId) -> Result<Job, JobError> {
        self.inner.job_delete(t, id).await
    }
    async fn job_stats(&self, t: &TenantId, q: &QueueName) -> Result<QueueStats, JobError> {
        self.inner.job_stats(t, q).await
    }
    async fn job_rescue(&self, r: &JobRescue) -> Result<Rescued, JobError> {
        self.inner.job_rescue(r).await
    }
    async fn job_prune(&self, r: &JobPrune) -> Result<u64, JobError> {
        self.inner.job_prune(r).await
    }
}

/// Completes at once.
struct Instant0;

#[async_trait::async_trait]
impl JobHandler for Instant0 {
    async fn run(&self, _ctx: JobContext) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[tokio::test]
async fn finished_attempts_are_completed_in_batches() {
    let store = Arc::new(Recording::default());
    let (t, q, kind) = (
        TenantId::generate(),
        QueueName::parse("work").unwrap(),
        JobKind::parse("instant").unwrap(),
    );
    let mut ids = Vec::new();
    for _ in 0..200 {
        let e = JobEnqueue::new(q.clone(), kind.clone(), serde_json::json!({}));
        ids.push(store.job_enqueue(&t, e).await.unwrap().job.id);
    }
    let mut cfg = WorkerConfig::new(q);
    cfg.concurrency = 20;
    cfg.poll = Duration::from_millis(50);
    let w = Worker::new(store.clone(), cfg).handle(kind, Arc::new(Instant0));
    let stop = Shutdown::new();
    let run = tokio::spawn(w.run(stop.clone(), Duration::from_secs(5)));
    let start = Instant::now();
    let mut done = false;
    while !done && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        done = true;
        for id in &ids {
            let j = store.job_get(&t, id).await.unwrap().unwrap();
            done &= j.state == JobState::Completed;
        }
    }
    stop.fire();
    run.await.unwrap();
    assert!(done, "every job completed");
    let batches = store.batches.lock().unwrap().clone();
    assert_eq!(
        batches.iter().sum::<usize>(),
        200,
        "each completed once: {batches:?}"
    );
    assert_eq!(
        *store.singles.lock().unwrap(),
        0,
        "none completed one by one"
    );
    assert!(
        batches.iter().any(|n| *n > 1),
        "completions that finished while a batch ran share the next: {batches:?}"
    );
}
