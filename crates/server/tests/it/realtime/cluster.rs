//! Realtime across instances over PostgreSQL and Redis: fan-out by Redis pub/sub, and the
//! cluster-wide caps on open streams (slots leased in the shared store).

use super::{data_ids, open, problem, SseReader};
use crate::common::{spawn_in, temp_dir, Proc};
use futures::StreamExt;
use palisade_testkit::backends::{postgres_or_skip, redis_or_skip, unique};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A shared cluster configuration: one PostgreSQL schema, one Redis prefix, one signing key.
pub(super) struct Cluster {
    toml: String,
    /// The Redis URL.
    pub redis: String,
    /// The Redis key prefix of this cluster.
    pub prefix: String,
}

impl Cluster {
    /// On PostgreSQL (a fresh schema) with Redis (a fresh prefix) when `with_redis`, `extra`
    /// appended to `[realtime]`; `None` when a store is missing outside CI.
    pub async fn new(test: &str, with_redis: bool, extra: &str) -> Option<Self> {
        let pg = postgres_or_skip(test).await?;
        let redis = match with_redis {
            true => Some(redis_or_skip(test).await?),
            false => None,
        };
        let prefix = unique("rt");
        let redis_toml = match &redis {
            Some(r) => format!("redis_url = \"{r}\"\nredis_prefix = \"{prefix}\"\n"),
            None => String::new(),
        };
        let toml = format!(
            "[storage]\nurl = \"{pg}\"\nschema = \"{}\"\n{redis_toml}[realtime]\n\
             {extra}\n\
             [[realtime.signing_keys]]\nid = \"k1\"\nsecret = \"{}\"\n",
            unique("rt_it"),
            "s".repeat(40)
        );
        Some(Self {
            toml,
            redis: redis.unwrap_or_default(),
            prefix,
        })
    }

    /// Starts one more instance.
    pub fn start(&self) -> Proc {
        let dir = temp_dir();
        std::fs::write(dir.join("palisade.toml"), &self.toml).unwrap();
        spawn_in(
            dir,
            &[(
                "PALISADE_OPERATOR_KEY",
                "op-key-realtime-test-0123456789abcdef",
            )],
        )
    }
}

fn gauge(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(-1.0)
}

#[tokio::test]
async fn on_redis_events_reach_all_three_instances_and_revocations_close_streams_within_a_second() {
    let Some(c) = Cluster::new(
        "realtime_redis_fanout",
        true,
        "heartbeat_interval = \"200ms\"",
    )
    .await
    else {
        return;
    };
    let procs = [c.start(), c.start(), c.start()];
    for p in &procs {
        let m = p.metrics().await;
        assert_eq!(
            gauge(&m, "palisade_redis_connections"),
            2.0,
            "the shared connection and the subscriber"
        );
    }
    // Watch the Redis channel: the signals travel there (not by NOTIFY).
    let client = redis::Client::open(c.redis.as_str()).unwrap();
    let mut watch = client.get_async_pubsub().await.unwrap();
    watch
        .subscribe(format!("{}:realtime", c.prefix))
        .await
        .unwrap();
    let mut watch = watch.into_on_message();

    let a1 = procs[0].tenant_api("rt-redis").await;
    let (tok, tok_id) = a1.mint(json!({"principal": "u1", "topics": ["t"]})).await;
    let path = format!("/v1/topics/t/events?token={tok}");
    let mut readers = Vec::new();
    for p in &procs {
        readers.push(SseReader::new(open(&p.url, &path, None).await));
    }
    // Publish alternately on every instance: each stream gets every event, in id order.
    for i in 0..6 {
        let api = procs[i % 3].api(&a1.key);
        assert_eq!(api.publish("t", json!({"n": i})).await, i as u64 + 1);
    }
    let seen = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("a signal on the Redis channel")
        .unwrap();
    let signal: Value = serde_json::from_str(&seen.get_payload::<String>().unwrap()).unwrap();
    assert_eq!(signal["t"], "event");
    for (i, r) in readers.iter_mut().enumerate() {
        let got = r.take(6).await;
        assert_eq!(
            data_ids(&got),
            ["1", "2", "3", "4", "5", "6"],
            "instance {i}"
        );
        assert_eq!(got[5].data, json!({"n": 5}));
    }
    // A revocation on the first instance closes the stream on the third within a second.
    let at = Instant::now();
    let r = a1
        .post("/v1/streams/revocations", json!({"token_id": tok_id}))
        .await;
    assert_eq!(r.status(), 204);
    let close = readers[2]
        .next(Duration::from_secs(1))
        .await
        .expect("closed on another instance within a second");
    assert!(at.elapsed() < Duration::from_secs(1), "{:?}", at.elapsed());
    assert_eq!(close.event, "close");
    assert_eq!(close.data["reason"], "revoked");
}

