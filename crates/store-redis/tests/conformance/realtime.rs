//! Realtime fan-out over Redis pub/sub: signals cross processes sharing a prefix, in order, and
//! the subscriber reconnects (asking every stream to resync) after Redis comes back.

use palisade_core::TenantId;
use palisade_realtime::{Event, Fanout, Hub, Revocation, Signal, TopicName};
use palisade_store_redis::{RedisFanout, RedisOptions, RedisStore};
use palisade_testkit::own_redis::OwnRedis;
use std::time::Duration;

async fn connect(url: &str, prefix: &str) -> RedisStore {
    let mut opts = RedisOptions::new(url);
    opts.prefix = prefix.to_owned();
    RedisStore::connect(&opts).await.unwrap()
}

fn event(tenant: &TenantId, topic: &TopicName, seq: u64) -> Signal {
    Signal::Event {
        tenant: tenant.clone(),
        topic: topic.clone(),
        event: Event {
            seq,
            at_ms: 0,
            data: format!("{{\"n\":{seq}}}"),
        },
        sent_at_ms: 0,
    }
}

#[tokio::test]
async fn signals_reach_every_hub_of_the_prefix_in_send_order_and_no_other() {
    let Some(url) = palisade_testkit::backends::redis_or_skip("realtime_fanout").await else {
        return;
    };
    let prefix = palisade_testkit::backends::unique("t");
    let (hub_a, hub_b, hub_other) = (Hub::new(64), Hub::new(64), Hub::new(64));
    let a = RedisFanout::start(&connect(&url, &prefix).await, hub_a.clone())
        .await
        .unwrap();
    let _b = RedisFanout::start(&connect(&url, &prefix).await, hub_b.clone())
        .await
        .unwrap();
    let other = format!("{prefix}x");
    let _o = RedisFanout::start(&connect(&url, &other).await, hub_other.clone())
        .await
        .unwrap();
    assert_eq!(a.channel(), format!("{prefix}:realtime"));
    let t = TenantId::generate();
    let topic = TopicName::parse("orders").unwrap();
    let (mut on_a, mut on_b) = (hub_a.subscribe(&t, &topic), hub_b.subscribe(&t, &topic));
    let mut on_other = hub_other.subscribe(&t, &topic);
    let mut revs_b = hub_b.revocations();
    for seq in 1..=50 {
        a.fanout_send(event(&t, &topic, seq)).await.unwrap();
    }
    for seq in 1..=50 {
        let within = Duration::from_secs(10);
        let got = tokio::time::timeout(within, on_b.recv()).await.unwrap();
        assert_eq!(got.unwrap().seq, seq, "the other process, in order");
        let got = tokio::time::timeout(within, on_a.recv()).await.unwrap();
        assert_eq!(got.unwrap().seq, seq, "the sending process too");
    }
    let rev = Revocation::Token {
        tenant: t.clone(),
        token_id: "stok_x".into(),
    };
    a.fanout_send(Signal::Revoked {
        revocation: rev.clone(),
    })
    .await
    .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), revs_b.recv()).await;
    assert_eq!(*got.unwrap().unwrap(), rev);
    // Another prefix (another deployment) saw nothing.
    let nothing = tokio::time::timeout(Duration::from_millis(200), on_other.recv()).await;
    assert!(nothing.is_err(), "another prefix got {nothing:?}");
}

#[tokio::test]
async fn the_subscriber_reconnects_after_redis_returns_and_asks_streams_to_resync() {
    let port = OwnRedis::free_port();
    let Some(mut redis) = OwnRedis::start_or_skip("realtime_fanout_reconnect", port) else {
        return;
    };
    redis.wait_ready().await;
    let store = connect(&redis.url(), "rt").await;
    let hub = Hub::new(64);
    let fanout = RedisFanout::start(&store, hub.clone()).await.unwrap();
    let mut resyncs = hub.resyncs();
    let t = TenantId::generate();
    let topic = TopicName::parse("t").unwrap();
    let mut sub = hub.subscribe(&t, &topic);

    redis.stop();
    redis = OwnRedis::start_or_skip("realtime_fanout_reconnect", port).expect("restart");
    redis.wait_ready().await;
    tokio::time::timeout(Duration::from_secs(15), resyncs.changed())
        .await
        .expect("a resync after the subscriber reconnected")
        .unwrap();
    // Signals flow again (the publishing connection may need a moment to come back too).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut seq = 0;
    let got = loop {
        seq += 1;
        let _ = fanout.fanout_send(event(&t, &topic, seq)).await;
        if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(200), sub.recv()).await {
            break e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no signal after the reconnect"
        );
    };
    assert!(got.seq >= 1);
    drop(redis);
}
