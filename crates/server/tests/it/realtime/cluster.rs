//! Realtime across instances over PostgreSQL and Redis: fan-out by Redis pub/sub.

use super::{data_ids, open, SseReader};
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
             heartbeat_interval = \"200ms\"\n{extra}\n\
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
    let Some(c) = Cluster::new("realtime_redis_fanout", true, "").await else {
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
