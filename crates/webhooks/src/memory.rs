//! An in-memory inbox over a jobs store, for tests and single-process embedding.

use crate::delivery::delivery_job;
use crate::error::WebhookError;
use crate::model::{Event, EventId, EventStatus, Source, SourceName};
use crate::params::{
    claim_apply, claim_decide, replay_apply, resume_pick, settle_apply, Claim, ClaimView,
    EventClaim, EventList, EventResume, EventSettle, InboxStats, Inserted,
};
use crate::store::InboxStore;
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use palisade_jobs::{JobError, JobStore};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::Mutex;

type SourceKey = (TenantId, SourceName);

/// Sources and events in process memory, enqueueing delivery jobs into `jobs`. One async
/// mutex, held across the enqueues, makes each operation atomic.
#[derive(Debug)]
pub struct MemoryInboxStore {
    jobs: Arc<dyn JobStore>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sources: BTreeMap<SourceKey, (Source, Option<i64>)>,
    events: BTreeMap<i64, Event>,
    by_id: HashMap<EventId, i64>,
    by_key: HashMap<(TenantId, SourceName, String), i64>,
    /// The events marked for dispatch, by seq.
    marked: BTreeSet<i64>,
    next_seq: i64,
}

impl MemoryInboxStore {
    /// An empty inbox enqueueing into `jobs`.
    pub fn new(jobs: Arc<dyn JobStore>) -> Self {
        Self {
            jobs,
            inner: Mutex::new(Inner::default()),
        }
    }

    async fn enqueue(&self, tenant: &TenantId, id: &EventId) -> Result<(), WebhookError> {
        match self.jobs.job_enqueue(tenant, delivery_job(id)).await {
            Ok(_) => Ok(()),
            Err(JobError::Store(e)) => Err(e.into()),
            Err(e) => Err(StoreError::Backend(format!("delivery job: {e}")).into()),
        }
    }
}

impl Inner {
    fn event(&self, tenant: &TenantId, id: &EventId) -> Option<&Event> {
        let seq = self.by_id.get(id)?;
        self.events.get(seq).filter(|e| &e.tenant == tenant)
    }

    fn event_mut(&mut self, tenant: &TenantId, id: &EventId) -> Option<&mut Event> {
        let seq = *self.by_id.get(id)?;
        self.events.get_mut(&seq).filter(|e| &e.tenant == tenant)
    }

    fn of_source<'a>(
        &'a self,
        tenant: &'a TenantId,
        source: &'a SourceName,
    ) -> impl Iterator<Item = &'a Event> + 'a {
        self.events
            .values()
            .filter(move |e| &e.tenant == tenant && &e.source == source)
    }

    /// The oldest pending, due, unheld event of a pushing source other than `except`.
    fn next_due(
        &self,
        tenant: &TenantId,
        name: &SourceName,
        except: &EventId,
        now: i64,
    ) -> Option<EventId> {
        let (s, _) = self.sources.get(&(tenant.clone(), name.clone()))?;
        if !s.pushes() {
            return None;
        }
        self.of_source(tenant, name)
            .find(|e| {
                &e.id != except
                    && e.status == EventStatus::Pending
                    && e.next_attempt_at_ms <= now
                    && !e.is_claimed(now)
            })
            .map(|e| e.id.clone())
    }
}

#[async_trait::async_trait]
impl InboxStore for MemoryInboxStore {
    async fn source_create(&self, source: &Source) -> Result<Source, WebhookError> {
        let mut g = self.inner.lock().await;
        let key = (source.tenant.clone(), source.name.clone());
        if g.sources.contains_key(&key) {
            return Err(WebhookError::SourceExists);
        }
        g.sources.insert(key, (source.clone(), None));
        Ok(source.clone())
    }

    async fn source_get(
        &self,
        tenant: &TenantId,
        name: &SourceName,
    ) -> Result<Option<Source>, WebhookError> {
        let g = self.inner.lock().await;
        Ok(g.sources
            .get(&(tenant.clone(), name.clone()))
            .map(|(s, _)| s.clone()))
    }

    async fn source_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Source>, WebhookError> {
        let g = self.inner.lock().await;
        let rows: Vec<Source> = g
            .sources
            .values()
            .map(|(s, _)| s)
            .filter(|s| &s.tenant == tenant)
            .filter(|s| page.after.as_deref().is_none_or(|a| s.name.as_str() > a))
            .take(page.limit as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_rows(rows, page.limit, |s| s.name.to_string()))
    }

