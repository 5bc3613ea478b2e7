//! Conformance suite of the realtime stores ([`conformance!`](crate::conformance)`(realtime, ..)`):
//! topic ids, bounded history and gaps, isolation, revocations.

use palisade_core::{Clock, ManualClock, TenantId};
use palisade_realtime::{Claims, HistoryBounds, RealtimeStore, Revocation, TopicName};
use std::sync::Arc;
use std::time::Duration;

/// The store under test.
pub type Store = Arc<dyn RealtimeStore>;

fn topic(name: &str) -> TopicName {
    TopicName::parse(name).unwrap()
}

fn bounds(max_events: u64) -> HistoryBounds {
    HistoryBounds {
        max_events,
        max_age: Duration::from_secs(3_600),
    }
}

fn seqs(r: &palisade_realtime::TopicRead) -> Vec<u64> {
    r.events.iter().map(|e| e.seq).collect()
}

/// Ids are 1, 2, 3 per topic; a read after an id answers the later events and the latest id.
pub async fn publish_and_read_back(s: &Store, clock: &Arc<ManualClock>) {
    let (t, tp) = (TenantId::generate(), topic("orders"));
    let empty = s.topic_read(&t, &tp, 0, 10, bounds(10)).await.unwrap();
    assert_eq!(
        (empty.events.len(), empty.last_seq, empty.gap),
        (0, 0, false)
    );
    for i in 1..=3u64 {
        let e = s
            .topic_publish(&t, &tp, &format!("{{\"n\":{i}}}"), bounds(10))
            .await
            .unwrap();
        assert_eq!(e.seq, i);
        assert_eq!(e.at_ms, clock.now_ms());
        assert_eq!(e.data, format!("{{\"n\":{i}}}"));
    }
    let r = s.topic_read(&t, &tp, 1, 10, bounds(10)).await.unwrap();
    assert_eq!((seqs(&r), r.last_seq, r.gap), (vec![2, 3], 3, false));
    assert_eq!(r.events[0].data, "{\"n\":2}");
    let r = s.topic_read(&t, &tp, 0, 2, bounds(10)).await.unwrap();
    assert_eq!(seqs(&r), vec![1, 2], "limit");
    let r = s.topic_read(&t, &tp, 3, 10, bounds(10)).await.unwrap();
    assert_eq!((seqs(&r), r.gap), (vec![], false), "up to date");
}

