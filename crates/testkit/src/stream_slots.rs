//! Conformance suite of the stream-slot stores ([`conformance!`](crate::conformance)`(stream_slots, ..)`):
//! caps per principal and per tenant, release, lapsed and renewed leases, isolation, races.

use crate::Time;
use palisade_core::TenantId;
use palisade_realtime::{Slot, SlotCaps, SlotScope, SlotTake, StreamSlotStore};
use std::sync::Arc;
use std::time::Duration;

impl Time {
    /// A lease the lapse checks wait out.
    fn slot_lease(&self) -> Duration {
        match self {
            Time::Manual(_) => Duration::from_secs(1),
            Time::Real => Duration::from_millis(300),
        }
    }

    /// Lets `lease` pass on the store's clock.
    async fn slot_pass(&self, lease: Duration) {
        match self {
            Time::Manual(c) => c.advance(lease),
            Time::Real => tokio::time::sleep(lease + Duration::from_millis(150)).await,
        }
    }
}

/// A lease no check outlives.
const LONG: Duration = Duration::from_secs(60);

fn slot(t: &TenantId, principal: &str) -> Slot {
    Slot {
        tenant: t.clone(),
        principal: principal.into(),
        id: palisade_core::secret::random_token(12),
    }
}

fn caps(per_principal: u32, per_tenant: u32) -> SlotCaps {
    SlotCaps {
        per_principal,
        per_tenant,
    }
}

async fn take(s: &dyn StreamSlotStore, slot: &Slot, c: SlotCaps, lease: Duration) -> SlotTake {
    s.stream_slot_take(slot, c, lease).await.unwrap()
}

fn scope(r: SlotTake) -> Option<SlotScope> {
    match r {
        SlotTake::Taken => None,
        SlotTake::Full { scope, .. } => Some(scope),
    }
}

/// A principal gets its cap of slots, then the tenant's cap binds the other principals; a
/// refusal names the cap and when a lease may end (within the lease).
pub async fn caps_per_principal_and_per_tenant(store: Arc<dyn StreamSlotStore>, _time: Time) {
    let s = &*store;
    let t = TenantId::generate();
    let c = caps(2, 3);
    for _ in 0..2 {
        assert_eq!(take(s, &slot(&t, "u1"), c, LONG).await, SlotTake::Taken);
    }
    match take(s, &slot(&t, "u1"), c, LONG).await {
        SlotTake::Full {
            scope,
            retry_after_ms,
        } => {
            assert_eq!(scope, SlotScope::Principal);
            assert!((1..=60_000).contains(&retry_after_ms), "{retry_after_ms}");
        }
        SlotTake::Taken => panic!("a third slot of the principal"),
    }
    assert_eq!(take(s, &slot(&t, "u2"), c, LONG).await, SlotTake::Taken);
    let r = take(s, &slot(&t, "u3"), c, LONG).await;
    assert_eq!(scope(r), Some(SlotScope::Tenant), "{r:?}");
}

/// Releasing a slot frees it at once; releasing an unknown slot is no error.
pub async fn release_frees_a_slot(store: Arc<dyn StreamSlotStore>, _time: Time) {
    let s = &*store;
    let t = TenantId::generate();
    let c = caps(1, 10);
    let a = slot(&t, "u1");
    assert_eq!(take(s, &a, c, LONG).await, SlotTake::Taken);
    assert!(scope(take(s, &slot(&t, "u1"), c, LONG).await).is_some());
    s.stream_slot_release(&a).await.unwrap();
    s.stream_slot_release(&a).await.unwrap();
    s.stream_slot_release(&slot(&t, "nobody")).await.unwrap();
    assert_eq!(take(s, &slot(&t, "u1"), c, LONG).await, SlotTake::Taken);
}

/// A slot whose lease ended (its instance died) no longer counts.
pub async fn lapsed_leases_stop_counting(store: Arc<dyn StreamSlotStore>, time: Time) {
    let s = &*store;
    let t = TenantId::generate();
    let c = caps(1, 1);
    let lease = time.slot_lease();
    assert_eq!(take(s, &slot(&t, "u1"), c, lease).await, SlotTake::Taken);
    assert!(scope(take(s, &slot(&t, "u2"), c, LONG).await).is_some());
    time.slot_pass(lease).await;
    assert_eq!(take(s, &slot(&t, "u2"), c, LONG).await, SlotTake::Taken);
}

/// A renewed slot keeps counting past its first lease, and a renewal re-adds a slot whose
/// lease lapsed (its stream is still open).
pub async fn renewed_slots_keep_counting(store: Arc<dyn StreamSlotStore>, time: Time) {
    let s = &*store;
    let t = TenantId::generate();
    let c = caps(5, 2);
    let lease = time.slot_lease();
    let (a, b) = (slot(&t, "u1"), slot(&t, "u2"));
    assert_eq!(take(s, &a, c, lease).await, SlotTake::Taken);
    assert_eq!(take(s, &b, c, lease).await, SlotTake::Taken);
    s.stream_slots_renew(std::slice::from_ref(&a), LONG)
        .await
        .unwrap();
    time.slot_pass(lease).await;
    // b lapsed, a did not: one more fits, then the tenant is full again.
    assert_eq!(take(s, &slot(&t, "u3"), c, LONG).await, SlotTake::Taken);
    assert!(scope(take(s, &slot(&t, "u3"), c, LONG).await).is_some());
    // Renewing the lapsed b counts it again: after releasing the third, still full.
    let t2 = TenantId::generate();
    let d = slot(&t2, "u1");
    assert_eq!(take(s, &d, caps(1, 1), lease).await, SlotTake::Taken);
    time.slot_pass(lease).await;
    s.stream_slots_renew(std::slice::from_ref(&d), LONG)
        .await
        .unwrap();
    let r = take(s, &slot(&t2, "u2"), caps(1, 1), LONG).await;
    assert_eq!(scope(r), Some(SlotScope::Tenant), "{r:?}");
}

/// Tenants are counted apart, and so are principals of one name in two tenants.
pub async fn tenants_are_isolated(store: Arc<dyn StreamSlotStore>, _time: Time) {
    let s = &*store;
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let c = caps(1, 1);
    assert_eq!(take(s, &slot(&a, "u1"), c, LONG).await, SlotTake::Taken);
    assert_eq!(take(s, &slot(&b, "u1"), c, LONG).await, SlotTake::Taken);
    assert!(scope(take(s, &slot(&a, "u1"), c, LONG).await).is_some());
}

/// Concurrent takes never pass a cap: exactly the cap's number succeed.
pub async fn concurrent_takes_never_pass_a_cap(store: Arc<dyn StreamSlotStore>, _time: Time) {
    let t = TenantId::generate();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (s, t) = (store.clone(), t.clone());
            tokio::spawn(async move {
                let principal = if i % 2 == 0 { "u1" } else { "u2" };
                s.stream_slot_take(&slot(&t, principal), caps(4, 6), LONG)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut taken = 0;
    for task in tasks {
        if task.await.unwrap() == SlotTake::Taken {
            taken += 1;
        }
    }
    assert_eq!(taken, 6, "the tenant cap, exactly");
}
