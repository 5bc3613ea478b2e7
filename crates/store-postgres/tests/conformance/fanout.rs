//! Realtime fan-out over LISTEN/NOTIFY: two "instances" (two hubs, two listeners) on one schema.

use palisade_core::TenantId;
use palisade_realtime::{Fanout, HistoryBounds, Hub, RealtimeStore, Revocation, Signal, TopicName};
use palisade_store_postgres::PgFanout;
use std::time::Duration;

fn bounds() -> HistoryBounds {
    HistoryBounds {
        max_events: 100,
        max_age: Duration::from_secs(3_600),
    }
}

/// An event sent by one instance reaches the subscribers of both, whole or (over NOTIFY's
/// limit) by reference through the history table; a revocation reaches both too.
#[tokio::test]
async fn events_and_revocations_reach_every_instance() {
    let Some(store) = crate::common::store("fanout").await else {
        return;
    };
    let (hub_a, hub_b) = (Hub::new(16), Hub::new(16));
    let a = PgFanout::start(&store, hub_a.clone(), bounds())
        .await
        .unwrap();
    let _b = PgFanout::start(&store, hub_b.clone(), bounds())
        .await
        .unwrap();
    let (t, topic) = (TenantId::generate(), TopicName::parse("orders").unwrap());
    let mut sub_a = hub_a.subscribe(&t, &topic);
    let mut sub_b = hub_b.subscribe(&t, &topic);
    let mut revs_b = hub_b.revocations();
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(20_000));
    for data in ["{\"n\":1}".to_owned(), big.clone()] {
        let event = store
            .topic_publish(&t, &topic, &data, bounds())
            .await
            .unwrap();
        let signal = Signal::Event {
            tenant: t.clone(),
            topic: topic.clone(),
            event: event.clone(),
            sent_at_ms: 0,
        };
        a.fanout_send(signal).await.unwrap();
        for sub in [&mut sub_a, &mut sub_b] {
            let got = tokio::time::timeout(Duration::from_secs(5), sub.recv())
                .await
                .expect("delivered within 5 s")
                .unwrap();
            assert_eq!(*got, event);
        }
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
    let got = tokio::time::timeout(Duration::from_secs(5), revs_b.recv())
        .await
        .expect("revocation within 5 s")
        .unwrap();
    assert_eq!(*got, rev);
}
