//! `palisade-job-bench`: enqueues N trivial jobs (in batches of `--batch` through
//! `job_enqueue_many`, or one by one with `--batch 1`), then drains them with the in-process
//! worker, and prints enqueue rate, drain rate (jobs/s) and enqueue-to-start latency p50/p99.

use clap::Parser;
use palisade_core::TenantId;
use palisade_jobs::{AttemptEnd, JobEnqueue, JobKind, QueueName, Shutdown, Worker, WorkerConfig};
use palisade_jobs_harness::{db, handlers, Backend};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, value_enum)]
    backend: Backend,
    #[arg(long)]
    url: String,
    #[arg(long)]
    schema: Option<String>,
    /// Jobs to enqueue, then drain.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Handlers running at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Enqueues in flight at once.
    #[arg(long, default_value_t = 32)]
    enqueuers: usize,
    /// Jobs per enqueue call (1: `job_enqueue`; more: `job_enqueue_many`, at most 1,000).
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Pool size.
    #[arg(long, default_value_t = 40)]
    pool: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let o = db::open(a.backend, &a.url, a.schema.as_deref(), a.pool, false).await?;
    let (queue, kind) = (
        QueueName::parse("bench").unwrap(),
        JobKind::parse("noop").unwrap(),
    );
    let tenant = TenantId::generate();
    let t0 = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let batch = a.batch.clamp(1, 1_000);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..a.enqueuers.max(1) {
        let (store, tenant, next) = (o.store.clone(), tenant.clone(), next.clone());
        let req = JobEnqueue::new(queue.clone(), kind.clone(), serde_json::json!({}));
        let n = a.jobs;
        tasks.spawn(async move {
            loop {
                let from = next.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
                let count = n.saturating_sub(from).min(batch);
                match count {
                    0 => break,
                    1 => drop(
                        store
                            .job_enqueue(&tenant, req.clone())
                            .await
                            .expect("enqueue"),
                    ),
                    _ => drop(
                        store
                            .job_enqueue_many(&tenant, vec![req.clone(); count])
                            .await
                            .expect("enqueue"),
                    ),
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let enq = t0.elapsed();
    let lat: Arc<Mutex<Vec<i64>>> = Arc::default();
    let stop = Shutdown::new();
    let (l2, s2, n) = (lat.clone(), stop.clone(), a.jobs);
    let mut cfg = WorkerConfig::new(queue);
    cfg.concurrency = a.concurrency;
    cfg.poll = Duration::from_millis(10);
    let w = Worker::new(o.store.clone(), cfg)
        .handle(kind, Arc::new(handlers::Noop))
        .observe(Arc::new(move |job, end| {
            if end == AttemptEnd::Completed {
                let mut l = l2.lock().unwrap();
                l.push(job.run_at_ms - job.created_at_ms);
                if l.len() == n {
                    s2.fire();
                }
            }
        }));
    let t1 = Instant::now();
    w.run(stop, Duration::from_secs(5)).await;
    let drain = t1.elapsed();
    let mut l = lat.lock().unwrap().clone();
    l.sort_unstable();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    println!(
        "palisade {:?} jobs={} c={} batch={} enqueue={:.0}/s drain={:.0}/s end-to-end={:.0}/s latency_ms p50={} p99={}",
        a.backend,
        a.jobs,
        a.concurrency,
        batch,
        a.jobs as f64 / enq.as_secs_f64(),
        a.jobs as f64 / drain.as_secs_f64(),
        a.jobs as f64 / (enq + drain).as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
