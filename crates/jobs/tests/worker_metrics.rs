//! The in-process worker emits the jobs metrics: attempts started (queue latency, checkpoint
//! resumes), completed (run time), failed and retried, and lease losses — read back from a
//! Prometheus recorder installed for this test binary alone.

use palisade_core::{ManualClock, SharedClock, TenantId};
use palisade_jobs::{
    Backoff, HandlerError, JobContext, JobEnqueue, JobHandler, JobId, JobKind, JobRescue, JobState,
    JobStore, MemoryJobStore, QueueName, Shutdown, Worker, WorkerConfig,
};
use std::sync::Arc;
use std::time::Duration;

/// Completes at once.
struct Quick;

#[async_trait::async_trait]
impl JobHandler for Quick {
    async fn run(&self, _ctx: JobContext) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// Saves a checkpoint and fails its first attempt; completes the next (which resumes).
struct Resumes;

#[async_trait::async_trait]
impl JobHandler for Resumes {
    async fn run(&self, ctx: JobContext) -> Result<(), HandlerError> {
        if ctx.checkpoint().is_some() {
            return Ok(());
        }
        ctx.checkpoint_save(serde_json::json!({"next": 500}))
            .await
            .map_err(|e| HandlerError::retry(e.to_string()))?;
        Err(HandlerError::retry("half done"))
    }
}

/// Runs until its attempt is called off (here: its lease is lost).
struct Stuck;

#[async_trait::async_trait]
impl JobHandler for Stuck {
    async fn run(&self, ctx: JobContext) -> Result<(), HandlerError> {
        ctx.cancelled().await;
        Err(HandlerError::retry("called off"))
    }
}

/// The value of the sample `name` (no labels) in a Prometheus rendering.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn wait_for(store: &dyn JobStore, t: &TenantId, id: &JobId, state: JobState) {
    for _ in 0..2_000 {
        let j = store.job_get(t, id).await.unwrap().unwrap();
        if j.state == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job never reached {state:?}");
}

#[tokio::test]
async fn the_in_process_worker_emits_the_jobs_metrics() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let prom = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this binary");

    let clock = ManualClock::new(1_000_000);
    let shared: SharedClock = clock.clone();
    let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new(shared));
    let t = TenantId::generate();
    let q = QueueName::parse("work").unwrap();
    let kind = |k: &str| JobKind::parse(k).unwrap();
    let job = |k: &str| {
        let mut e = JobEnqueue::new(q.clone(), kind(k), serde_json::json!({}));
        e.backoff = Backoff {
            base_ms: 1_000,
            max_ms: 1_000,
            factor: 1.0,
            jitter: 0.0,
        };
        e.lease_ms = 300;
        e.max_attempts = 2;
        e
    };
    let mut cfg = WorkerConfig::new(q.clone());
    cfg.poll = Duration::from_millis(10);
    let w = Worker::new(store.clone(), cfg)
        .handle(kind("ok"), Arc::new(Quick))
        .handle(kind("resumes"), Arc::new(Resumes))
        .handle(kind("stuck"), Arc::new(Stuck));
    let stop = Shutdown::new();
    let run = tokio::spawn(w.run(stop.clone(), Duration::from_secs(5)));

    let ok = store.job_enqueue(&t, job("ok")).await.unwrap().job.id;
    let resumes = store.job_enqueue(&t, job("resumes")).await.unwrap().job.id;
    wait_for(store.as_ref(), &t, &ok, JobState::Completed).await;
    wait_for(store.as_ref(), &t, &resumes, JobState::Retrying).await;
    clock.advance(Duration::from_millis(1_000)); // the retry is due
    wait_for(store.as_ref(), &t, &resumes, JobState::Completed).await;

    let mut e = job("stuck");
    e.max_attempts = 1;
    let stuck = store.job_enqueue(&t, e).await.unwrap().job.id;
    wait_for(store.as_ref(), &t, &stuck, JobState::Running).await;
    clock.advance(Duration::from_secs(10)); // its lease ended: the rescuer takes it back
    let rescue = JobRescue {
        now_ms: 1_000_000 + 12_000,
        limit: 10,
    };
    assert_eq!(store.job_rescue(&rescue).await.unwrap().total(), 1);
    wait_for(store.as_ref(), &t, &stuck, JobState::Dead).await;
    let text = loop {
        let text = prom.render();
        if sample(&text, "palisade_jobs_lease_lost_total") >= 1.0 {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.fire();
    run.await.unwrap();

    for (name, want) in [
        ("palisade_jobs_started_total", 4.0),
        ("palisade_jobs_completed_total", 2.0),
        ("palisade_jobs_failed_total", 1.0),
        ("palisade_jobs_retries_total", 1.0),
        ("palisade_jobs_checkpoint_resumes_total", 1.0),
        ("palisade_jobs_lease_lost_total", 1.0),
        ("palisade_jobs_queue_latency_seconds_count", 4.0),
        ("palisade_jobs_run_seconds_count", 2.0),
    ] {
        assert_eq!(sample(&text, name), want, "{name} in\n{text}");
    }
}
