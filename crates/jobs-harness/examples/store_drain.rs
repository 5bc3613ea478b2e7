//! Where a drain's time goes: enqueues N jobs, then leases `--batch` at a time and completes
//! each batch with `job_complete_many`, serially, timing the two calls.
//!
//! `cargo run --release -p palisade-jobs-harness --example store_drain -- --backend postgres --url postgres://postgres@127.0.0.1/test --schema drain_x`

use clap::Parser;
use palisade_core::TenantId;
use palisade_jobs::{JobComplete, JobEnqueue, JobKind, JobLease, LeaseScope, QueueName, WorkerId};
use palisade_jobs_harness::{db, Backend};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, value_enum)]
    backend: Backend,
    #[arg(long)]
    url: String,
    #[arg(long)]
    schema: Option<String>,
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    #[arg(long, default_value_t = 25)]
    batch: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let o = db::open(a.backend, &a.url, a.schema.as_deref(), 8, false).await?;
    let (queue, kind) = (
        QueueName::parse("bench").unwrap(),
        JobKind::parse("noop").unwrap(),
    );
    let tenant = TenantId::generate();
    let req = JobEnqueue::new(queue.clone(), kind, serde_json::json!({}));
    for _ in 0..a.jobs / 1_000 {
        o.store
            .job_enqueue_many(&tenant, vec![req.clone(); 1_000])
            .await?;
    }
    let lease = JobLease {
        scope: LeaseScope::AllTenants,
        queue,
        worker: WorkerId::parse("w1").unwrap(),
        limit: a.batch,
        max_running_per_tenant: None,
        max_running_per_key: None,
        gate: None,
    };
    let (mut in_lease, mut in_complete, mut n) = (Duration::ZERO, Duration::ZERO, 0);
    let t0 = Instant::now();
    loop {
        let t = Instant::now();
        let got = o.store.job_lease(&lease).await?;
        in_lease += t.elapsed();
        if got.is_empty() {
            break;
        }
        n += got.len();
        let reqs: Vec<(TenantId, JobComplete)> = got
            .iter()
            .map(|l| {
                let c = JobComplete {
                    id: l.job.id.clone(),
                    token: l.token,
                };
                (tenant.clone(), c)
            })
            .collect();
        let t = Instant::now();
        o.store.job_complete_many(&reqs).await;
        in_complete += t.elapsed();
    }
    let all = t0.elapsed();
    println!(
        "{:?} batch={} jobs={n} drain={:.0}/s lease={:.2} ms/call complete={:.2} ms/call",
        a.backend,
        a.batch,
        n as f64 / all.as_secs_f64(),
        in_lease.as_secs_f64() * 1e3 / (n as f64 / a.batch as f64),
        in_complete.as_secs_f64() * 1e3 / (n as f64 / a.batch as f64),
    );
    Ok(())
}
