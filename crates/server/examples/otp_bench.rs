//! OTP verifies per second on every store, against the raw store operation in the same run.
//!
//! ```text
//! cargo run --release -p palisade-server --example otp_bench [-- SECONDS_PER_CASE]
//! ```
//!
//! Every verify is decided and written (a wrong code under limits that never rate-limit nor
//! lock), each task on its own identity, with 1 and 16 verifies in flight. Stores: memory,
//! SQLite, PostgreSQL, and Redis (OTP state in Redis over the SQLite store, which is read once
//! per identity for its lockout). Peers: for PostgreSQL a `SELECT 1` round trip on a pool of
//! the same size; for Redis the two scripts a verify runs (read, then compare-and-set write)
//! called raw from Rust, and `redis-benchmark` running `EVALSHA` of each. PostgreSQL and Redis
//! come from `PALISADE_TEST_POSTGRES_URL` / `PALISADE_TEST_REDIS_URL` (default local ports); an
//! unreachable one is skipped.

use palisade_core::TenantId;
use palisade_otp::{MemoryOtpStore, OtpKey, OtpLimits, OtpStore, OtpVerify, VerifyOutcome};
use palisade_store_redis::RedisOtp;
use palisade_testkit::backends::{postgres_url, redis_url, unique};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::Stores;

/// Every verify decided and written: no window, lockout or delay ever stops one.
const LIMITS: OtpLimits = OtpLimits {
    verify_limit: u32::MAX,
    window_ms: 3_600_000,
    lockout_after: u32::MAX,
    cooldown_ms: 1,
    delay_after: u32::MAX,
    delay_base_ms: 0,
    delay_max_ms: 0,
};

const IN_FLIGHT: [usize; 2] = [1, 16];

#[tokio::main]
async fn main() {
    let run = Duration::from_secs(common::first_arg(3));
    println!("{:<22} {:>9} {:>12}", "store", "in flight", "verifies/s");
    let s = Stores::connect("otp_bench").await;
    let sqlite = Arc::new(s.sqlite);
    let mut stores: Vec<(&str, Arc<dyn OtpStore>)> = vec![
        ("memory", Arc::new(MemoryOtpStore::default())),
        ("sqlite", sqlite.clone()),
    ];
    let pg_pool = s.postgres.as_ref().map(|pg| pg.pool_size());
    if let Some(pg) = s.postgres {
        stores.push(("postgres", Arc::new(pg)));
    }
    let redis = s.redis.clone();
    if let Some(r) = &s.redis {
        stores.push((
            "redis",
            Arc::new(r.otp(sqlite, Duration::from_secs(86_400))),
        ));
    }
    for (name, store) in &stores {
        for n in IN_FLIGHT {
            let r = verifies(store.clone(), n, run).await;
            println!("{name:<22} {n:>9} {r:>12.0}");
        }
    }
    if let Some(size) = pg_pool {
        pg_peer(size, run).await;
    }
    if let Some(r) = redis {
        redis_peer(r.conn(), run).await;
        redis_benchmark();
    }
}

/// Runs `op(task, i)` from `tasks` tasks for `run`; operations per second.
async fn rate<F, Fut>(tasks: usize, run: Duration, op: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let deadline = started + run;
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    op(t, n).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Verifies per second of wrong codes, each task on its own identity.
async fn verifies(store: Arc<dyn OtpStore>, tasks: usize, run: Duration) -> f64 {
    let (key, tenant) = (OtpKey::generate(), TenantId::generate());
    let reqs: Arc<Vec<OtpVerify>> = Arc::new(
        (0..tasks)
            .map(|t| {
                let id = key.identity_hash(&tenant, &format!("user-{t}"));
                let code = key.code_hash(&id, "0000000000");
                OtpVerify {
                    identity: id,
                    code,
                    limits: LIMITS,
                }
            })
            .collect(),
    );
    rate(tasks, run, move |t, _| {
        let (store, reqs, tenant) = (store.clone(), reqs.clone(), tenant.clone());
        async move {
            let out = store.otp_verify(&tenant, &reqs[t]).await.unwrap();
            assert_eq!(out, VerifyOutcome::Invalid);
        }
    })
    .await
}

/// The PostgreSQL peer: `SELECT 1` round trips on a pool of the store's size.
async fn pg_peer(size: u32, run: Duration) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(size)
        .connect(&postgres_url())
        .await
        .unwrap();
    for n in IN_FLIGHT {
        let pool = pool.clone();
        let r = rate(n, run, move |_, _| {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT 1").execute(&pool).await.unwrap();
            }
        })
        .await;
        println!("{:<22} {n:>9} {r:>12.0}", "peer: pg SELECT 1");
    }
}

