//! Realtime benchmarks, ignored by default (run them on a release build, see BENCHMARKS.md
//! "Realtime"): resident memory per idle SSE stream, and publish-to-receive latency across
//! three instances over Redis against a raw Redis `PUBLISH` round trip on the same Redis.

use super::cluster::Cluster;
use super::{all_released, open_streams, raw_stream, rss_kb, stream_on, SseReader};
use crate::common::{metrics, spawn_in, temp_dir};
use futures::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Opens `n` idle topic streams (default 10,000) on one instance (embedded default, 15 s
/// heartbeats) and reports the server's resident-set growth per stream. Each stream is its
/// connection's first request (the lean stream connection); with `PALISADE_BENCH_KEPT_ALIVE`
/// set, each connection first asks `/healthz`, so the general HTTP/1 server serves the stream.
#[tokio::test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn bench_memory_per_idle_sse_stream() {
    let n = count("PALISADE_BENCH_STREAMS", 10_000);
    let dir = temp_dir();
    let toml = "[realtime]\nmax_streams_per_principal = 100000\nmax_streams_per_tenant = 100000\n";
    std::fs::write(dir.join("palisade.toml"), toml).unwrap();
    let p = spawn_in(dir, &[]);
    let a = p.tenant_api("rt-bench-mem").await;
    let (tok, _) = a.mint(json!({"principal": "u1", "topics": ["t"]})).await;
    let path = format!("/v1/topics/t/events?token={tok}");
    let addr = p.url.trim_start_matches("http://").to_owned();
    let kept_alive = std::env::var_os("PALISADE_BENCH_KEPT_ALIVE").is_some();
    let open = |addr: String, path: String| async move {
        if kept_alive {
            after_healthz(&addr, &path).await
        } else {
            raw_stream(&addr, &path).await
        }
    };
    // Warm up (allocator arenas, tokio's slabs, the pool), then measure from a quiet baseline.
    let warm: Vec<_> = futures::stream::iter(0..1_000)
        .map(|_| open(addr.clone(), path.clone()))
        .buffer_unordered(50)
        .collect()
        .await;
    drop(warm);
    all_released(&p).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kb(p.child.id());
    let started = Instant::now();
    let conns: Vec<_> = futures::stream::iter(0..n)
        .map(|_| open(addr.clone(), path.clone()))
        .buffer_unordered(50)
        .collect()
        .await;
    let opened_in = started.elapsed();
    let m = metrics(&p.url, &p.operator_key()).await;
    assert_eq!(open_streams(&m, "topic"), n as f64);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kb(p.child.id());
    let per = (after as f64 - before as f64) / n as f64;
    println!(
        "BENCH realtime idle SSE streams ({}): {n} opened in {:.1} s; RSS {before} kB -> \
         {after} kB; {per:.2} kB per stream",
        if kept_alive {
            "kept-alive connections, general server"
        } else {
            "fresh connections, lean"
        },
        opened_in.as_secs_f64()
    );
    drop(conns);
}

/// A stream opened on a connection that first asked `/healthz` (so hyper serves it).
async fn after_healthz(addr: &str, path: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: palisade\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // The health answer is small and has a Content-Length: read until its body is in.
    while !health_answered(&got) {
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed after /healthz");
        got.extend_from_slice(&buf[..n]);
    }
    stream_on(&mut c, path).await;
    c
}

/// True when `got` holds a whole answer with a `content-length` body.
fn health_answered(got: &[u8]) -> bool {
    let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&got[..at]).to_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    got.len() >= at + 4 + len
}

/// Publishes events one at a time on the first of three instances over PostgreSQL + Redis and
/// times each until a stream on every instance received it; then the same number of raw
/// `PUBLISH` round trips (publisher → Redis → subscriber) on the same Redis.
#[tokio::test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
async fn bench_publish_to_receive_latency_over_redis() {
    let n = count("PALISADE_BENCH_EVENTS", 1_000);
    let Some(c) = Cluster::new("realtime_bench_latency", true, "history_max_events = 10000").await
    else {
        return;
    };
    let procs = [c.start(), c.start(), c.start()];
    let a = procs[0].tenant_api("rt-bench-lat").await;
    let (tok, _) = a
        .mint(json!({"principal": "u1", "topics": ["t"], "ttl_ms": 3_600_000}))
        .await;
    let path = format!("/v1/topics/t/events?token={tok}");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, u64, Instant)>();
    for (i, p) in procs.iter().enumerate() {
        let mut r = SseReader::new(super::open(&p.url, &path, None).await);
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = r.next(Duration::from_secs(60)).await {
                let id: u64 = ev.id.unwrap().parse().unwrap();
                let _ = tx.send((i, id, Instant::now()));
            }
        });
    }
    let mut lat = Vec::with_capacity(n * 3);
    let mut got = [0u64; 3];
    for k in 1..=n as u64 {
        let sent = Instant::now();
        assert_eq!(a.publish("t", json!({"k": k})).await, k);
        while got.iter().any(|g| *g < k) {
            let (i, id, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("every instance receives within 10 s")
                .unwrap();
            assert_eq!(id, got[i] + 1, "instance {i}: in order, each once");
            got[i] = id;
            lat.push((at - sent).as_secs_f64() * 1e3);
        }
    }
    lat.sort_by(f64::total_cmp);
    let (p50, p99) = (pct(&lat, 0.50), pct(&lat, 0.99));
    // The peer: a raw PUBLISH round trip on the same Redis.
    let client = redis::Client::open(c.redis.as_str()).unwrap();
    let mut sub = client.get_async_pubsub().await.unwrap();
    let chan = format!("{}:bench", c.prefix);
    sub.subscribe(&chan).await.unwrap();
    let mut sub = sub.into_on_message();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut raw = Vec::with_capacity(n);
    for k in 0..n {
        let sent = Instant::now();
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&chan)
            .arg(format!("{{\"k\":{k}}}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        sub.next().await.unwrap();
        raw.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    raw.sort_by(f64::total_cmp);
    let (r50, r99) = (pct(&raw, 0.50), pct(&raw, 0.99));
    // And redis-benchmark's own PUBLISH latency (one client), when installed.
    let hostport = c.redis.trim_start_matches("redis://");
    let hostport = hostport.split('/').next().unwrap_or("127.0.0.1:6379");
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "6379"));
    let rb = std::process::Command::new("redis-benchmark")
        .args([
            "-h",
            host,
            "-p",
            port,
            "-n",
            &n.to_string(),
            "-c",
            "1",
            "PUBLISH",
        ])
        .arg(&chan)
        .arg("{\"k\":1}")
        .output();
    match rb {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).replace('\r', "\n");
            let summary: Vec<&str> = text
                .lines()
                .skip_while(|l| !l.contains("throughput summary"))
                .collect();
            println!(
                "BENCH redis-benchmark PUBLISH -c 1 -n {n}: {}",
                summary.join(" | ")
            );
        }
        Err(e) => println!("BENCH redis-benchmark not run: {e}"),
    }
    println!(
        "BENCH realtime publish->receive, 3 instances over Redis, {n} events x 3 receivers: \
         p50 {p50:.2} ms, p99 {p99:.2} ms; raw Redis PUBLISH round trip: p50 {r50:.3} ms, \
         p99 {r99:.3} ms; ratio p50 {:.0}x, p99 {:.0}x",
        p50 / r50,
        p99 / r99
    );
}
