//! An in-memory locks store, for tests and single-process embedding.

use crate::model::{
    Acquired, FencingToken, HolderId, Lease, LeaseCheck, LockAcquire, LockName, LockRelease,
    LockRenew,
};
use crate::store::LockStore;
use palisade_core::{SharedClock, StoreError, SystemClock, TenantId};
use parking_lot::Mutex;
use std::collections::HashMap;

/// Leases in process memory; lost on restart.
///
/// One small record is kept per lock name ever used (so tokens never go back after a release);
/// memory grows with the number of distinct names, not with the number of grants.
#[derive(Debug)]
pub struct MemoryLockStore {
    clock: SharedClock,
    locks: Mutex<HashMap<(TenantId, LockName), Slot>>,
}

#[derive(Debug, Default)]
struct Slot {
    /// The latest grant's holder; `None` once released (or never granted).
    holder: Option<HolderId>,
    /// The latest grant's token; 0 before the first grant.
    token: u64,
    expires_at_ms: i64,
}

impl Slot {
    fn live(&self, now: i64) -> bool {
        self.holder.is_some() && now < self.expires_at_ms
    }

    fn lease(&self, name: &LockName) -> Option<Lease> {
        Some(Lease {
            name: name.clone(),
            holder: self.holder.clone()?,
            token: FencingToken(self.token),
            expires_at_ms: self.expires_at_ms,
        })
    }

    /// Whether the caller is the latest grant, and whether that grant is still live.
    fn check(&self, holder: &HolderId, token: FencingToken, now: i64) -> LeaseCheck<()> {
        let same_grant = self.token == token.0; // ct-ok: a fencing token is a public counter
        let mine = self.holder.as_ref() == Some(holder) && same_grant;
        match (mine, self.live(now)) {
            (true, true) => LeaseCheck::Valid(()),
            (true, false) => LeaseCheck::Expired,
            (false, _) => LeaseCheck::NotHolder,
        }
    }
}

impl Default for MemoryLockStore {
    fn default() -> Self {
        Self::new(SystemClock::shared())
    }
}

impl MemoryLockStore {
    /// An empty store on `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            locks: Mutex::new(HashMap::new()),
        }
    }
}

fn key(tenant: &TenantId, name: &LockName) -> (TenantId, LockName) {
    (tenant.clone(), name.clone())
}

#[async_trait::async_trait]
impl LockStore for MemoryLockStore {
    async fn lock_acquire(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
    ) -> Result<Acquired, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.locks.lock();
        let slot = g.entry(key(tenant, &req.name)).or_default();
        if slot.live(now) {
            return Ok(Acquired::Held(slot.lease(&req.name).expect("live slot")));
        }
        let took_over_expired = slot.holder.is_some();
        slot.holder = Some(req.holder.clone());
        slot.token += 1;
        slot.expires_at_ms = now + req.ttl.as_ms();
        let lease = slot.lease(&req.name).expect("just granted");
        Ok(Acquired::Granted {
            lease,
            took_over_expired,
        })
    }

    async fn lock_renew(
        &self,
        tenant: &TenantId,
        req: &LockRenew,
    ) -> Result<LeaseCheck<Lease>, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.locks.lock();
        let Some(slot) = g.get_mut(&key(tenant, &req.name)) else {
            return Ok(LeaseCheck::NotHolder);
        };
        Ok(match slot.check(&req.holder, req.token, now) {
            LeaseCheck::Valid(()) => {
                slot.expires_at_ms = now + req.ttl.as_ms();
                LeaseCheck::Valid(slot.lease(&req.name).expect("held"))
            }
            LeaseCheck::Expired => LeaseCheck::Expired,
            LeaseCheck::NotHolder => LeaseCheck::NotHolder,
        })
    }

    async fn lock_release(
        &self,
        tenant: &TenantId,
        req: &LockRelease,
    ) -> Result<LeaseCheck<()>, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.locks.lock();
        let Some(slot) = g.get_mut(&key(tenant, &req.name)) else {
            return Ok(LeaseCheck::NotHolder);
        };
        let check = slot.check(&req.holder, req.token, now);
        if check == LeaseCheck::Valid(()) {
            slot.holder = None;
            slot.expires_at_ms = now;
        }
        Ok(check)
    }

    async fn lock_inspect(
        &self,
        tenant: &TenantId,
        name: &LockName,
    ) -> Result<Option<Lease>, StoreError> {
        let now = self.clock.now_ms();
        let g = self.locks.lock();
        Ok(g.get(&key(tenant, name))
            .filter(|s| s.live(now))
            .and_then(|s| s.lease(name)))
    }
}
