//! `palisade_webhooks::Inserter` over the memory inbox: when the store panics inside a group
//! write, every insert of the group still gets its answer, written alone, and later inserts
//! keep working.

use palisade_core::{Page, PageRequest, TenantId};
use palisade_testkit::webhooks::{source, T0};
use palisade_webhooks::params::{
    Claim, EventClaim, EventList, EventResume, EventSettle, InboxStats, Inserted,
};
use palisade_webhooks::{
    Event, EventId, InboxStore, Inserter, MemoryInboxStore, Source, SourceName, WebhookError,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The memory inbox, whose first group write panics.
#[derive(Debug)]
struct Panicky {
    inner: MemoryInboxStore,
    panicked: AtomicBool,
}

#[async_trait::async_trait]
impl InboxStore for Panicky {
    async fn source_create(&self, s: &Source) -> Result<Source, WebhookError> {
        self.inner.source_create(s).await
    }
    async fn source_get(
        &self,
        t: &TenantId,
        n: &SourceName,
    ) -> Result<Option<Source>, WebhookError> {
        self.inner.source_get(t, n).await
    }
    async fn source_list(
        &self,
        t: &TenantId,
        p: &PageRequest,
    ) -> Result<Page<Source>, WebhookError> {
        self.inner.source_list(t, p).await
    }
    async fn source_update(&self, s: &Source) -> Result<Source, WebhookError> {
        self.inner.source_update(s).await
    }
    async fn source_delete(&self, t: &TenantId, n: &SourceName) -> Result<(), WebhookError> {
        self.inner.source_delete(t, n).await
    }
    async fn event_insert(&self, e: Event, push: bool) -> Result<Inserted, WebhookError> {
        self.inner.event_insert(e, push).await
    }
    async fn event_dispatch(&self, limit: u32) -> Result<u64, WebhookError> {
        self.inner.event_dispatch(limit).await
    }
    async fn event_insert_many(
        &self,
        events: Vec<(Event, bool)>,
    ) -> Result<Vec<Inserted>, WebhookError> {
        assert!(
            self.panicked.swap(true, Ordering::SeqCst),
            "a bug in the store"
        );
        self.inner.event_insert_many(events).await
    }
    async fn event_get(&self, t: &TenantId, id: &EventId) -> Result<Option<Event>, WebhookError> {
        self.inner.event_get(t, id).await
    }
    async fn event_list(&self, t: &TenantId, r: &EventList) -> Result<Page<Event>, WebhookError> {
        self.inner.event_list(t, r).await
    }
    async fn event_claim(&self, t: &TenantId, r: &EventClaim) -> Result<Claim, WebhookError> {
        self.inner.event_claim(t, r).await
    }
    async fn event_settle(
        &self,
        t: &TenantId,
        r: &EventSettle,
    ) -> Result<Option<Event>, WebhookError> {
        self.inner.event_settle(t, r).await
    }
    async fn event_replay(
        &self,
        t: &TenantId,
        ids: &[EventId],
        now_ms: i64,
    ) -> Result<Vec<Event>, WebhookError> {
        self.inner.event_replay(t, ids, now_ms).await
    }
    async fn event_ack(
        &self,
        t: &TenantId,
        id: &EventId,
        now_ms: i64,
    ) -> Result<Event, WebhookError> {
        self.inner.event_ack(t, id, now_ms).await
    }
    async fn event_stats(
        &self,
        t: &TenantId,
        s: Option<&SourceName>,
    ) -> Result<InboxStats, WebhookError> {
        self.inner.event_stats(t, s).await
    }
    async fn event_resume(&self, r: &EventResume) -> Result<u64, WebhookError> {
        self.inner.event_resume(r).await
    }
    async fn event_prune(&self, before_ms: i64, limit: u32) -> Result<u64, WebhookError> {
        self.inner.event_prune(before_ms, limit).await
    }
}

fn event(s: &Source, key: &str) -> Event {
    Event::new(s, key.into(), None, b"{}".to_vec(), T0)
}

#[tokio::test]
async fn a_panic_in_a_group_write_still_answers_every_insert() {
    let jobs = Arc::new(palisade_jobs::MemoryJobStore::default());
    let store = Arc::new(Panicky {
        inner: MemoryInboxStore::new(jobs),
        panicked: AtomicBool::new(false),
    });
    let t = TenantId::generate();
    let src = store.source_create(&source(&t, "s", None)).await.unwrap();
    let inserter = Inserter::start(store.clone());
    // queued before the writer runs: one group of ten (and the panic)
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let tries = keys.iter().map(|k| inserter.insert(event(&src, k), false));
    let done = futures::future::join_all(tries).await;
    assert!(store.panicked.load(Ordering::SeqCst), "the group write ran");
    for d in &done {
        assert!(!d.as_ref().unwrap().duplicate);
    }
    let again = inserter.insert(event(&src, "k3"), false).await.unwrap();
    assert!(again.duplicate, "stored once");
    let later = inserter.insert(event(&src, "k10"), false).await.unwrap();
    assert!(!later.duplicate);
    let list = EventList {
        page: PageRequest::first(50),
        ..Default::default()
    };
    assert_eq!(store.event_list(&t, &list).await.unwrap().items.len(), 11);
}
