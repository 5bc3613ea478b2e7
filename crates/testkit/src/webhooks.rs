//! Conformance suite of the webhook inbox stores: one public check per guarantee.
//!
//! Every check works in fresh tenants, so checks may share a store. Times are passed in
//! (`T0` onwards); the delivery jobs are read back through the jobs store the inbox writes to.

use futures::future::join_all;
use palisade_core::{PageRequest, TenantId};
use palisade_jobs::{JobState, JobStore, QueueName};
use palisade_webhooks::params::EventList;
use palisade_webhooks::{
    Claim, Event, EventClaim, EventId, EventIdRule, EventSettle, EventStatus, InboxStore, Outcome,
    Provider, Sealed, Source, SourceName, SourceSecret, Target, WebhookError,
};
use std::sync::Arc;

/// What a check gets: the inbox and the jobs store it enqueues delivery jobs into (the same
/// store on the SQL backends).
#[derive(Clone, Debug)]
pub struct Subject {
    /// The inbox.
    pub inbox: Arc<dyn InboxStore>,
    /// The jobs the inbox enqueues.
    pub jobs: Arc<dyn JobStore>,
}

/// The checks' start time (ms).
pub const T0: i64 = 1_767_225_600_000;

/// Runs the webhooks suite: one `#[tokio::test]` per check, each on a fresh subject from
/// `$subject` (an async callable given the check's name, answering `Option<Subject>`; `None`
/// skips).
#[macro_export]
macro_rules! webhooks_conformance {
    ($subject:expr) => {
        $crate::__conformance_tests!(
            webhooks,
            borrowed,
            $subject,
            [
                source_create_get_list_delete,
                source_update_compares_and_sets,
                duplicate_insert_answers_the_first,
                concurrent_inserts_store_one_event_and_one_job,
                pushed_events_wait_marked_for_their_dispatch,
                dispatch_makes_one_job_per_event,
                insert_many_answers_in_order,
                tenant_isolation,
                claim_respects_concurrency,
                settle_hands_the_turn_on,
                resume_enqueues_stranded_events,
                ordered_source_blocks_then_hands_on,
                settle_needs_the_claim,
                gone_disables_the_target,
                retry_waits_for_its_time,
                rate_spaces_claims,
                replay_makes_pending_and_enqueues,
                ack_delivers_a_pending_event,
                list_filters_and_paginates,
                stats_count_by_status,
                prune_keeps_pending_events,
            ]
        );
    };
}

fn tenant() -> TenantId {
    TenantId::parse(&format!("wh_{:08x}", rand::random::<u32>())).unwrap()
}

fn sealed() -> Sealed {
    Sealed {
        key_id: "k1".into(),
        nonce: "bm9uY2U=".into(),
        data: "ZGF0YQ==".into(),
    }
}

/// A source of `tenant` named `name` with one (sealed, dummy) secret and `target`.
pub fn source(tenant: &TenantId, name: &str, target: Option<Target>) -> Source {
    Source {
        tenant: tenant.clone(),
        name: SourceName::parse(name).unwrap(),
        provider: Provider::StandardWebhooks,
        secrets: vec![SourceSecret {
            id: "sec_1".into(),
            sealed: sealed(),
            created_at_ms: T0,
            expires_at_ms: None,
        }],
        tolerance_secs: 300,
        max_body_bytes: 1024,
        event_id: EventIdRule::Provider,
        target,
        delivery_secret: sealed().into(),
        created_at_ms: T0,
        updated_at_ms: T0,
        version: 1,
    }
}

/// A push target with `concurrency`, ordered or not.
pub fn target(concurrency: u32, ordered: bool) -> Target {
    Target {
        url: "https://app.example/hooks".into(),
        ordered,
        concurrency,
        rate_per_sec: None,
        disabled: false,
    }
}

fn event(s: &Source, key: &str, at: i64) -> Event {
    Event::new(
        s,
        format!("id:{key}"),
        Some("application/json".into()),
        b"{\"a\":1}".to_vec(),
        at,
    )
}