    async fn source_update(&self, source: &Source) -> Result<Source, WebhookError> {
        let mut g = self.inner.lock().await;
        let key = (source.tenant.clone(), source.name.clone());
        let (stored, _) = g.sources.get_mut(&key).ok_or(WebhookError::NotFound)?;
        if stored.version != source.version {
            return Err(WebhookError::SourceChanged);
        }
        let mut next = source.clone();
        next.version += 1;
        *stored = next.clone();
        Ok(next)
    }

    async fn source_delete(
        &self,
        tenant: &TenantId,
        name: &SourceName,
    ) -> Result<(), WebhookError> {
        let mut g = self.inner.lock().await;
        g.sources
            .remove(&(tenant.clone(), name.clone()))
            .ok_or(WebhookError::NotFound)?;
        let gone: Vec<Event> = g
            .events
            .values()
            .filter(|e| &e.tenant == tenant && &e.source == name)
            .cloned()
            .collect();
        for e in gone {
            g.events.remove(&e.seq);
            g.marked.remove(&e.seq);
            g.by_id.remove(&e.id);
            g.by_key.remove(&(e.tenant, e.source, e.key));
        }
        Ok(())
    }

    async fn event_insert(&self, mut event: Event, push: bool) -> Result<Inserted, WebhookError> {
        let mut g = self.inner.lock().await;
        let key = (
            event.tenant.clone(),
            event.source.clone(),
            event.key.clone(),
        );
        if let Some(seq) = g.by_key.get(&key) {
            return Ok(Inserted {
                event: g.events[seq].clone(),
                duplicate: true,
            });
        }
        g.next_seq += 1;
        event.seq = g.next_seq;
        if push {
            g.marked.insert(event.seq);
        }
        g.by_key.insert(key, event.seq);
        g.by_id.insert(event.id.clone(), event.seq);
        g.events.insert(event.seq, event.clone());
        Ok(Inserted {
            event,
            duplicate: false,
        })
    }

    async fn event_dispatch(&self, limit: u32) -> Result<u64, WebhookError> {
        let mut g = self.inner.lock().await;
        let taken: Vec<i64> = g.marked.iter().take(limit as usize).copied().collect();
        for seq in &taken {
            if let Some(e) = g.events.get(seq) {
                self.enqueue(&e.tenant, &e.id).await?;
            }
            g.marked.remove(seq);
        }
        Ok(taken.len() as u64)
    }

    async fn event_get(
        &self,
        tenant: &TenantId,
        id: &EventId,
    ) -> Result<Option<Event>, WebhookError> {
        Ok(self.inner.lock().await.event(tenant, id).cloned())
    }

    async fn event_list(
        &self,
        tenant: &TenantId,
        req: &EventList,
    ) -> Result<Page<Event>, WebhookError> {
        let g = self.inner.lock().await;
        let rows: Vec<Event> = g
            .events
            .range(..req.after_seq())
            .rev()
            .map(|(_, e)| e)
            .filter(|e| &e.tenant == tenant && req.matches(e))
            .take(req.page.limit as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_rows(rows, req.page.limit, |e| e.seq.to_string()))
    }

    async fn event_claim(
        &self,
        tenant: &TenantId,
        req: &EventClaim,
    ) -> Result<Claim, WebhookError> {
        let mut g = self.inner.lock().await;
        let Some(event) = g.event(tenant, &req.id).cloned() else {
            return Ok(Claim::Settled);
        };
        let skey = (tenant.clone(), event.source.clone());
        let Some((source, last)) = g.sources.get(&skey).cloned() else {
            return Ok(Claim::Settled);
        };
        let now = req.now_ms;
        let in_flight = g
            .of_source(tenant, &event.source)
            .filter(|e| e.id != event.id && e.is_claimed(now))
            .count() as u32;
        let earlier_pending = g
            .of_source(tenant, &event.source)
            .any(|e| e.seq < event.seq && e.status == EventStatus::Pending);
        let view = ClaimView {
            source: &source,
            event: &event,
            in_flight,
            earlier_pending,
            last_claim_ms: last,
        };
        if let Some(refused) = claim_decide(view, now) {
            return Ok(refused);
        }
        let e = g.event_mut(tenant, &req.id).expect("read above");
        claim_apply(e, req);
        let event = e.clone();
        if let Some(s) = g.sources.get_mut(&skey) {
            s.1 = Some(now);
        }
        Ok(Claim::Granted {
            event: Box::new(event),
            source: Box::new(source),
        })
    }

