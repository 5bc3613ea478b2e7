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
use palisade_store_postgres::{PgOptions, PgStore};
use palisade_store_redis::{RedisOptions, RedisStore};
use palisade_store_sqlite::{SqliteOptions, SqliteStore};
use palisade_testkit::backends::{postgres_url, redis_url, unique};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let run = Duration::from_secs(secs);
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
    let mut out: Vec<(&'static str, Arc<dyn LockStore>)> = Vec::new();
    let mem = palisade_locks::MemoryLockStore::new(SystemClock::shared());
    out.push(("memory", Arc::new(mem)));
    let dir = std::env::temp_dir().join(unique("locks_bench"));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let sqlite = SqliteStore::connect(&SqliteOptions::new(url))
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    out.push(("sqlite", Arc::new(sqlite)));
    let mut pg = PgOptions::new(postgres_url());
    pg.schema = Some(unique("locks_bench"));
    match PgStore::connect(&pg).await {
        Ok(s) => {
            s.migrate().await.unwrap();
            println!("# postgres pool size {}", s.pool_size());
            out.push(("postgres", Arc::new(s)));
        }
        Err(e) => println!("# postgres skipped: {e}"),
    }
    let mut ro = RedisOptions::new(redis_url());
    ro.prefix = unique("locks_bench");
    match RedisStore::connect(&ro).await {
        Ok(s) => out.push(("redis", Arc::new(s))),
        Err(e) => println!("# redis skipped: {e}"),
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
