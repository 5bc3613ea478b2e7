//! Latency the idempotency layer adds per request on every store: one trivial axum handler
//! served with and without `IdempotencyLayer`, driven over loopback HTTP in the same run.
//!
//! ```text
//! cargo run --release -p palisade-server --example idempotency_bench [-- REQUESTS]
//! ```
//!
//! For each store (memory, SQLite, PostgreSQL, Redis) and each mode (`seq`: one request at a
//! time; `c16`: 16 concurrent clients), REQUESTS requests (default 2000) with unique keys go
//! to the bare route and to the layered one, interleaved in blocks of 100 so that machine
//! noise hits both alike. PostgreSQL and Redis come from `PALISADE_TEST_POSTGRES_URL` /
//! `PALISADE_TEST_REDIS_URL` (default local ports); an unreachable one is skipped.

use axum::extract::Request;
use axum::middleware::Next;
use axum::routing::post;
use axum::Router;
use palisade_core::{Caller, TenantId};
use palisade_idempotency::{
    IdempotencyConfig, IdempotencyLayer, IdempotencyStore, MemoryIdempotencyStore,
};
use palisade_testkit::backends::unique;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::Stores;

const BLOCK: usize = 100;

#[tokio::main]
async fn main() {
    let n: usize = common::first_arg(2000);
    println!(
        "{:<9} {:<5} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "store", "mode", "bare p50", "bare p99", "layer p50", "layer p99", "+p50", "+p99"
    );
    for (name, store) in stores().await {
        let url = serve(store).await;
        for (mode, clients) in [("seq", 1), ("c16", 16)] {
            let (bare, layered) = measure(&url, n, clients).await;
            let (b50, b99) = (pct(&bare, 50.0), pct(&bare, 99.0));
            let (l50, l99) = (pct(&layered, 50.0), pct(&layered, 99.0));
            println!(
                "{name:<9} {mode:<5} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9}",
                us(b50),
                us(b99),
                us(l50),
                us(l99),
                us(l50.saturating_sub(b50)),
                us(l99.saturating_sub(b99)),
            );
        }
    }
}

fn us(d: Duration) -> String {
    format!("{}µs", d.as_micros())
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i]
}

async fn stores() -> Vec<(&'static str, Arc<dyn IdempotencyStore>)> {
    let s = Stores::connect("idem_bench").await;
    let mut out: Vec<(&'static str, Arc<dyn IdempotencyStore>)> = vec![
        ("memory", Arc::new(MemoryIdempotencyStore::default())),
        ("sqlite", Arc::new(s.sqlite)),
    ];
    if let Some(pg) = s.postgres {
        out.push(("postgres", Arc::new(pg)));
    }
    if let Some(redis) = s.redis {
        out.push(("redis", Arc::new(redis)));
    }
    out
}

/// Stands in for authentication: every request is the same tenant's caller.
async fn authenticate(mut req: Request, next: Next) -> axum::response::Response {
    static TENANT: std::sync::LazyLock<TenantId> = std::sync::LazyLock::new(TenantId::generate);
    req.extensions_mut().insert(Caller {
        tenant: TENANT.clone(),
        principal: "key_bench".into(),
    });
    next.run(req).await
}

async fn handler(
    body: String,
) -> (
    axum::http::StatusCode,
    [(&'static str, &'static str); 1],
    String,
) {
    let out = format!(r#"{{"id":"ch_1","echo":{}}}"#, body.len());
    (
        axum::http::StatusCode::CREATED,
        [("content-type", "application/json")],
        out,
    )
}

/// Serves `/bare` and `/idem` (the same handler behind the layer over `store`).
async fn serve(store: Arc<dyn IdempotencyStore>) -> String {
    let layer = IdempotencyLayer::new(store, IdempotencyConfig::default());
    let idem = Router::new()
        .route("/idem", post(handler))
        .route_layer(layer);
    let app = Router::new()
        .route("/bare", post(handler))
        .merge(idem)
        .layer(axum::middleware::from_fn(authenticate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Latencies of `n` requests to `/bare` and `n` to `/idem`, `clients` at a time, interleaved
/// in blocks; both sorted.
async fn measure(url: &str, n: usize, clients: usize) -> (Vec<Duration>, Vec<Duration>) {
    let c = reqwest::Client::new();
    // Warm up connections and both routes.
    run(&c, url, "bare", BLOCK, clients).await;
    run(&c, url, "idem", BLOCK, clients).await;
    let (mut bare, mut idem) = (Vec::new(), Vec::new());
    for _ in 0..n.div_ceil(BLOCK) {
        bare.extend(run(&c, url, "bare", BLOCK, clients).await);
        idem.extend(run(&c, url, "idem", BLOCK, clients).await);
    }
    bare.sort();
    idem.sort();
    (bare, idem)
}

/// `n` requests over `clients` tasks, each with a unique key; their latencies.
async fn run(
    c: &reqwest::Client,
    url: &str,
    path: &str,
    n: usize,
    clients: usize,
) -> Vec<Duration> {
    let per = n / clients;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (c, url) = (c.clone(), format!("{url}/{path}"));
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(per);
                for _ in 0..per {
                    let key = format!("\"{}\"", unique("k"));
                    let t = Instant::now();
                    let r = c
                        .post(&url)
                        .header("idempotency-key", key)
                        .header("content-type", "application/json")
                        .body(r#"{"amount":100,"currency":"eur"}"#)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                    r.bytes().await.unwrap();
                    out.push(t.elapsed());
                }
                out
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.extend(t.await.unwrap());
    }
    out
}
