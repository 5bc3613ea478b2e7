//! `inbox_bench`: verified + deduplicated + durably stored events per second (and p99) through
//! the ingress pipeline, against a plain single-row `INSERT` loop on the same database and
//! pool (the physical limit), in one run, alternating limit → inbox → limit → inbox.
//!
//! ```sh
//! cargo run --release -p palisade-webhooks --example inbox_bench -- --backend sqlite \
//!     --url sqlite:///tmp/inbox-bench.db
//! cargo run --release -p palisade-webhooks --example inbox_bench -- --backend postgres \
//!     --url postgres://postgres@127.0.0.1:5432/test --schema inbox_bench
//! ```

use base64::Engine as _;
use clap::Parser;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use palisade_core::TenantId;
use palisade_webhooks::{
    delivery, ingest, EventIdRule, Inbound, InboxStore, Inserter, Provider, SecretBox, Source,
    SourceName, SourceSecret,
};
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
struct Args {
    /// `sqlite` or `postgres`.
    #[arg(long)]
    backend: String,
    #[arg(long)]
    url: String,
    #[arg(long)]
    schema: Option<String>,
    /// Events per phase.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Push sources (the delivery job is written with each event) instead of pull.
    #[arg(long)]
    push: bool,
    /// Each event written alone (`InboxStore::event_insert`) even where the store prefers
    /// grouped inserts (`InboxStore::event_insert_grouped`: SQLite), as ingress did before.
    #[arg(long)]
    direct: bool,
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The plain insert: one row, one statement, autocommit.
enum Plain {
    Lite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Plain {
    async fn setup(&self) {
        let sql =
            "CREATE TABLE IF NOT EXISTS bench_plain (id TEXT PRIMARY KEY, body TEXT NOT NULL)";
        match self {
            Plain::Lite(p) => drop(sqlx::query(sql).execute(p).await.unwrap()),
            Plain::Pg(p) => drop(sqlx::query(sql).execute(p).await.unwrap()),
        }
    }

    async fn insert(&self, id: &str, body: &str) {
        let sql = "INSERT INTO bench_plain (id, body) VALUES ($1, $2)";
        match self {
            Plain::Lite(p) => drop(
                sqlx::query(sql)
                    .bind(id)
                    .bind(body)
                    .execute(p)
                    .await
                    .unwrap(),
            ),
            Plain::Pg(p) => drop(
                sqlx::query(sql)
                    .bind(id)
                    .bind(body)
                    .execute(p)
                    .await
                    .unwrap(),
            ),
        }
    }
}

fn sign(id: &str, ts: i64, body: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(&SECRET[6..]).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!("v1,{}", b64.encode(mac.finalize().into_bytes()))
}

struct Run {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `op(i)` for i in 0..n with `conc` in flight; rate and latency percentiles.
async fn run<F, Fut>(n: usize, conc: usize, op: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conc {
        let (op, next) = (op.clone(), next.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return lat;
                }
                let t = Instant::now();
                op(i).await;
                lat.push(t.elapsed());
            }
        });
    }
    let mut lat = Vec::with_capacity(n);
    while let Some(l) = tasks.join_next().await {
        lat.extend(l.unwrap());
    }
    let total = t0.elapsed();
    lat.sort();
    Run {
        rate: n as f64 / total.as_secs_f64(),
        p50: lat[lat.len() / 2],
        p99: lat[(lat.len() * 99 / 100).min(lat.len() - 1)],
    }
}

