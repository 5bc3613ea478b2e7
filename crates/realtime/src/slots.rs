//! Cluster-wide caps on open streams: one leased slot per open stream in a shared store,
//! counted per principal and per tenant, renewed by this process while the stream lives.

use palisade_core::{Maintenance, StoreError, TenantId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How many open streams a principal and a tenant may hold across the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotCaps {
    /// Per principal (the token's principal, or the tenant key's id for a server stream).
    pub per_principal: u32,
    /// Per tenant.
    pub per_tenant: u32,
}

/// One open stream's slot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Its tenant.
    pub tenant: TenantId,
    /// Its principal.
    pub principal: String,
    /// The stream's id (random, unique).
    pub id: String,
}

/// Which cap a refused slot hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotScope {
    /// `realtime.max_streams_per_principal`.
    Principal,
    /// `realtime.max_streams_per_tenant`.
    Tenant,
}

impl SlotScope {
    /// The word (`principal`, `tenant`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Principal => "principal",
            Self::Tenant => "tenant",
        }
    }
}

/// The answer of [`StreamSlotStore::stream_slot_take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotTake {
    /// The slot is held until its lease ends (unless renewed).
    Taken,
    /// A cap is reached; the earliest a held slot's lease ends, from now (ms, at least 1).
    Full {
        /// The cap hit (the principal's when both are).
        scope: SlotScope,
        /// When a slot may free up at the earliest (a crashed holder's lease end).
        retry_after_ms: u64,
    },
}

/// The shared store of stream slots (Redis when configured, else the SQL store).
///
/// Rules every implementation keeps (the testkit's `stream_slots` suite checks them):
/// - `stream_slot_take` counts the slots of the principal and of the tenant whose lease has
///   not ended (store clock) and takes one only when both counts are below their caps, in one
///   atomic step: concurrent takes never exceed a cap.
/// - `stream_slots_renew` sets the lease of each slot to end `lease` from now, re-adding a
///   slot whose lease lapsed (its stream is still open).
/// - `stream_slot_release` frees the slot at once; releasing an unknown slot is no error.
#[async_trait::async_trait]
pub trait StreamSlotStore: Send + Sync + std::fmt::Debug {
    /// Takes `slot` for `lease` unless a cap is reached.
    async fn stream_slot_take(
        &self,
        slot: &Slot,
        caps: SlotCaps,
        lease: Duration,
    ) -> Result<SlotTake, StoreError>;

    /// Extends the lease of every slot of `slots` to `lease` from now.
    async fn stream_slots_renew(&self, slots: &[Slot], lease: Duration) -> Result<(), StoreError>;

    /// Frees `slot`.
    async fn stream_slot_release(&self, slot: &Slot) -> Result<(), StoreError>;
}

/// This process's slots: takes them, remembers the live ones for renewal, releases them when
/// their stream ends.
#[derive(Debug)]
pub struct Slots {
    store: Arc<dyn StreamSlotStore>,
    caps: SlotCaps,
    lease: Duration,
    live: Mutex<HashMap<String, Slot>>,
}

impl Slots {
    /// Slots in `store` under `caps`, each leased for `lease` and renewed by
    /// [`Slots::maintenance`] every `lease / 3`.
    pub fn new(store: Arc<dyn StreamSlotStore>, caps: SlotCaps, lease: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            caps,
            lease,
            live: Mutex::default(),
        })
    }

    /// The lease of one slot: how long after a crash its stream stops counting.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Takes a slot for a stream of `principal`; the guard releases it when dropped.
    pub async fn take(
        self: &Arc<Self>,
        tenant: &TenantId,
        principal: &str,
    ) -> Result<Result<SlotGuard, SlotTake>, StoreError> {
        let slot = Slot {
            tenant: tenant.clone(),
            principal: principal.to_owned(),
            id: palisade_core::secret::random_token(16),
        };
        match self
            .store
            .stream_slot_take(&slot, self.caps, self.lease)
            .await?
        {
            SlotTake::Taken => {}
            full @ SlotTake::Full { scope, .. } => {
                crate::metrics::slot_refused(scope.as_str());
                return Ok(Err(full));
            }
        }
        crate::metrics::slot_taken();
        self.live.lock().insert(slot.id.clone(), slot.clone());
        Ok(Ok(SlotGuard {
            slots: self.clone(),
            slot: Some(slot),
        }))
    }

    /// Slots held by this process's open streams.
    pub fn held(&self) -> usize {
        self.live.lock().len()
    }

    /// The renewal task.
    pub fn maintenance(self: &Arc<Self>) -> Arc<dyn Maintenance> {
        Arc::new(SlotRenew {
            slots: self.clone(),
        })
    }
}

/// Holds one stream's slot; dropping it releases the slot (in the background).
#[derive(Debug)]
pub struct SlotGuard {
    slots: Arc<Slots>,
    slot: Option<Slot>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        crate::metrics::slot_released();
        self.slots.live.lock().remove(&slot.id);
        let store = self.slots.store.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.stream_slot_release(&slot).await {
                    // Its lease ends it anyway.
                    tracing::warn!(error = %e, "realtime: releasing a stream slot failed");
                }
            });
        }
    }
}

/// Renews the leases of this process's slots, every third of a lease.
#[derive(Debug)]
struct SlotRenew {
    slots: Arc<Slots>,
}

/// Slots renewed per store call.
const RENEW_BATCH: usize = 500;

#[async_trait::async_trait]
impl Maintenance for SlotRenew {
    fn name(&self) -> &'static str {
        "realtime_stream_slot_renew"
    }

    fn interval(&self) -> Duration {
        self.slots.lease / 3
    }

    async fn step(&self) -> Result<u64, StoreError> {
        let live: Vec<Slot> = self.slots.live.lock().values().cloned().collect();
        for chunk in live.chunks(RENEW_BATCH) {
            self.slots
                .store
                .stream_slots_renew(chunk, self.slots.lease)
                .await?;
        }
        Ok(live.len() as u64)
    }
}