/// Concurrent publishes to one topic get distinct, consecutive ids.
pub async fn concurrent_publishes_get_consecutive_ids(s: &Store, _clock: &Arc<ManualClock>) {
    let (t, tp) = (TenantId::generate(), topic("race"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (s, t, tp) = (s.clone(), t.clone(), tp.clone());
            tokio::spawn(async move { s.topic_publish(&t, &tp, "{}", bounds(100)).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().seq);
    }
    ids.sort();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
}

/// The history keeps the newest `max_events`; a read from before them reports a gap.
pub async fn history_bounded_by_count_reports_gap(s: &Store, _clock: &Arc<ManualClock>) {
    let (t, tp) = (TenantId::generate(), topic("count"));
    for _ in 0..5 {
        s.topic_publish(&t, &tp, "{}", bounds(3)).await.unwrap();
    }
    let r = s.topic_read(&t, &tp, 0, 10, bounds(3)).await.unwrap();
    assert_eq!((seqs(&r), r.gap), (vec![3, 4, 5], true));
    let r = s.topic_read(&t, &tp, 2, 10, bounds(3)).await.unwrap();
    assert_eq!(
        (seqs(&r), r.gap),
        (vec![3, 4, 5], false),
        "2 is the last seen"
    );
}

/// Events older than `max_age` are no longer served (a gap) and are pruned by a publish.
pub async fn history_bounded_by_age(s: &Store, clock: &Arc<ManualClock>) {
    let (t, tp) = (TenantId::generate(), topic("age"));
    let b = HistoryBounds {
        max_events: 100,
        max_age: Duration::from_secs(60),
    };
    s.topic_publish(&t, &tp, "{}", b).await.unwrap();
    clock.advance(Duration::from_secs(61));
    let r = s.topic_read(&t, &tp, 0, 10, b).await.unwrap();
    assert_eq!((seqs(&r), r.last_seq, r.gap), (vec![], 1, true));
    s.topic_publish(&t, &tp, "{}", b).await.unwrap();
    let r = s.topic_read(&t, &tp, 0, 10, b).await.unwrap();
    assert_eq!((seqs(&r), r.gap), (vec![2], true));
}

/// Another tenant's topic of the same name, and another topic, are separate.
pub async fn tenants_and_topics_are_isolated(s: &Store, _clock: &Arc<ManualClock>) {
    let (a, b) = (TenantId::generate(), TenantId::generate());
    s.topic_publish(&a, &topic("x"), "{\"a\":1}", bounds(10))
        .await
        .unwrap();
    let rb = s
        .topic_read(&b, &topic("x"), 0, 10, bounds(10))
        .await
        .unwrap();
    assert_eq!((rb.events.len(), rb.last_seq), (0, 0));
    let ry = s
        .topic_read(&a, &topic("y"), 0, 10, bounds(10))
        .await
        .unwrap();
    assert_eq!((ry.events.len(), ry.last_seq), (0, 0));
    let e = s
        .topic_publish(&b, &topic("x"), "{}", bounds(10))
        .await
        .unwrap();
    assert_eq!(e.seq, 1, "b's ids start at 1");
}

/// Claims of a token for the revocation checks.
fn claims(tenant: &TenantId, token_id: &str, principal: &str, iat_ms: i64) -> Claims {
    Claims {
        token_id: token_id.into(),
        tenant: tenant.clone(),
        principal: principal.into(),
        key_id: Some("key_1".into()),
        topics: vec![],
        jobs: vec![],
        iat_ms,
        exp_ms: iat_ms + 60_000,
    }
}

/// A token revoked by id, by its minting key, or by principal (tokens minted until then) is
/// revoked; others are not; revocations are pruned after their time.
pub async fn revocations_by_token_key_and_principal(s: &Store, clock: &Arc<ManualClock>) {
    let (t, other) = (TenantId::generate(), TenantId::generate());
    let now = clock.now_ms();
    let check = async |tenant: &TenantId, id: &str, principal: &str, iat: i64| {
        s.revocation_check(&claims(tenant, id, principal, iat))
            .await
            .unwrap()
    };
    let rev = Revocation::Token {
        tenant: t.clone(),
        token_id: "tok_a".into(),
    };
    s.revocation_add(&rev, now + 10_000).await.unwrap();
    assert!(check(&t, "tok_a", "u1", now).await);
    assert!(!check(&t, "tok_b", "u1", now).await);
    assert!(!check(&other, "tok_a", "u1", now).await);
    let rev = Revocation::Principal {
        tenant: t.clone(),
        principal: "u2".into(),
        at_ms: now,
    };
    s.revocation_add(&rev, now + 20_000).await.unwrap();
    assert!(check(&t, "tok_c", "u2", now - 1).await);
    assert!(check(&t, "tok_c", "u2", now).await);
    assert!(!check(&t, "tok_d", "u2", now + 1).await, "minted later");
    assert!(!check(&other, "tok_c", "u2", now).await);
    // By key: every token minted by key_1 (the claims' key), whatever its id or principal.
    let rev = Revocation::Key {
        tenant: t.clone(),
        key_id: "key_1".into(),
    };
    let mut unkeyed = claims(&t, "tok_e", "u3", now);
    unkeyed.key_id = None;
    assert!(!s.revocation_check(&unkeyed).await.unwrap());
    assert!(!check(&t, "tok_e", "u3", now).await);
    s.revocation_add(&rev, now + 20_000).await.unwrap();
    assert!(check(&t, "tok_e", "u3", now).await);
    assert!(
        !s.revocation_check(&unkeyed).await.unwrap(),
        "no key, no match"
    );
    assert!(!check(&other, "tok_e", "u3", now).await);
    clock.advance(Duration::from_secs(10));
    assert_eq!(s.revocation_prune().await.unwrap(), 1);
    // (Unkeyed claims: key_1's revocation is still kept.)
    let mut a = claims(&t, "tok_a", "u1", now);
    a.key_id = None;
    assert!(
        !s.revocation_check(&a).await.unwrap(),
        "tok_a's revocation pruned"
    );
    let mut c = claims(&t, "tok_c", "u2", now);
    c.key_id = None;
    assert!(
        s.revocation_check(&c).await.unwrap(),
        "u2's revocation kept"
    );
}

/// Deleting a topic drops its history; its ids go on from the latest; an unknown topic is
/// reported as such; another tenant's topic of that name is untouched.
pub async fn topic_delete_drops_history_keeps_ids(s: &Store, _clock: &Arc<ManualClock>) {
    let (t, other, tp) = (TenantId::generate(), TenantId::generate(), topic("del"));
    assert!(!s.topic_delete(&t, &tp).await.unwrap(), "never published");
    for _ in 0..2 {
        s.topic_publish(&t, &tp, "{}", bounds(10)).await.unwrap();
    }
    s.topic_publish(&other, &tp, "{}", bounds(10))
        .await
        .unwrap();
    assert!(s.topic_delete(&t, &tp).await.unwrap());
    let r = s.topic_read(&t, &tp, 0, 10, bounds(10)).await.unwrap();
    assert_eq!((seqs(&r), r.last_seq, r.gap), (vec![], 2, true));
    let e = s.topic_publish(&t, &tp, "{}", bounds(10)).await.unwrap();
    assert_eq!(e.seq, 3);
    let r = s.topic_read(&other, &tp, 0, 10, bounds(10)).await.unwrap();
    assert_eq!(seqs(&r), vec![1], "the other tenant's topic is untouched");
}
