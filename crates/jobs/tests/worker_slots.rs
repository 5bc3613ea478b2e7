//! A busy in-process worker leases again as soon as an attempt frees a slot, not at its next
//! poll: with a 30 s poll and one slot, queued jobs run back to back.

use palisade_core::TenantId;
use palisade_jobs::{
    HandlerError, JobContext, JobEnqueue, JobHandler, JobKind, JobState, JobStore, MemoryJobStore,
    QueueName, Shutdown, Worker, WorkerConfig,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Completes after a short pause.
struct Brief;

#[async_trait::async_trait]
impl JobHandler for Brief {
    async fn run(&self, _ctx: JobContext) -> Result<(), HandlerError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }
}

#[tokio::test]
async fn a_freed_slot_is_filled_without_waiting_for_the_poll() {
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::default());
    let (t, q, kind) = (
        TenantId::generate(),
        QueueName::parse("work").unwrap(),
        JobKind::parse("brief").unwrap(),
    );
    let mut ids = Vec::new();
    for _ in 0..3 {
        let e = JobEnqueue::new(q.clone(), kind.clone(), serde_json::json!({}));
        ids.push(store.job_enqueue(&t, e).await.unwrap().job.id);
    }
    let mut cfg = WorkerConfig::new(q);
    cfg.concurrency = 1;
    cfg.poll = Duration::from_secs(30);
    let w = Worker::new(store.clone(), cfg).handle(kind, Arc::new(Brief));
    let stop = Shutdown::new();
    let run = tokio::spawn(w.run(stop.clone(), Duration::from_secs(5)));
    let start = Instant::now();
    let mut done = false;
    while !done && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        done = true;
        for id in &ids {
            let j = store.job_get(&t, id).await.unwrap().unwrap();
            done &= j.state == JobState::Completed;
        }
    }
    stop.fire();
    run.await.unwrap();
    assert!(done, "three jobs back to back, well before one 30 s poll");
}