/// The Redis peer from Rust: the read script then the write script, on the same multiplexed
/// connection, without the decision.
async fn redis_peer(conn: redis::aio::ConnectionManager, run: Duration) {
    let (read, save) = RedisOtp::script_hashes();
    let base = unique("otp_peer");
    for n in IN_FLIGHT {
        let (conn, base) = (conn.clone(), base.clone());
        let r = rate(n, run, move |t, i| {
            let (mut conn, key) = (conn.clone(), format!("{base}:{n}:{t}"));
            async move {
                let _: redis::Value = redis::cmd("EVALSHA")
                    .arg(read)
                    .arg(1)
                    .arg(&key)
                    .arg("")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let written: i64 = save_cmd(save, &key, &i.to_string())
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(written, 1);
            }
        })
        .await;
        println!("{:<22} {n:>9} {r:>12.0}", "peer: redis 2 scripts");
    }
}

/// `EVALSHA` of the write script on `key`, expecting `version`, with a state's eight fields.
fn save_cmd(sha: &str, key: &str, version: &str) -> redis::Cmd {
    let mut c = redis::cmd("EVALSHA");
    c.arg(sha).arg(1).arg(key).arg(version).arg(60_000);
    for (f, v) in [
        ("c", ""),
        ("ce", "0"),
        ("ws", "0"),
        ("wa", "1"),
        ("f", "1"),
        ("lu", "0"),
        ("lf", "0"),
        ("u", "0"),
    ] {
        c.arg(f).arg(v);
    }
    c
}

/// The peer outside the process: `redis-benchmark` running `EVALSHA` of each script on random
/// keys (`-r`), 1 and 16 connections.
fn redis_benchmark() {
    let (read, save) = RedisOtp::script_hashes();
    let url = redis_url();
    let hostport = url.trim_start_matches("redis://");
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "6379"));
    let port = port.trim_end_matches(|c: char| !c.is_ascii_digit());
    let key = "bench:otp:__rand_int__";
    let read_args: Vec<String> = ["EVALSHA", read, "1", key, ""].map(String::from).into();
    let save_cmd = save_cmd(save, key, "0");
    let save_args: Vec<String> = save_cmd
        .args_iter()
        .map(|a| match a {
            redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
            redis::Arg::Cursor => String::new(),
        })
        .collect();
    for (what, args) in [("read", read_args), ("write", save_args)] {
        for clients in ["1", "16"] {
            let fixed = [
                "-h", host, "-p", port, "-q", "-n", "100000", "-r", "1000000",
            ];
            let out = std::process::Command::new("redis-benchmark")
                .args(fixed)
                .args(["-c", clients])
                .args(&args)
                .output();
            match out {
                Ok(o) => {
                    let text = String::from_utf8_lossy(&o.stdout);
                    let last = text.rsplit('\r').next().unwrap_or(&text).trim().to_owned();
                    println!("# redis-benchmark -c {clients} EVALSHA {what} script: {last}");
                }
                Err(e) => println!("# redis-benchmark unavailable: {e}"),
            }
        }
    }
}
