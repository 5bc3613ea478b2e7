//! Lock throughput: acquire+release cycles per second on every store, with `redis-benchmark` as
//! the peer on the same Redis.
//!
//! ```text
//! cargo run --release -p palisade-server --example locks_bench [-- SECONDS_PER_CASE]
//! ```
//!
//! Cases: `uncontended x1` (one task, one lock), `uncontended x16` (16 tasks, each its own
//! lock), `contended x16` (16 tasks on one lock, each acquire waiting up to 10 s). PostgreSQL
//! and Redis come from `PALISADE_TEST_POSTGRES_URL` / `PALISADE_TEST_REDIS_URL` (default local
//! ports); an unreachable one is skipped.

use palisade_core::{SystemClock, TenantId};
use palisade_locks::{Acquired, HolderId, LockAcquire, LockName, LockStore, Locks, MaxWait, Ttl};
use palisade_testkit::backends::{redis_url, unique};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::Stores;

#[tokio::main]
async fn main() {
    let run = Duration::from_secs(common::first_arg(3));
    println!("{:<10} {:<16} {:>12}", "store", "case", "cycles/s");
    for (name, store) in stores().await {
        let locks = Locks::new(store);
        for (case, tasks, shared) in [
            ("uncontended x1", 1, false),
            ("uncontended x16", 16, false),
            ("contended x16", 16, true),
        ] {
            let rate = cycles(&locks, tasks, shared, run).await;
            println!("{name:<10} {case:<16} {rate:>12.0}");
        }
    }
    redis_peer();
}

async fn stores() -> Vec<(&'static str, Arc<dyn LockStore>)> {
    let s = Stores::connect("locks_bench").await;
    let mem = palisade_locks::MemoryLockStore::new(SystemClock::shared());
    let mut out: Vec<(&'static str, Arc<dyn LockStore>)> =
        vec![("memory", Arc::new(mem)), ("sqlite", Arc::new(s.sqlite))];
    if let Some(pg) = s.postgres {
        println!("# postgres pool size {}", pg.pool_size());
        out.push(("postgres", Arc::new(pg)));
    }
    if let Some(redis) = s.redis {
        out.push(("redis", Arc::new(redis)));
    }
    out
}

/// Acquire+release cycles per second over `tasks` tasks for `run`.
async fn cycles(locks: &Locks, tasks: usize, shared: bool, run: Duration) -> f64 {
    let tenant = TenantId::generate();
    let lock_id = unique("l");
    let started = Instant::now();
    let deadline = started + run;
    let mut handles = Vec::new();
    for i in 0..tasks {
        let (locks, tenant) = (locks.clone(), tenant.clone());
        let name = if shared {
            lock_id.clone()
        } else {
            format!("{lock_id}-{i}")
        };
        let req = LockAcquire {
            name: LockName::parse(&name).unwrap(),
            holder: HolderId::generate(),
            ttl: Ttl::from_ms(10_000).unwrap(),
        };
        handles.push(tokio::spawn(async move {
            let wait = MaxWait::from_ms(10_000).unwrap();
            let mut n = 0u64;
            while Instant::now() < deadline {
                match locks.acquire(&tenant, &req, wait).await.unwrap() {
                    Acquired::Granted { lease, .. } => {
                        locks.release(&tenant, &lease.release_req()).await.unwrap();
                        n += 1;
                    }
                    Acquired::Held(_) => {}
                }
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// The peer: `redis-benchmark` on the same Redis, one `SET NX PX` per request.
fn redis_peer() {
    let url = redis_url();
    let hostport = url.trim_start_matches("redis://");
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "6379"));
    let port = port.trim_end_matches(|c: char| !c.is_ascii_digit());
    for clients in ["1", "16"] {
        let args = [
            "-h",
            host,
            "-p",
            port,
            "-q",
            "-n",
            "100000",
            "-c",
            clients,
            "SET",
            "bench:lock",
            "v",
            "NX",
            "PX",
            "1000",
        ];
        match std::process::Command::new("redis-benchmark")
            .args(args)
            .output()
        {
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                let last = text.rsplit('\r').next().unwrap_or(&text).trim().to_owned();
                println!("# redis-benchmark {}: {last}", args.join(" "));
            }
            Err(e) => println!("# redis-benchmark unavailable: {e}"),
        }
    }
}