/// Live delivery jobs of the tenant (waiting or running).
async fn live_jobs(s: &Subject, tenant: &TenantId) -> u64 {
    let q = QueueName::parse(palisade_webhooks::delivery::QUEUE).unwrap();
    let st = s.jobs.job_stats(tenant, &q).await.unwrap();
    st.counts
        .iter()
        .filter(|(state, _)| !state.is_final() && *state != JobState::Cancelled)
        .map(|(_, n)| n)
        .sum()
}

async fn made(s: &Subject, src: Source) -> Source {
    s.inbox.source_create(&src).await.unwrap()
}

/// Stores a new event of `src` and dispatches, as the server's ingress and dispatcher do.
async fn insert(s: &Subject, src: &Source, key: &str, at: i64) -> Event {
    let i = s
        .inbox
        .event_insert(event(src, key, at), src.pushes())
        .await
        .unwrap();
    assert!(!i.duplicate, "{key} is new");
    dispatch_all(s).await;
    i.event
}

/// Dispatches until no event is marked: how many were.
async fn dispatch_all(s: &Subject) -> u64 {
    let mut total = 0;
    loop {
        let n = s.inbox.event_dispatch(2).await.unwrap();
        total += n;
        if n < 2 {
            return total;
        }
    }
}

fn claim(id: &EventId, token: &str, now: i64) -> EventClaim {
    EventClaim {
        id: id.clone(),
        token: token.into(),
        now_ms: now,
        hold_ms: 30_000,
    }
}

async fn granted(s: &Subject, t: &TenantId, id: &EventId, token: &str, now: i64) -> Event {
    match s
        .inbox
        .event_claim(t, &claim(id, token, now))
        .await
        .unwrap()
    {
        Claim::Granted { event, .. } => *event,
        other => panic!("claim of {id} refused: {other:?}"),
    }
}

async fn settle(
    s: &Subject,
    t: &TenantId,
    id: &EventId,
    token: &str,
    now: i64,
    o: Outcome,
) -> Option<Event> {
    let req = EventSettle {
        id: id.clone(),
        token: token.into(),
        now_ms: now,
        outcome: o,
    };
    s.inbox.event_settle(t, &req).await.unwrap()
}

/// Create, get, list by name with a cursor, delete (with the source's events).
pub async fn source_create_get_list_delete(s: &Subject) {
    let t = tenant();
    for n in ["c", "a", "b"] {
        made(s, source(&t, n, None)).await;
    }
    let dup = s.inbox.source_create(&source(&t, "a", None)).await;
    assert!(matches!(dup, Err(WebhookError::SourceExists)), "{dup:?}");
    let a = SourceName::parse("a").unwrap();
    let got = s.inbox.source_get(&t, &a).await.unwrap().unwrap();
    assert_eq!(got, source(&t, "a", None));
    let p1 = s
        .inbox
        .source_list(&t, &PageRequest::first(2))
        .await
        .unwrap();
    let names: Vec<_> = p1.items.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["a", "b"]);
    let p2 = PageRequest {
        after: p1.next.clone(),
        limit: 2,
    };
    let p2 = s.inbox.source_list(&t, &p2).await.unwrap();
    assert_eq!(p2.items.len(), 1);
    assert_eq!(p2.next, None);
    let e = insert(s, &got, "k1", T0).await;
    s.inbox.source_delete(&t, &a).await.unwrap();
    assert!(s.inbox.source_get(&t, &a).await.unwrap().is_none());
    assert!(s.inbox.event_get(&t, &e.id).await.unwrap().is_none());
    let again = s.inbox.source_delete(&t, &a).await;
    assert!(matches!(again, Err(WebhookError::NotFound)));
}

/// An update writes only over the version it read.
pub async fn source_update_compares_and_sets(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", None)).await;
    let mut a = src.clone();
    a.tolerance_secs = 120;
    let a = s.inbox.source_update(&a).await.unwrap();
    assert_eq!(a.version, src.version + 1);
    let mut stale = src.clone();
    stale.tolerance_secs = 600;
    let r = s.inbox.source_update(&stale).await;
    assert!(matches!(r, Err(WebhookError::SourceChanged)), "{r:?}");
    let got = s.inbox.source_get(&t, &src.name).await.unwrap().unwrap();
    assert_eq!((got.tolerance_secs, got.version), (120, a.version));
    let ghost = source(&t, "ghost", None);
    assert!(matches!(
        s.inbox.source_update(&ghost).await,
        Err(WebhookError::NotFound)
    ));
}

