//! An in-memory idempotency store, for tests and single-process embedding.

use crate::model::{
    check_holder, decide_begin, proceed_of, BeginDecision, BeginOutcome, Entry, EntryRef,
    EntryState, EntryUpdate, IdempotencyBegin, IdempotencyComplete, RecoveryPointSet,
};
use crate::store::IdempotencyStore;
use palisade_core::{SharedClock, StoreError, SystemClock, TenantId};
use parking_lot::Mutex;
use std::collections::HashMap;

type Scope = (TenantId, String, String);

/// Entries in process memory; lost on restart. Time comes from its clock.
#[derive(Debug)]
pub struct MemoryIdempotencyStore {
    entries: Mutex<HashMap<Scope, Entry>>,
    clock: SharedClock,
}

impl Default for MemoryIdempotencyStore {
    fn default() -> Self {
        Self::new(SystemClock::shared())
    }
}

impl MemoryIdempotencyStore {
    /// An empty store reading time from `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// How many entries (live or expired) are held.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn scope(tenant: &TenantId, principal: &str, key: &str) -> Scope {
        (tenant.clone(), principal.to_owned(), key.to_owned())
    }

    /// Checks the holder, then applies `f` to the entry, all under the lock.
    fn update(
        &self,
        tenant: &TenantId,
        entry: &EntryRef,
        f: impl FnOnce(&mut HashMap<Scope, Entry>, &Scope, i64),
    ) -> EntryUpdate {
        let now = self.clock.now_ms();
        let scope = Self::scope(tenant, &entry.principal, entry.key.as_str());
        let mut g = self.entries.lock();
        if let Some(refused) = check_holder(g.get(&scope), &entry.token, now) {
            return refused;
        }
        f(&mut g, &scope, now);
        EntryUpdate::Applied
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn idempotency_begin(
        &self,
        tenant: &TenantId,
        req: &IdempotencyBegin,
    ) -> Result<BeginOutcome, StoreError> {
        let now = self.clock.now_ms();
        let scope = Self::scope(tenant, &req.principal, req.key.as_str());
        let mut g = self.entries.lock();
        match decide_begin(g.get(&scope), req, now) {
            BeginDecision::Claim(e) => {
                let out = proceed_of(&e);
                g.insert(scope, e);
                Ok(out)
            }
            BeginDecision::Refuse(out) => Ok(out),
        }
    }

    async fn idempotency_recovery_point_set(
        &self,
        tenant: &TenantId,
        req: &RecoveryPointSet,
    ) -> Result<EntryUpdate, StoreError> {
        Ok(self.update(tenant, &req.entry, |m, s, now| {
            if let Some(Entry {
                state:
                    EntryState::InFlight {
                        locked_until_ms,
                        recovery_point,
                    },
                ..
            }) = m.get_mut(s)
            {
                *locked_until_ms = now.saturating_add(ms(req.lock_ttl));
                *recovery_point = Some(req.point.clone());
            }
        }))
    }

    async fn idempotency_complete(
        &self,
        tenant: &TenantId,
        req: &IdempotencyComplete,
    ) -> Result<EntryUpdate, StoreError> {
        Ok(self.update(tenant, &req.entry, |m, s, now| {
            if let Some(e) = m.get_mut(s) {
                e.state = EntryState::Completed(req.response.clone());
                e.expires_at_ms = now.saturating_add(ms(req.ttl));
            }
        }))
    }

    async fn idempotency_abandon(
        &self,
        tenant: &TenantId,
        entry: &EntryRef,
    ) -> Result<EntryUpdate, StoreError> {
        Ok(self.update(tenant, entry, |m, s, _| {
            m.remove(s);
        }))
    }

    async fn idempotency_expired_delete(&self, limit: u32) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.entries.lock();
        let expired: Vec<Scope> = g
            .iter()
            .filter(|(_, e)| e.is_expired(now))
            .map(|(k, _)| k.clone())
            .take(limit as usize)
            .collect();
        for k in &expired {
            g.remove(k);
        }
        Ok(expired.len() as u64)
    }
}
