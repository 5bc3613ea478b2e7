//! Shared-store rate-limit throughput: 64 concurrent callers deciding through one store.
//!
//! `cargo run --release -p palisade-server --example ratelimit_stores -- redis redis://127.0.0.1:6379`
//! `cargo run --release -p palisade-server --example ratelimit_stores -- postgres postgres://postgres@127.0.0.1:5432/test`
//! Optional third argument: seconds (default 5). Keys are drawn from 10 000 (`user:<n>`) with a
//! generous GCRA limit, so every decision reads and writes state. Prints decisions/s.
//! Redis decisions are batched by `RedisStore` (see `palisade_store_redis`); `RL_BATCH` and
//! `RL_IN_FLIGHT` override its batch size and batches in flight for tuning.
//! PostgreSQL: `PgStore` batches concurrent decisions; `PG_MAX_BATCH` and `PG_IN_FLIGHT`
//! (environment) override its defaults for tuning.

use palisade_core::TenantId;
use palisade_ratelimit::{Algorithm, Check, KeyPart, Policy, RateLimitStore};
use palisade_store_postgres::{PgOptions, PgStore};
use palisade_store_redis::{RedisOptions, RedisStore};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALLERS: usize = 64;
const KEYS: u64 = 10_000;

fn policy() -> Policy {
    Policy::new(
        "bench",
        Algorithm::Gcra,
        1_000_000,
        Duration::from_secs(1),
        vec![KeyPart::Principal],
    )
}

async fn run(store: Arc<dyn RateLimitStore>, secs: u64) -> f64 {
    let tenant = TenantId::parse("bench").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let limit = policy().limit();
    let start = Instant::now();
    let tasks: Vec<_> = (0..CALLERS as u64)
        .map(|i| {
            let (store, tenant, stop, done, errors) = (
                store.clone(),
                tenant.clone(),
                stop.clone(),
                done.clone(),
                errors.clone(),
            );
            tokio::spawn(async move {
                let mut n = i.wrapping_mul(7919);
                while !stop.load(Ordering::Relaxed) {
                    n = (n + 104_729) % KEYS;
                    let c = [Check {
                        policy: "bench".into(),
                        limit,
                        key: format!("user:{n}"),
                        cost: 1,
                    }];
                    match store.ratelimit_check(&tenant, &c).await {
                        Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let took = start.elapsed().as_secs_f64();
    let e = errors.load(Ordering::Relaxed);
    if e > 0 {
        eprintln!("{e} errors");
    }
    done.load(Ordering::Relaxed) as f64 / took
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let store: Arc<dyn RateLimitStore> = match args.get(1).map(String::as_str) {
        Some("redis") => {
            let mut o = RedisOptions::new(args[2].clone());
            o.prefix = "bench".into();
            let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
            o.ratelimit_batch = env("RL_BATCH").unwrap_or(o.ratelimit_batch);
            o.ratelimit_in_flight = env("RL_IN_FLIGHT").unwrap_or(o.ratelimit_in_flight);
            Arc::new(RedisStore::connect(&o).await.expect("redis"))
        }
        Some("postgres") => {
            let mut o = PgOptions::new(args[2].clone());
            o.schema = Some("palisade_bench".into());
            o.max_connections = Some(16);
            // decisions are batched (PgStore): optional tuning of the batches
            let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
            if let Some(n) = env("PG_MAX_BATCH") {
                o.ratelimit_max_batch = n;
            }
            if let Some(n) = env("PG_IN_FLIGHT") {
                o.ratelimit_in_flight = n;
            }
            let pg = PgStore::connect(&o).await.expect("postgres");
            pg.migrate().await.expect("migrate");
            Arc::new(pg)
        }
        _ => {
            eprintln!("usage: ratelimit_stores redis|postgres URL [SECONDS]");
            std::process::exit(2);
        }
    };
    let rate = run(store, secs).await;
    println!(
        "{} decisions/s ({CALLERS} callers, {secs} s, {} store)",
        rate.round(),
        args[1]
    );
}