/// A second insert of one key answers the first event as a duplicate and writes nothing.
pub async fn duplicate_insert_answers_the_first(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", Some(target(4, false)))).await;
    let first = insert(s, &src, "k", T0).await;
    let again = s
        .inbox
        .event_insert(event(&src, "k", T0 + 5), true)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.event.id, first.id);
    assert_eq!(dispatch_all(s).await, 0, "a duplicate is not marked again");
    assert_eq!(live_jobs(s, &t).await, 1);
    let other = insert(s, &src, "k2", T0 + 6).await;
    assert!(other.seq > first.seq, "arrival order");
    let page = s
        .inbox
        .event_list(
            &t,
            &EventList {
                page: PageRequest::first(10),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
}

/// Of 50 concurrent inserts of one key, one stores the event (with one job).
pub async fn concurrent_inserts_store_one_event_and_one_job(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", Some(target(4, false)))).await;
    let tries = (0..50).map(|i| {
        let (inbox, e) = (s.inbox.clone(), event(&src, "same", T0 + i));
        async move { inbox.event_insert(e, true).await.unwrap() }
    });
    let done = join_all(tries).await;
    let fresh: Vec<_> = done.iter().filter(|i| !i.duplicate).collect();
    assert_eq!(fresh.len(), 1);
    assert!(done.iter().all(|i| i.event.id == fresh[0].event.id));
    assert_eq!(dispatch_all(s).await, 1);
    assert_eq!(live_jobs(s, &t).await, 1);
}

/// A pushed event is stored marked for dispatch and has no job until the dispatch gives it
/// one (then it is no longer marked); a pulled event is never marked.
pub async fn pushed_events_wait_marked_for_their_dispatch(s: &Subject) {
    let t = tenant();
    let push = made(s, source(&t, "push", Some(target(4, false)))).await;
    let pull = made(s, source(&t, "pull", None)).await;
    s.inbox
        .event_insert(event(&pull, "a", T0), false)
        .await
        .unwrap();
    assert_eq!(s.inbox.event_dispatch(10).await.unwrap(), 0, "pulled");
    for key in ["a", "b", "c"] {
        let i = s
            .inbox
            .event_insert(event(&push, key, T0), true)
            .await
            .unwrap();
        assert!(!i.duplicate, "same key in another source is another event");
    }
    assert_eq!(live_jobs(s, &t).await, 0, "no job before the dispatch");
    assert_eq!(
        s.inbox.event_dispatch(2).await.unwrap(),
        2,
        "oldest first, 2"
    );
    assert_eq!(live_jobs(s, &t).await, 2);
    assert_eq!(s.inbox.event_dispatch(10).await.unwrap(), 1, "the last one");
    assert_eq!(s.inbox.event_dispatch(10).await.unwrap(), 0, "none left");
    assert_eq!(live_jobs(s, &t).await, 3);
}

/// The dispatch makes one job per event: an event whose job the resume sweep already made
/// (a dispatcher that was down for long) keeps that one job, and concurrent dispatches never
/// take one event twice.
pub async fn dispatch_makes_one_job_per_event(s: &Subject) {
    let t = tenant();
    let push = made(s, source(&t, "push", Some(target(4, false)))).await;
    s.inbox
        .event_insert(event(&push, "early", T0), true)
        .await
        .unwrap();
    let resume = palisade_webhooks::params::EventResume {
        now_ms: T0 + 120_000,
        grace_ms: 60_000,
        limit: 10,
    };
    assert_eq!(s.inbox.event_resume(&resume).await.unwrap(), 1);
    assert_eq!(dispatch_all(s).await, 1, "the mark goes");
    assert_eq!(
        live_jobs(s, &t).await,
        1,
        "the resumed job stays the only one"
    );
    for i in 0..40 {
        let e = event(&push, &format!("k{i}"), T0 + i);
        s.inbox.event_insert(e, true).await.unwrap();
    }
    let racers = (0..8).map(|_| {
        let inbox = s.inbox.clone();
        async move {
            let mut n = 0;
            loop {
                let got = inbox.event_dispatch(3).await.unwrap();
                n += got;
                if got == 0 {
                    return n;
                }
            }
        }
    });
    let taken: u64 = join_all(racers).await.into_iter().sum();
    assert_eq!(taken, 40, "each event dispatched once");
    assert_eq!(live_jobs(s, &t).await, 41);
}

/// A group insert answers each event in order: new ones (marked for dispatch, for a pushing
/// source) in arrival order, duplicates of a stored event or of an earlier one of the group.
pub async fn insert_many_answers_in_order(s: &Subject) {
    let t = tenant();
    let push = made(s, source(&t, "push", Some(target(4, false)))).await;
    let pull = made(s, source(&t, "pull", None)).await;
    let stored = insert(s, &push, "old", T0).await;
    let group = vec![
        (event(&push, "a", T0 + 1), true),
        (event(&push, "old", T0 + 2), true),
        (event(&pull, "a", T0 + 3), false),
        (event(&push, "a", T0 + 4), true),
        (event(&push, "b", T0 + 5), true),
    ];
    let out = s.inbox.event_insert_many(group).await.unwrap();
    dispatch_all(s).await;
    let dups: Vec<bool> = out.iter().map(|i| i.duplicate).collect();
    assert_eq!(dups, [false, true, false, true, false]);
    assert_eq!(out[1].event.id, stored.id);
    assert_eq!(
        out[3].event.id, out[0].event.id,
        "the group's first wins its key"
    );
    assert!(out[0].event.seq < out[2].event.seq && out[2].event.seq < out[4].event.seq);
    assert_eq!(
        live_jobs(s, &t).await,
        3,
        "old, a and b of the pushing source"
    );
}

/// Another tenant sees none of a tenant's sources or events; its keys are its own.
pub async fn tenant_isolation(s: &Subject) {
    let (a, b) = (tenant(), tenant());
    let sa = made(s, source(&a, "s", None)).await;
    let sb = made(s, source(&b, "s", None)).await;
    let ea = insert(s, &sa, "k", T0).await;
    insert(s, &sb, "k", T0).await;
    assert!(s.inbox.event_get(&b, &ea.id).await.unwrap().is_none());
    assert!(matches!(
        s.inbox.event_ack(&b, &ea.id, T0).await,
        Err(WebhookError::NotFound)
    ));
    assert_eq!(
        s.inbox
            .event_claim(&b, &claim(&ea.id, "x", T0))
            .await
            .unwrap(),
        Claim::Settled
    );
    assert!(s
        .inbox
        .event_replay(&b, std::slice::from_ref(&ea.id), T0)
        .await
        .unwrap()
        .is_empty());
    let list = s
        .inbox
        .event_list(
            &b,
            &EventList {
                page: PageRequest::first(10),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].tenant, b);
    assert_eq!(s.inbox.event_stats(&b, None).await.unwrap().pending, 1);
    let got = s.inbox.event_get(&a, &ea.id).await.unwrap().unwrap();
    assert_eq!(got.status, EventStatus::Pending);
}

/// A source's attempts in flight never exceed its concurrency.
pub async fn claim_respects_concurrency(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", Some(target(2, false)))).await;
    let ids: Vec<_> = [
        insert(s, &src, "1", T0).await,
        insert(s, &src, "2", T0).await,
        insert(s, &src, "3", T0).await,
    ]
    .into_iter()
    .map(|e| e.id)
    .collect();
    let now = T0 + 10;
    let tries = ids.iter().enumerate().map(|(i, id)| {
        let inbox = s.inbox.clone();
        let (t, c) = (t.clone(), claim(id, &format!("tok{i}"), now));
        async move { inbox.event_claim(&t, &c).await.unwrap() }
    });
    let out = join_all(tries).await;
    let granted = out
        .iter()
        .filter(|c| matches!(c, Claim::Granted { .. }))
        .count();
    assert_eq!(granted, 2, "{out:?}");
    assert!(out.iter().any(|c| matches!(c, Claim::Busy)));
    // a granted attempt's event cannot be claimed again while held
    let held = ids
        .iter()
        .zip(&out)
        .find(|(_, c)| matches!(c, Claim::Granted { .. }))
        .unwrap()
        .0;
    let again = s
        .inbox
        .event_claim(&t, &claim(held, "other", now + 1))
        .await
        .unwrap();
    assert_eq!(again, Claim::Wait(now + 30_000));
    // after the hold ends, the slot is free again
    let late = now + 30_001;
    let third = ids
        .iter()
        .zip(&out)
        .find(|(_, c)| matches!(c, Claim::Busy))
        .unwrap()
        .0;
    granted_one(s, &t, third, late).await;
}

async fn granted_one(s: &Subject, t: &TenantId, id: &EventId, now: i64) {
    granted(s, t, id, "late", now).await;
}

/// A parked event (the source's concurrency used) gets its job when an attempt settles.
pub async fn settle_hands_the_turn_on(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", Some(target(1, false)))).await;
    let e1 = insert(s, &src, "1", T0).await;
    let e2 = insert(s, &src, "2", T0).await;
    granted(s, &t, &e1.id, "a", T0).await;
    assert_eq!(
        s.inbox
            .event_claim(&t, &claim(&e2.id, "b", T0))
            .await
            .unwrap(),
        Claim::Busy
    );
    // both jobs ran: e1's is delivering, e2's ended parked
    drain_jobs(s, &t).await;
    assert_eq!(live_jobs(s, &t).await, 0);
    let retry = Outcome::Retry {
        at_ms: T0 + 60_000,
        error: "the target answered 500".into(),
        status: Some(500),
    };
    settle(s, &t, &e1.id, "a", T0 + 1, retry).await.unwrap();
    assert_eq!(live_jobs(s, &t).await, 1, "the parked event's job is back");
    granted(s, &t, &e2.id, "b", T0 + 2).await;
}

/// The resume sweep gives a stranded pending event of a pushing source its job again: once
/// (a live job is kept), an ordered source's head only, never a pulled or disabled source's.
pub async fn resume_enqueues_stranded_events(s: &Subject) {
    use palisade_webhooks::EventResume;
    let t = tenant();
    let push = made(s, source(&t, "push", Some(target(4, false)))).await;
    let ordered = made(s, source(&t, "ordered", Some(target(4, true)))).await;
    let pull = made(s, source(&t, "pull", None)).await;
    let mut off = target(4, false);
    off.disabled = true;
    let disabled = made(s, source(&t, "off", Some(off))).await;
    // far in the past, so other checks' events on a shared store stay out of the window
    let old = 2_000;
    insert(s, &push, "p", old).await;
    insert(s, &ordered, "o1", old).await;
    insert(s, &ordered, "o2", old).await;
    insert(s, &pull, "l", old).await;
    s.inbox
        .event_insert(event(&disabled, "d", old), false)
        .await
        .unwrap();
    drain_jobs(s, &t).await;
    assert_eq!(live_jobs(s, &t).await, 0);
    let req = EventResume {
        now_ms: old + 120_000,
        grace_ms: 60_000,
        limit: 1000,
    };
    s.inbox.event_resume(&req).await.unwrap();
    assert_eq!(
        live_jobs(s, &t).await,
        2,
        "the pushed event and the ordered head"
    );
    s.inbox.event_resume(&req).await.unwrap();
    assert_eq!(live_jobs(s, &t).await, 2, "live jobs are kept, none added");
    let early = EventResume {
        now_ms: old + 30_000,
        ..req
    };
    drain_jobs(s, &t).await;
    s.inbox.event_resume(&early).await.unwrap();
    assert_eq!(
        live_jobs(s, &t).await,
        0,
        "within the grace nothing is resumed"
    );
}

/// On an ordered source a later event waits until the earlier one settles, whose settling
/// enqueues the later one's job.
pub async fn ordered_source_blocks_then_hands_on(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", Some(target(8, true)))).await;
    let e1 = insert(s, &src, "1", T0).await;
    let e2 = insert(s, &src, "2", T0).await;
    assert_eq!(
        s.inbox
            .event_claim(&t, &claim(&e2.id, "b", T0))
            .await
            .unwrap(),
        Claim::Blocked
    );
    let held = granted(s, &t, &e1.id, "a", T0).await;
    assert_eq!(held.attempts, 1);
    assert_eq!(
        s.inbox
            .event_claim(&t, &claim(&e2.id, "b", T0))
            .await
            .unwrap(),
        Claim::Blocked
    );
    // simulate the jobs of both events having run (e2's completed as blocked)
    drain_jobs(s, &t).await;
    assert_eq!(live_jobs(s, &t).await, 0);
    let done = settle(
        s,
        &t,
        &e1.id,
        "a",
        T0 + 1,
        Outcome::Delivered { status: 200 },
    )
    .await;
    assert_eq!(done.unwrap().status, EventStatus::Delivered);
    assert_eq!(
        live_jobs(s, &t).await,
        1,
        "the next event's job is enqueued"
    );
    granted(s, &t, &e2.id, "b", T0 + 2).await;
}

/// Leases and completes every due delivery job of the tenant's queue.
async fn drain_jobs(s: &Subject, t: &TenantId) {
    use palisade_jobs::{JobComplete, JobLease, LeaseScope, WorkerId};
    let req = JobLease {
        scope: LeaseScope::Tenant(t.clone()),
        queue: QueueName::parse(palisade_webhooks::delivery::QUEUE).unwrap(),
        worker: WorkerId::parse("conformance").unwrap(),
        limit: 100,
        max_running_per_tenant: None,
        max_running_per_key: None,
        gate: None,
    };
    for l in s.jobs.job_lease(&req).await.unwrap() {
        let c = JobComplete {
            id: l.job.id.clone(),
            token: l.token,
        };
        s.jobs.job_complete(t, &c).await.unwrap();
    }
}

/// Only the attempt holding the claim settles the event.
pub async fn settle_needs_the_claim(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", Some(target(4, false)))).await;
    let e = insert(s, &src, "1", T0).await;
    assert!(settle(
        s,
        &t,
        &e.id,
        "nobody",
        T0,
        Outcome::Delivered { status: 200 }
    )
    .await
    .is_none());
    granted(s, &t, &e.id, "mine", T0).await;
    assert!(settle(
        s,
        &t,
        &e.id,
        "other",
        T0,
        Outcome::Delivered { status: 200 }
    )
    .await
    .is_none());
    let got = s.inbox.event_get(&t, &e.id).await.unwrap().unwrap();
    assert_eq!(got.status, EventStatus::Pending);
    let done = settle(
        s,
        &t,
        &e.id,
        "mine",
        T0 + 1,
        Outcome::Delivered { status: 204 },
    )
    .await
    .unwrap();
    assert_eq!(done.status, EventStatus::Delivered);
    assert_eq!(done.delivered_at_ms, Some(T0 + 1));
    assert_eq!(done.last_status, Some(204));
    assert!(settle(
        s,
        &t,
        &e.id,
        "mine",
        T0 + 2,
        Outcome::Delivered { status: 200 }
    )
    .await
    .is_none());
    assert_eq!(
        s.inbox
            .event_claim(&t, &claim(&e.id, "x", T0 + 3))
            .await
            .unwrap(),
        Claim::Settled
    );
}

/// A 410 fails the event and disables the source's target: its other events pause.
pub async fn gone_disables_the_target(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", Some(target(4, false)))).await;
    let e1 = insert(s, &src, "1", T0).await;
    let e2 = insert(s, &src, "2", T0).await;
    granted(s, &t, &e1.id, "a", T0).await;
    let gone = settle(s, &t, &e1.id, "a", T0 + 1, Outcome::Gone)
        .await
        .unwrap();
    assert_eq!(
        (gone.status, gone.last_status),
        (EventStatus::Failed, Some(410))
    );
    let now = s.inbox.source_get(&t, &src.name).await.unwrap().unwrap();
    assert!(now.target.as_ref().unwrap().disabled);
    assert!(now.version > src.version);
    assert_eq!(
        s.inbox
            .event_claim(&t, &claim(&e2.id, "b", T0 + 2))
            .await
            .unwrap(),
        Claim::Paused
    );
}

/// A retry holds the event until its time; the attempt count grows per granted claim.
pub async fn retry_waits_for_its_time(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", Some(target(4, false)))).await;
    let e = insert(s, &src, "1", T0).await;
    granted(s, &t, &e.id, "a", T0).await;
    let retry = Outcome::Retry {
        at_ms: T0 + 5_000,
        error: "the target answered 503".into(),
        status: Some(503),
    };
    let r = settle(s, &t, &e.id, "a", T0 + 1, retry).await.unwrap();
    assert_eq!(r.status, EventStatus::Pending);
    assert_eq!(r.last_error.as_deref(), Some("the target answered 503"));
    assert_eq!(
        s.inbox
            .event_claim(&t, &claim(&e.id, "b", T0 + 10))
            .await
            .unwrap(),
        Claim::Wait(T0 + 5_000)
    );
    let again = granted(s, &t, &e.id, "b", T0 + 5_000).await;
    assert_eq!(again.attempts, 2);
    let failed = Outcome::Failed {
        error: "no more attempts".into(),
        status: None,
    };
    let f = settle(s, &t, &e.id, "b", T0 + 5_001, failed).await.unwrap();
    assert_eq!(f.status, EventStatus::Failed);
}

/// A source's rate spaces its granted claims.
pub async fn rate_spaces_claims(s: &Subject) {
    let t = tenant();
    let mut tg = target(8, false);
    tg.rate_per_sec = Some(2);
    let src = made(s, source(&t, "s", Some(tg))).await;
    let e1 = insert(s, &src, "1", T0).await;
    let e2 = insert(s, &src, "2", T0).await;
    granted(s, &t, &e1.id, "a", T0).await;
    assert_eq!(
        s.inbox
            .event_claim(&t, &claim(&e2.id, "b", T0 + 100))
            .await
            .unwrap(),
        Claim::Wait(T0 + 500)
    );
    granted(s, &t, &e2.id, "b", T0 + 500).await;
}

/// A replay makes delivered and failed events pending with a fresh count, and makes sure a
/// pushing source's event has a live job.
pub async fn replay_makes_pending_and_enqueues(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", Some(target(4, false)))).await;
    let e = insert(s, &src, "1", T0).await;
    drain_jobs(s, &t).await;
    granted(s, &t, &e.id, "a", T0).await;
    settle(
        s,
        &t,
        &e.id,
        "a",
        T0 + 1,
        Outcome::Delivered { status: 200 },
    )
    .await
    .unwrap();
    assert_eq!(live_jobs(s, &t).await, 0);
    let ghost = EventId::generate(T0);
    let out = s
        .inbox
        .event_replay(&t, &[e.id.clone(), ghost], T0 + 10)
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].status, out[0].attempts), (EventStatus::Pending, 0));
    assert_eq!(out[0].delivered_at_ms, None);
    assert_eq!(live_jobs(s, &t).await, 1);
    s.inbox
        .event_replay(&t, std::slice::from_ref(&e.id), T0 + 11)
        .await
        .unwrap();
    assert_eq!(live_jobs(s, &t).await, 1, "one live job per event");
    granted(s, &t, &e.id, "b", T0 + 12).await;
}