    async fn event_settle(
        &self,
        tenant: &TenantId,
        req: &EventSettle,
    ) -> Result<Option<Event>, WebhookError> {
        let mut g = self.inner.lock().await;
        let Some(e) = g.event_mut(tenant, &req.id) else {
            return Ok(None);
        };
        let holder = e
            .claim_token
            .as_deref()
            .is_some_and(|t| palisade_core::secret::secret_eq(t.as_bytes(), req.token.as_bytes()));
        if e.status != EventStatus::Pending || !holder {
            return Ok(None);
        }
        let disable = settle_apply(e, req);
        let event = e.clone();
        if disable {
            if let Some((s, _)) = g.sources.get_mut(&(tenant.clone(), event.source.clone())) {
                if let Some(t) = s.target.as_mut() {
                    t.disabled = true;
                }
                s.version += 1;
                s.updated_at_ms = req.now_ms;
            }
        }
        if let Some(next) = g.next_due(tenant, &event.source, &event.id, req.now_ms) {
            self.enqueue(tenant, &next).await?;
        }
        Ok(Some(event))
    }

    async fn event_replay(
        &self,
        tenant: &TenantId,
        ids: &[EventId],
        now_ms: i64,
    ) -> Result<Vec<Event>, WebhookError> {
        let mut g = self.inner.lock().await;
        let mut out = Vec::new();
        for id in ids {
            let Some(e) = g.event_mut(tenant, id) else {
                continue;
            };
            replay_apply(e, now_ms);
            let e = e.clone();
            let pushes = g
                .sources
                .get(&(tenant.clone(), e.source.clone()))
                .is_some_and(|(s, _)| s.pushes());
            if pushes {
                self.enqueue(tenant, &e.id).await?;
            }
            out.push(e);
        }
        Ok(out)
    }

    async fn event_ack(
        &self,
        tenant: &TenantId,
        id: &EventId,
        now_ms: i64,
    ) -> Result<Event, WebhookError> {
        let mut g = self.inner.lock().await;
        let e = g.event_mut(tenant, id).ok_or(WebhookError::NotFound)?;
        if e.status == EventStatus::Pending {
            e.status = EventStatus::Delivered;
            e.delivered_at_ms = Some(now_ms);
            e.claim_token = None;
            e.claimed_until_ms = None;
        }
        Ok(e.clone())
    }

    async fn event_stats(
        &self,
        tenant: &TenantId,
        source: Option<&SourceName>,
    ) -> Result<InboxStats, WebhookError> {
        let g = self.inner.lock().await;
        let mut s = InboxStats::default();
        for e in g
            .events
            .values()
            .filter(|e| &e.tenant == tenant && source.is_none_or(|n| &e.source == n))
        {
            match e.status {
                EventStatus::Pending => {
                    s.pending += 1;
                    let o = s.oldest_pending_at_ms.get_or_insert(e.received_at_ms);
                    *o = (*o).min(e.received_at_ms);
                }
                EventStatus::Delivered => s.delivered += 1,
                EventStatus::Failed => s.failed += 1,
            }
        }
        Ok(s)
    }

    async fn event_resume(&self, req: &EventResume) -> Result<u64, WebhookError> {
        let g = self.inner.lock().await;
        let due: Vec<(Event, Source)> = g
            .events
            .values()
            .filter(|e| {
                e.status == EventStatus::Pending
                    && e.next_attempt_at_ms <= req.now_ms - req.grace_ms
                    && !e.is_claimed(req.now_ms)
            })
            .filter_map(|e| {
                let (s, _) = g.sources.get(&(e.tenant.clone(), e.source.clone()))?;
                Some((e.clone(), s.clone()))
            })
            .take(req.limit as usize)
            .collect();
        let mut made = 0;
        for e in resume_pick(&due) {
            let r = self.jobs.job_enqueue(&e.tenant, delivery_job(&e.id)).await;
            match r {
                Ok(done) => made += u64::from(!done.duplicate),
                Err(JobError::Store(s)) => return Err(s.into()),
                Err(e) => return Err(StoreError::Backend(format!("delivery job: {e}")).into()),
            }
        }
        Ok(made)
    }

    async fn event_prune(&self, before_ms: i64, limit: u32) -> Result<u64, WebhookError> {
        let mut g = self.inner.lock().await;
        let gone: Vec<Event> = g
            .events
            .values()
            .filter(|e| e.status != EventStatus::Pending && e.received_at_ms < before_ms)
            .take(limit as usize)
            .cloned()
            .collect();
        for e in &gone {
            g.events.remove(&e.seq);
            g.marked.remove(&e.seq);
            g.by_id.remove(&e.id);
            g.by_key
                .remove(&(e.tenant.clone(), e.source.clone(), e.key.clone()));
        }
        Ok(gone.len() as u64)
    }
}
