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
    let mem = Arc::new(MemoryRealtimeStore::default());
    let store: Arc<dyn RealtimeStore> = mem.clone();
    let fanout = Arc::new(LocalFanout::new(hub.clone()));
    Realtime::new(store, hub, fanout, mem, settings)
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

#[tokio::test]
async fn a_stream_with_no_event_for_the_idle_timeout_closes_as_idle() {
    let rt = runtime(RealtimeSettings {
        idle_timeout: Duration::from_secs(1),
        ..Default::default()
    });
    let t = TenantId::generate();
    let c = claims(&rt, &t, Duration::from_secs(60)).await;
    let mut s = Box::pin(rt.topic_stream(c, topic(), None).await.unwrap());
    // Events keep it open past the timeout: each delivery restarts the clock.
    let opened = std::time::Instant::now();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        rt.topic_publish(&t, &topic(), "{}").await.unwrap();
        assert!(next(&mut s).await.id.is_some(), "an event, not a close");
    }
    assert!(opened.elapsed() > Duration::from_secs(1));
    // Then silence: it closes as idle, once, and frees its slot.
    let close = next(&mut s).await;
    assert_eq!(reason(&close), "idle");
    assert!(
        close.data.contains("\"reconnect\":\"retry\""),
        "{}",
        close.data
    );
    assert!(s.next().await.is_none());
    assert_eq!(rt.slots.held(), 0);
}

#[tokio::test]
async fn open_streams_are_capped_per_principal_and_per_tenant_and_a_close_frees_a_slot() {
    let rt = runtime(RealtimeSettings {
        max_streams_per_principal: 2,
        max_streams_per_tenant: 3,
        ..Default::default()
    });
    let t = TenantId::generate();
    let u1 = claims(&rt, &t, Duration::from_secs(60)).await;
    let open = |c: Claims| rt.topic_stream(c, topic(), None);
    let a = open(u1.clone()).await.unwrap();
    let _b = open(u1.clone()).await.unwrap();
    let Err(e) = open(u1.clone()).await else {
        panic!("a third stream of the principal was opened")
    };
    assert_eq!(e.code(), "too-many-streams");
    assert!(matches!(
        e,
        palisade_realtime::RealtimeError::TooManyStreams {
            scope: palisade_realtime::SlotScope::Principal,
            retry_after_ms: 1..,
        }
    ));
    // Another principal of the tenant gets the tenant's third slot, then the tenant is full.
    let mut u2 = u1.clone();
    u2.principal = "u2".into();
    let _c = open(u2.clone()).await.unwrap();
    let Err(e) = open(u2.clone()).await else {
        panic!("a fourth stream of the tenant was opened")
    };
    assert!(matches!(
        e,
        palisade_realtime::RealtimeError::TooManyStreams {
            scope: palisade_realtime::SlotScope::Tenant,
            ..
        }
    ));
    // Another tenant is not counted with this one.
    let other = claims(&rt, &TenantId::generate(), Duration::from_secs(60)).await;
    let _o = open(other).await.unwrap();
    // Dropping a stream (the client left) frees its slot.
    drop(a);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match open(u1.clone()).await {
            Ok(_) => break,
            Err(e) => assert!(std::time::Instant::now() < deadline, "never freed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