/// A pulling app acknowledges a pending event; acknowledging again changes nothing.
pub async fn ack_delivers_a_pending_event(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", None)).await;
    let e = insert(s, &src, "1", T0).await;
    assert_eq!(
        s.inbox
            .event_claim(&t, &claim(&e.id, "a", T0))
            .await
            .unwrap(),
        Claim::Paused
    );
    let a = s.inbox.event_ack(&t, &e.id, T0 + 1).await.unwrap();
    assert_eq!(
        (a.status, a.delivered_at_ms),
        (EventStatus::Delivered, Some(T0 + 1))
    );
    let b = s.inbox.event_ack(&t, &e.id, T0 + 2).await.unwrap();
    assert_eq!(b.delivered_at_ms, Some(T0 + 1));
    let ghost = EventId::generate(T0);
    assert!(matches!(
        s.inbox.event_ack(&t, &ghost, T0).await,
        Err(WebhookError::NotFound)
    ));
}

/// Listing is newest first, by cursor, filtered by source, status and arrival time.
pub async fn list_filters_and_paginates(s: &Subject) {
    let t = tenant();
    let a = made(s, source(&t, "a", None)).await;
    let b = made(s, source(&t, "b", None)).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(insert(s, &a, &format!("a{i}"), T0 + i * 1000).await.id);
    }
    let eb = insert(s, &b, "b0", T0 + 10_000).await;
    s.inbox.event_ack(&t, &ids[1], T0 + 20_000).await.unwrap();
    let list = |req: EventList| {
        let (inbox, t) = (s.inbox.clone(), t.clone());
        async move { inbox.event_list(&t, &req).await.unwrap() }
    };
    let all = list(EventList {
        page: PageRequest::first(4),
        ..Default::default()
    })
    .await;
    assert_eq!(all.items[0].id, eb.id);
    assert_eq!(all.items.len(), 4);
    let rest = list(EventList {
        page: PageRequest {
            after: all.next.clone(),
            limit: 4,
        },
        ..Default::default()
    })
    .await;
    assert_eq!(
        rest.items.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&ids[1], &ids[0]]
    );
    assert_eq!(rest.next, None);
    let of_a = list(EventList {
        source: Some(a.name.clone()),
        page: PageRequest::first(10),
        ..Default::default()
    })
    .await;
    assert_eq!(of_a.items.len(), 5);
    let delivered = list(EventList {
        status: Some(EventStatus::Delivered),
        page: PageRequest::first(10),
        ..Default::default()
    })
    .await;
    assert_eq!(
        delivered.items.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&ids[1]]
    );
    let window = list(EventList {
        since_ms: Some(T0 + 1000),
        until_ms: Some(T0 + 3000),
        page: PageRequest::first(10),
        ..Default::default()
    })
    .await;
    assert_eq!(
        window.items.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&ids[2], &ids[1]]
    );
}

