//! An in-memory realtime store, for tests and single-process embedding.

use crate::model::{Event, HistoryBounds, Revocation, TopicName, TopicRead};
use crate::slots::{Slot, SlotCaps, SlotScope, SlotTake, StreamSlotStore};
use crate::store::RealtimeStore;
use crate::token::Claims;
use palisade_core::{SharedClock, StoreError, SystemClock, TenantId};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};

/// Topic history and revocations in process memory; lost on restart.
#[derive(Debug)]
pub struct MemoryRealtimeStore {
    clock: SharedClock,
    topics: Mutex<HashMap<(TenantId, TopicName), Topic>>,
    revocations: Mutex<HashMap<(TenantId, RevKey), (i64, i64)>>,
    slots: Mutex<HashMap<TenantId, HeldSlots>>,
}

/// One tenant's stream slots: slot id → (principal, lease end ms).
type HeldSlots = HashMap<String, (String, i64)>;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RevKey {
    Token(String),
    Key(String),
    Principal(String),
}

#[derive(Debug, Default)]
struct Topic {
    last_seq: u64,
    events: VecDeque<Event>,
}

impl Topic {
    fn prune(&mut self, bounds: HistoryBounds, now: i64) {
        let oldest = bounds.oldest_kept_ms(now);
        while self.events.len() as u64 > bounds.max_events
            || self.events.front().is_some_and(|e| e.at_ms < oldest)
        {
            self.events.pop_front();
        }
    }
}

impl Default for MemoryRealtimeStore {
    fn default() -> Self {
        Self::new(SystemClock::shared())
    }
}

impl MemoryRealtimeStore {
    /// An empty store on `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            topics: Mutex::default(),
            revocations: Mutex::default(),
            slots: Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl RealtimeStore for MemoryRealtimeStore {
    async fn topic_publish(
        &self,
        tenant: &TenantId,
        topic: &TopicName,
        data: &str,
        bounds: HistoryBounds,
    ) -> Result<Event, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.topics.lock();
        let t = g.entry((tenant.clone(), topic.clone())).or_default();
        t.last_seq += 1;
        let ev = Event {
            seq: t.last_seq,
            at_ms: now,
            data: data.into(),
        };
        t.events.push_back(ev.clone());
        t.prune(bounds, now);
        Ok(ev)
    }

    async fn topic_read(
        &self,
        tenant: &TenantId,
        topic: &TopicName,
        after: u64,
        limit: u32,
        bounds: HistoryBounds,
    ) -> Result<TopicRead, StoreError> {
        let oldest = bounds.oldest_kept_ms(self.clock.now_ms());
        let g = self.topics.lock();
        let Some(t) = g.get(&(tenant.clone(), topic.clone())) else {
            return Ok(TopicRead::new(after, Vec::new(), 0));
        };
        let events = t
            .events
            .iter()
            .filter(|e| e.seq > after && e.at_ms >= oldest)
            .take(limit as usize)
            .cloned()
            .collect();
        Ok(TopicRead::new(after, events, t.last_seq))
    }

    async fn topic_delete(&self, tenant: &TenantId, topic: &TopicName) -> Result<bool, StoreError> {
        let mut g = self.topics.lock();
        Ok(match g.get_mut(&(tenant.clone(), topic.clone())) {
            Some(t) => {
                t.events.clear();
                true
            }
            None => false,
        })
    }

    async fn revocation_add(&self, rev: &Revocation, keep_until_ms: i64) -> Result<(), StoreError> {
        let (key, at) = match rev {
            Revocation::Token { token_id, .. } => (RevKey::Token(token_id.clone()), 0),
            Revocation::Key { key_id, .. } => (RevKey::Key(key_id.clone()), 0),
            Revocation::Principal {
                principal, at_ms, ..
            } => (RevKey::Principal(principal.clone()), *at_ms),
        };
        let mut g = self.revocations.lock();
        let slot = g
            .entry((rev.tenant().clone(), key))
            .or_insert((at, keep_until_ms));
        *slot = (slot.0.max(at), slot.1.max(keep_until_ms));
        Ok(())
    }

    async fn revocation_check(&self, c: &Claims) -> Result<bool, StoreError> {
        let g = self.revocations.lock();
        let has = |k: RevKey| g.contains_key(&(c.tenant.clone(), k));
        let token = has(RevKey::Token(c.token_id.clone()));
        let key = c
            .key_id
            .as_ref()
            .is_some_and(|k| has(RevKey::Key(k.clone())));
        let by_principal = g
            .get(&(c.tenant.clone(), RevKey::Principal(c.principal.clone())))
            .is_some_and(|(at, _)| c.iat_ms <= *at);
        Ok(token || key || by_principal)
    }

    async fn revocation_prune(&self) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.revocations.lock();
        let before = g.len();
        g.retain(|_, (_, keep)| *keep > now);
        Ok((before - g.len()) as u64)
    }

    fn realtime_now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

#[async_trait::async_trait]
impl StreamSlotStore for MemoryRealtimeStore {
    async fn stream_slot_take(
        &self,
        slot: &Slot,
        caps: SlotCaps,
        lease: std::time::Duration,
    ) -> Result<SlotTake, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.slots.lock();
        let held = g.entry(slot.tenant.clone()).or_default();
        held.retain(|_, (_, until)| *until > now);
        let mine = held.values().filter(|(p, _)| *p == slot.principal);
        let (n_mine, first_mine) = mine.fold((0u32, i64::MAX), |(n, m), (_, u)| (n + 1, m.min(*u)));
        let first_all = held.values().map(|(_, u)| *u).min().unwrap_or(i64::MAX);
        let retry = |at: i64| (at - now).max(1) as u64;
        if n_mine >= caps.per_principal {
            let (scope, retry_after_ms) = (SlotScope::Principal, retry(first_mine));
            return Ok(SlotTake::Full {
                scope,
                retry_after_ms,
            });
        }
        if held.len() as u64 >= u64::from(caps.per_tenant) {
            let (scope, retry_after_ms) = (SlotScope::Tenant, retry(first_all));
            return Ok(SlotTake::Full {
                scope,
                retry_after_ms,
            });
        }
        let until = now + lease.as_millis() as i64;
        held.insert(slot.id.clone(), (slot.principal.clone(), until));
        Ok(SlotTake::Taken)
    }

    async fn stream_slots_renew(
        &self,
        slots: &[Slot],
        lease: std::time::Duration,
    ) -> Result<(), StoreError> {
        let until = self.clock.now_ms() + lease.as_millis() as i64;
        let mut g = self.slots.lock();
        for s in slots {
            let held = g.entry(s.tenant.clone()).or_default();
            held.insert(s.id.clone(), (s.principal.clone(), until));
        }
        Ok(())
    }

    async fn stream_slot_release(&self, slot: &Slot) -> Result<(), StoreError> {
        let mut g = self.slots.lock();
        if let Some(held) = g.get_mut(&slot.tenant) {
            held.remove(&slot.id);
            if held.is_empty() {
                g.remove(&slot.tenant);
            }
        }
        Ok(())
    }
}