/// The server's dispatcher over `store`, running until the flag is set (then draining what
/// is left): its wake-up, the flag, and the task answering how many events it dispatched.
/// The time until it is done is the time until every pushed event has its delivery job.
fn dispatching(
    store: Arc<dyn InboxStore>,
) -> (
    Arc<tokio::sync::Notify>,
    Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<u64>,
) {
    use palisade_core::Maintenance;
    let woken = Arc::new(tokio::sync::Notify::new());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = palisade_webhooks::Dispatcher::new(
        store,
        Duration::from_millis(200),
        woken.clone(),
        Arc::new(tokio::sync::Notify::new()),
    );
    let flag = stop.clone();
    let task = tokio::spawn(async move {
        let mut n = 0;
        while !flag.load(Ordering::SeqCst) {
            n += d.step().await.unwrap();
        }
        n + d.drain().await.unwrap()
    });
    (woken, stop, task)
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    let pool_size = a.concurrency as u32;
    let (store, plain): (Arc<dyn InboxStore>, Plain) = match a.backend.as_str() {
        "sqlite" => {
            let mut o = palisade_store_sqlite::SqliteOptions::new(a.url.clone());
            o.max_connections = pool_size;
            let s = palisade_store_sqlite::SqliteStore::connect(&o)
                .await
                .unwrap();
            s.migrate().await.unwrap();
            let p = Plain::Lite(s.pool().clone());
            (Arc::new(s), p)
        }
        _ => {
            let mut o = palisade_store_postgres::PgOptions::new(a.url.clone());
            o.schema = a.schema.clone();
            o.max_connections = Some(pool_size);
            let s = palisade_store_postgres::PgStore::connect(&o).await.unwrap();
            s.migrate().await.unwrap();
            let p = Plain::Pg(s.pool().clone());
            (Arc::new(s), p)
        }
    };
    plain.setup().await;
    let plain = Arc::new(plain);
    let keys = Arc::new(SecretBox::new(("k1".into(), [7u8; 32]), vec![]));
    let tenant = TenantId::generate();
    let name = SourceName::parse("bench").unwrap();
    let sealed =
        |id: &str, plain: &str| keys.seal(plain.as_bytes(), &Source::aad(&tenant, &name, id));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let source = Source {
        tenant: tenant.clone(),
        name: name.clone(),
        provider: Provider::StandardWebhooks,
        secrets: vec![SourceSecret {
            id: "sec_1".into(),
            sealed: sealed("sec_1", SECRET),
            created_at_ms: now_ms,
            expires_at_ms: None,
        }],
        tolerance_secs: 300,
        max_body_bytes: 64 * 1024,
        event_id: EventIdRule::Provider,
        target: a.push.then(|| palisade_webhooks::Target {
            url: "https://app.example/hooks".into(),
            ordered: false,
            concurrency: 4,
            rate_per_sec: None,
            disabled: false,
        }),
        delivery_secret: sealed(delivery::DELIVERY_SECRET_ID, SECRET).into(),
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        version: 1,
    };
    store.source_create(&source).await.unwrap();
    let source = Arc::new(source);
    let body = br#"{"type":"invoice.paid","data":{"object":{"id":"in_1","amount":1999}}}"#;
    let ts = now_ms / 1000;
    println!(
        "backend={} events/phase={} concurrency={} push={}",
        a.backend, a.events, a.concurrency, a.push
    );
    for round in 0..2 {
        let p = plain.clone();
        let text = String::from_utf8_lossy(body).into_owned();
        let limit = run(a.events, a.concurrency, move |i| {
            let (p, text) = (p.clone(), text.clone());
            async move { p.insert(&format!("r{round}-{i}"), &text).await }
        })
        .await;
        // the provider's side (signing) is done before the clock starts
        let reqs: Arc<Vec<(HeaderMap, Vec<u8>)>> = Arc::new(
            (0..a.events)
                .map(|i| {
                    let id = format!("msg_r{round}_{i}");
                    let mut h = HeaderMap::new();
                    h.insert("webhook-id", id.parse().unwrap());
                    h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
                    h.insert("webhook-signature", sign(&id, ts, body).parse().unwrap());
                    h.insert("content-type", "application/json".parse().unwrap());
                    (h, body.to_vec())
                })
                .collect(),
        );
        let group = !a.direct && store.event_insert_grouped();
        let grouped = group.then(|| Inserter::start(store.clone()));
        let (s, k, src) = (store.clone(), keys.clone(), source.clone());
        let started = Instant::now();
        let dispatch = a.push.then(|| dispatching(store.clone()));
        let woken = dispatch.as_ref().map(|d| d.0.clone());
        let inbox = run(a.events, a.concurrency, move |i| {
            let (s, k, src, reqs) = (s.clone(), k.clone(), src.clone(), reqs.clone());
            let (grouped, woken) = (grouped.clone(), woken.clone());
            async move {
                let (h, b) = &reqs[i];
                let req = Inbound {
                    url: "https://x/hooks",
                    headers: h,
                    body: b,
                };
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64;
                let event = ingest::verified_event(&k, 60, &src, &req, now).unwrap();
                let r = match grouped {
                    Some(g) => g.insert(event, src.pushes()).await,
                    None => s.event_insert(event, src.pushes()).await,
                }
                .unwrap();
                assert!(!r.duplicate);
                if let Some(w) = woken {
                    w.notify_one(); // as the server's ingress wakes its dispatcher
                }
            }
        })
        .await;
        println!(
            "round {round}: plain INSERT {:.0}/s p50 {:?} p99 {:?} | inbox {:.0}/s p50 {:?} p99 {:?} | ratio {:.2}",
            limit.rate, limit.p50, limit.p99, inbox.rate, inbox.p50, inbox.p99,
            inbox.rate / limit.rate
        );
        if let Some((woken, stop, task)) = dispatch {
            stop.store(true, Ordering::SeqCst);
            woken.notify_one();
            task.await.unwrap();
            // the dispatcher drained after the last insert: every pushed event has its job
            // (on SQLite most got it in their grouped insert's own write)
            assert_eq!(
                store.event_dispatch(1).await.unwrap(),
                0,
                "none left marked"
            );
            let rate = a.events as f64 / started.elapsed().as_secs_f64();
            println!(
                "round {round}: until every delivery job was made (dispatched alongside): \
                 {rate:.0}/s | ratio {:.2}",
                rate / limit.rate
            );
        }
    }
}
