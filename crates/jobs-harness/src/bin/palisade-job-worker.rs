//! `palisade-job-worker`: runs the in-process jobs worker (or a burst of enqueues) against
//! SQLite or PostgreSQL, for the reliability tests and the benchmark. Prints `ready …` once
//! it works, and one `end <job> <how>` line per attempt.

use clap::{Parser, Subcommand};
use palisade_core::TenantId;
use palisade_jobs::{
    AttemptEnd, JobEnqueue, JobHandler, JobKind, QueueName, Shutdown, UniqueSpec, UniqueStates,
    Worker, WorkerConfig, WorkerId,
};
use palisade_jobs_harness::{db, handlers, Backend, Opened};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
struct Args {
    /// The database.
    #[arg(long, value_enum)]
    backend: Backend,
    /// `postgres://…` or `sqlite://path`.
    #[arg(long)]
    url: String,
    /// PostgreSQL schema of the store.
    #[arg(long)]
    schema: Option<String>,
    /// Pool size.
    #[arg(long, default_value_t = 8)]
    pool: u32,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Runs a worker on one queue until SIGTERM (graceful) or SIGKILL.
    Work {
        #[arg(long, default_value = "work")]
        queue: String,
        /// Worker id (default: random).
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 50)]
        poll_ms: u64,
        /// Grace period of a SIGTERM shutdown.
        #[arg(long, default_value_t = 5_000)]
        grace_ms: u64,
        /// On PostgreSQL, wake on LISTEN/NOTIFY as well as polling.
        #[arg(long)]
        listen: bool,
        /// Most running jobs per limit key of the queue, across every worker.
        #[arg(long)]
        max_running_per_key: Option<u32>,
    },
    /// Enqueues `count` jobs, `concurrency` at a time; with `keys > 0` job `i` has unique
    /// key `k{i % keys}`. Prints `enqueued created=… duplicate=… errors=…`.
    Enqueue {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value = "work")]
        queue: String,
        #[arg(long, default_value = "noop")]
        kind: String,
        #[arg(long, default_value_t = 1)]
        count: usize,
        #[arg(long, default_value_t = 0)]
        keys: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value = "{}")]
        payload: String,
    },
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let tables = matches!(args.cmd, Cmd::Work { .. });
    let opened = db::open(
        args.backend,
        &args.url,
        args.schema.as_deref(),
        args.pool,
        tables,
    )
    .await?;
    match args.cmd {
        Cmd::Work {
            queue,
            id,
            concurrency,
            poll_ms,
            grace_ms,
            listen,
            max_running_per_key,
        } => {
            let mut cfg =
                WorkerConfig::new(QueueName::parse(&queue).map_err(|e| format!("{e:?}"))?);
            if let Some(id) = id {
                cfg.id = WorkerId::parse(&id).map_err(|e| format!("{e:?}"))?;
            }
            cfg.concurrency = concurrency;
            cfg.poll = Duration::from_millis(poll_ms);
            cfg.max_running_per_key = max_running_per_key;
            work(opened, cfg, Duration::from_millis(grace_ms), listen).await
        }
        Cmd::Enqueue {
            tenant,
            queue,
            kind,
            count,
            keys,
            concurrency,
            payload,
        } => {
            let tenant = TenantId::parse(&tenant).map_err(|_| "bad --tenant")?;
            let mut req = JobEnqueue::new(
                QueueName::parse(&queue).map_err(|e| format!("{e:?}"))?,
                JobKind::parse(&kind).map_err(|e| format!("{e:?}"))?,
                serde_json::from_str(&payload)?,
            );
            req.max_attempts = 5;
            enqueue(opened, tenant, req, count, keys, concurrency).await;
            Ok(())
        }
    }
}

async fn work(
    opened: Opened,
    cfg: WorkerConfig,
    grace: Duration,
    listen: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let worker_id = cfg.id.to_string();
    let queue = cfg.queue.clone();
    let kinds: [(&str, Arc<dyn JobHandler>); 3] = [
        ("noop", Arc::new(handlers::Noop)),
        (
            "sleep",
            Arc::new(handlers::Sleep {
                db: opened.db.clone(),
                worker: worker_id.clone(),
            }),
        ),
        (
            "batch",
            Arc::new(handlers::Batch {
                db: opened.db.clone(),
            }),
        ),
    ];
    let mut w = Worker::new(opened.store.clone(), cfg);
    for (kind, h) in kinds {
        w = w.handle(JobKind::parse(kind).map_err(|e| format!("{e:?}"))?, h);
    }
    w = w.observe(Arc::new(|job, end| {
        let how = match end {
            AttemptEnd::Completed => "completed",
            AttemptEnd::Failed => "failed",
            AttemptEnd::LeaseLost => "lease-lost",
            AttemptEnd::Released => "released",
            _ => "store-error",
        };
        say(&format!("end {} {how}", job.id));
    }));
    let wakeups = match (listen, &opened.pg) {
        (true, Some(pg)) => palisade_store_postgres::JobWakeups::listen(pg).await,
        _ => palisade_store_postgres::JobWakeups::polling(),
    };
    w = w.wake_on(wakeups.queue(queue.as_str()));
    let stop = Shutdown::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let fire = stop.clone();
    tokio::spawn(async move {
        term.recv().await;
        fire.fire();
    });
    say(&format!("ready worker={worker_id}"));
    w.run(stop, grace).await;
    say("stopped");
    Ok(())
}

async fn enqueue(
    opened: Opened,
    tenant: TenantId,
    req: JobEnqueue,
    count: usize,
    keys: usize,
    concurrency: usize,
) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (store, tenant, req, next) = (
            opened.store.clone(),
            tenant.clone(),
            req.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            let (mut created, mut dup, mut errs) = (0u64, 0u64, 0u64);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return (created, dup, errs);
                }
                let mut r = req.clone();
                if keys > 0 {
                    r.unique = Some(UniqueSpec {
                        key: format!("k{}", i % keys),
                        states: UniqueStates::ALL,
                        period_ms: None,
                    });
                }
                match store.job_enqueue(&tenant, r).await {
                    Ok(e) if e.duplicate => dup += 1,
                    Ok(_) => created += 1,
                    Err(_) => errs += 1,
                }
            }
        });
    }
    let (mut c, mut d, mut e) = (0, 0, 0);
    while let Some(Ok((c1, d1, e1))) = tasks.join_next().await {
        (c, d, e) = (c + c1, d + d1, e + e1);
    }
    say(&format!("enqueued created={c} duplicate={d} errors={e}"));
}
