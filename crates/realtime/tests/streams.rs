//! The life of streams over the memory store and the in-process fan-out: order, lost fan-out
//! messages filled from the history, slow consumers, revocation, expiry, shutdown.

use futures::{Stream, StreamExt};
use palisade_core::TenantId;
use palisade_realtime::{
    Claims, Frame, Hub, LocalFanout, MemoryRealtimeStore, MintRequest, Realtime, RealtimeSettings,
    RealtimeStore, Revocation, TopicName,
};
use std::sync::Arc;
use std::time::Duration;

fn runtime(settings: RealtimeSettings) -> Realtime {
    let hub = Hub::new(settings.stream_buffer);
    let store: Arc<dyn RealtimeStore> = Arc::new(MemoryRealtimeStore::default());
    let fanout = Arc::new(LocalFanout::new(hub.clone()));
    Realtime::new(store, hub, fanout, settings)
}

fn topic() -> TopicName {
    TopicName::parse("t").unwrap()
}

async fn claims(rt: &Realtime, tenant: &TenantId, ttl: Duration) -> Claims {
    let req = MintRequest {
        principal: "u1".into(),
        topics: vec![topic()],
        jobs: vec![],
        ttl: Some(ttl),
        key_id: Some("key_1".into()),
    };
    let minted = rt.token_mint(tenant, req).unwrap();
    rt.token_verify(&minted.token).await.unwrap()
}

async fn next(s: &mut (impl Stream<Item = Frame> + Unpin)) -> Frame {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("a frame within 5 s")
        .expect("the stream goes on")
}

fn reason(f: &Frame) -> String {
    assert_eq!(f.event, Some("close"), "{f:?}");
    let v: serde_json::Value = serde_json::from_str(&f.data).unwrap();
    v["reason"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_lost_fanout_message_is_filled_from_the_history_in_order() {
    let rt = runtime(RealtimeSettings::default());
    let t = TenantId::generate();
    let c = claims(&rt, &t, Duration::from_secs(60)).await;
    let mut s = Box::pin(rt.topic_stream(c, topic(), None).await.unwrap());
    rt.topic_publish(&t, &topic(), "{\"n\":1}").await.unwrap();
    // Event 2 is stored but its fan-out message is lost.
    let h = rt.settings.history();
    rt.store
        .topic_publish(&t, &topic(), "{\"n\":2}", h)
        .await
        .unwrap();
    rt.topic_publish(&t, &topic(), "{\"n\":3}").await.unwrap();
    let ids: Vec<_> = [next(&mut s).await, next(&mut s).await, next(&mut s).await]
        .into_iter()
        .map(|f| f.id.unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
}

#[tokio::test]
async fn a_slow_consumer_is_dropped_with_a_reason() {
    let rt = runtime(RealtimeSettings {
        stream_buffer: 2,
        ..Default::default()
    });
    let t = TenantId::generate();
    let c = claims(&rt, &t, Duration::from_secs(60)).await;
    let mut s = Box::pin(rt.topic_stream(c, topic(), None).await.unwrap());
    for _ in 0..5 {
        rt.topic_publish(&t, &topic(), "{}").await.unwrap();
    }
    assert_eq!(reason(&next(&mut s).await), "slow-consumer");
    assert!(s.next().await.is_none(), "ended");
    assert_eq!(rt.hub.topics_open(), 0, "subscription released");
}

#[tokio::test]
async fn revocation_expiry_and_shutdown_end_streams() {
    let rt = runtime(RealtimeSettings::default());
    let t = TenantId::generate();
    // Revocation of the principal closes its stream, not another tenant's.
    let c = claims(&rt, &t, Duration::from_secs(60)).await;
    let other = claims(&rt, &TenantId::generate(), Duration::from_secs(60)).await;
    let mut s = Box::pin(rt.topic_stream(c, topic(), None).await.unwrap());
    let mut o = Box::pin(rt.topic_stream(other, topic(), None).await.unwrap());
    let rev = Revocation::Principal {
        tenant: t.clone(),
        principal: "u1".into(),
        at_ms: rt.store.realtime_now_ms(),
    };
    rt.revoke(rev).await.unwrap();
    assert_eq!(reason(&next(&mut s).await), "revoked");
    assert!(s.next().await.is_none());
    // Expiry. (A token minted in the revocation's millisecond is revoked too: mint later.)
    tokio::time::sleep(Duration::from_millis(5)).await;
    let c = claims(&rt, &t, Duration::from_secs(1)).await;
    let mut e = Box::pin(rt.topic_stream(c, topic(), None).await.unwrap());
    assert_eq!(reason(&next(&mut e).await), "token-expired");
    // Shutdown ends the rest.
    rt.shutdown();
    assert_eq!(reason(&next(&mut o).await), "shutdown");
    assert!(o.next().await.is_none());
    drop((s, e, o));
    assert_eq!(rt.hub.topics_open(), 0);
}

#[tokio::test]
async fn a_token_for_another_topic_is_not_found_and_oversized_events_are_refused() {
    let rt = runtime(RealtimeSettings {
        max_event_bytes: 10,
        ..Default::default()
    });
    let t = TenantId::generate();
    let c = claims(&rt, &t, Duration::from_secs(60)).await;
    let other = TopicName::parse("other").unwrap();
    assert!(matches!(
        rt.topic_stream(c, other, None).await.err(),
        Some(palisade_realtime::RealtimeError::NotFound)
    ));
    let big = rt
        .topic_publish(&t, &topic(), "{\"x\":\"0123456789\"}")
        .await;
    assert!(matches!(
        big,
        Err(palisade_realtime::RealtimeError::TooLarge { limit: 10 })
    ));
}

#[tokio::test]
async fn a_resync_recovers_signals_the_fanout_lost() {
    let rt = runtime(RealtimeSettings::default());
    let t = TenantId::generate();
    let c = claims(&rt, &t, Duration::from_secs(60)).await;
    let c2 = claims(&rt, &t, Duration::from_secs(60)).await;
    let token_id = c.token_id.clone();
    let mut s = Box::pin(rt.topic_stream(c, topic(), None).await.unwrap());
    let mut s2 = Box::pin(rt.topic_stream(c2, topic(), None).await.unwrap());
    // An event and a revocation stored, but their fan-out messages lost.
    let h = rt.settings.history();
    rt.store
        .topic_publish(&t, &topic(), "{\"n\":1}", h)
        .await
        .unwrap();
    let rev = Revocation::Token {
        tenant: t.clone(),
        token_id,
    };
    rt.store.revocation_add(&rev, i64::MAX).await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(200), s2.next()).await;
    assert!(quiet.is_err(), "nothing arrives before the resync");
    rt.hub.resync();
    assert_eq!(reason(&next(&mut s).await), "revoked");
    assert_eq!(next(&mut s2).await.id.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_token_too_long_for_a_request_target_is_refused_at_mint() {
    let rt = runtime(RealtimeSettings::default());
    let long = |i: usize| TopicName::parse(&format!("{i:02}{}", "x".repeat(198))).unwrap();
    let req = |n: usize| MintRequest {
        principal: "u1".into(),
        topics: (0..n).map(long).collect(),
        jobs: vec![],
        ttl: None,
        key_id: Some("key_1".into()),
    };
    let t = TenantId::generate();
    let ok = rt.token_mint(&t, req(10)).unwrap();
    assert!(ok.token.len() <= palisade_realtime::MAX_TOKEN_BYTES);
    assert!(rt.token_verify(&ok.token).await.is_ok());
    let err = rt.token_mint(&t, req(32)).unwrap_err();
    assert!(err.is_invalid(), "{err:?}");
}