/// Opens a topic stream at `url`; `Ok` with the reader, or `Err` with the refusal's status,
/// code and `Retry-After`.
async fn try_open(url: &str, path: &str) -> Result<SseReader, (u16, String, Option<u64>)> {
    let r = open(url, path, None).await;
    if r.status() == 200 {
        return Ok(SseReader::new(r));
    }
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let (status, code) = problem(r).await;
    Err((status, code, retry))
}

/// Opens `path` on `url` until it succeeds (a slot freed), within `limit`; how long it took.
async fn open_when_freed(url: &str, path: &str, limit: Duration) -> (SseReader, Duration) {
    let start = Instant::now();
    loop {
        match try_open(url, path).await {
            Ok(r) => return (r, start.elapsed()),
            Err(e) => {
                assert_eq!((e.0, e.1.as_str()), (429, "too-many-streams"));
                assert!(start.elapsed() < limit, "no slot freed within {limit:?}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CAPS: &str = "max_streams_per_principal = 2\nmax_streams_per_tenant = 3\n";

#[tokio::test]
async fn stream_caps_hold_across_instances_and_a_closed_stream_frees_its_slot() {
    // Heartbeats every second: a slot's lease is 3 s, renewed every second.
    let extra = format!("{CAPS}heartbeat_interval = \"1s\"");
    let Some(c) = Cluster::new("realtime_caps_cluster", false, &extra).await else {
        return;
    };
    let (p1, p2) = (c.start(), c.start());
    let a = p1.tenant_api("rt-caps").await;
    let path = async |principal: &str| {
        let body = json!({"principal": principal, "topics": ["t"]});
        format!("/v1/topics/t/events?token={}", a.mint(body).await.0)
    };
    let (u1, u2, u3) = (path("u1").await, path("u2").await, path("u3").await);
    let s1 = try_open(&p1.url, &u1).await.expect("u1's first");
    let _s2 = try_open(&p2.url, &u1)
        .await
        .expect("u1's second, on the other instance");
    let (status, code, retry) = try_open(&p1.url, &u1)
        .await
        .err()
        .expect("u1 is at its cap");
    assert_eq!((status, code.as_str()), (429, "too-many-streams"));
    assert!(
        retry.is_some_and(|s| (1..=3).contains(&s)),
        "Retry-After {retry:?}"
    );
    let _s3 = try_open(&p2.url, &u2)
        .await
        .expect("u2: the tenant's third");
    let (status, code, _) = try_open(&p1.url, &u3)
        .await
        .err()
        .expect("the tenant is at its cap");
    assert_eq!((status, code.as_str()), (429, "too-many-streams"));
    // Past two leases the renewed slots still count.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let refused = try_open(&p2.url, &u3)
        .await
        .err()
        .expect("still at the tenant cap");
    assert_eq!(refused.0, 429);
    // Another tenant is not counted with this one.
    let b = p2.tenant_api("rt-caps-b").await;
    let body = json!({"principal": "u1", "topics": ["t"]});
    let other = format!("/v1/topics/t/events?token={}", b.mint(body).await.0);
    let _o = try_open(&p1.url, &other).await.expect("another tenant");
    // The client of u1's first stream leaves: its slot frees (at the next heartbeat write),
    // and u3 opens on the other instance.
    drop(s1);
    open_when_freed(&p2.url, &u3, Duration::from_secs(15)).await;
}

#[tokio::test]
async fn sigkill_of_an_instance_frees_its_slots_within_the_lease() {
    // Heartbeats every 2 s: the documented bound, 3 heartbeats, is 6 s.
    let extra = format!("{CAPS}heartbeat_interval = \"2s\"");
    let Some(c) = Cluster::new("realtime_caps_sigkill", false, &extra).await else {
        return;
    };
    let (mut p1, p2) = (c.start(), c.start());
    let a = p1.tenant_api("rt-kill").await;
    let body = json!({"principal": "u1", "topics": ["t"]});
    let path = format!("/v1/topics/t/events?token={}", a.mint(body).await.0);
    let _r1 = try_open(&p1.url, &path).await.expect("first");
    let _r2 = try_open(&p1.url, &path).await.expect("second");
    assert_eq!(try_open(&p2.url, &path).await.err().unwrap().0, 429);
    p1.child.kill().unwrap();
    p1.child.wait().unwrap();
    let (_r3, took) = open_when_freed(&p2.url, &path, Duration::from_secs(30)).await;
    // The lease (6 s) from the last renewal, plus slack for a loaded machine; never at once
    // through some other path: a fresh slot needed the dead one's lease to end.
    assert!(took < Duration::from_secs(6 + 6), "freed after {took:?}");
    assert!(
        took > Duration::from_millis(500),
        "freed at once ({took:?}): not by its lease?"
    );
}