/// Counts per status and the oldest pending arrival, for the tenant or one source.
pub async fn stats_count_by_status(s: &Subject) {
    let t = tenant();
    let a = made(s, source(&t, "a", None)).await;
    let b = made(s, source(&t, "b", None)).await;
    let e1 = insert(s, &a, "1", T0 + 1).await;
    insert(s, &a, "2", T0 + 2).await;
    insert(s, &b, "3", T0 + 3).await;
    s.inbox.event_ack(&t, &e1.id, T0 + 4).await.unwrap();
    let all = s.inbox.event_stats(&t, None).await.unwrap();
    assert_eq!((all.pending, all.delivered, all.failed), (2, 1, 0));
    assert_eq!(all.oldest_pending_at_ms, Some(T0 + 2));
    let of_b = s.inbox.event_stats(&t, Some(&b.name)).await.unwrap();
    assert_eq!((of_b.pending, of_b.delivered), (1, 0));
    let none = s.inbox.event_stats(&tenant(), None).await.unwrap();
    assert_eq!(none.pending + none.delivered + none.failed, 0);
}

/// Retention deletes settled events older than the cut, never pending ones; a pruned key can
/// be stored again.
pub async fn prune_keeps_pending_events(s: &Subject) {
    let t = tenant();
    let src = made(s, source(&t, "s", None)).await;
    // far in the past, so other checks' events on a shared store stay out of the cut
    let old = 1_000;
    let done = insert(s, &src, "done", old).await;
    let pending = insert(s, &src, "pending", old).await;
    insert(s, &src, "new", T0).await;
    s.inbox.event_ack(&t, &done.id, old + 1).await.unwrap();
    let n = s.inbox.event_prune(old + 10, 1000).await.unwrap();
    assert_eq!(n, 1);
    assert!(s.inbox.event_get(&t, &done.id).await.unwrap().is_none());
    assert!(s.inbox.event_get(&t, &pending.id).await.unwrap().is_some());
    let again = s
        .inbox
        .event_insert(event(&src, "done", T0), false)
        .await
        .unwrap();
    assert!(!again.duplicate);
}
