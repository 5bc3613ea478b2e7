//! The shared store's last known remaining per key: what bounds a fallback's grants.
//!
//! Every answer of the shared store records, per (tenant, policy, key), the units it left and
//! until when that figure holds (its `reset_after`: the quota is whole again by then; until
//! then at most this much is free). While the store fails, a key with such knowledge is
//! granted from it — never more than the store last said was left, counting down — and only a
//! key without it falls back to the share of its quota. Bounded: past `max_keys` the expired
//! entries are dropped, and a key that still finds no room gets no knowledge (the share).

use crate::decision::{Check, Decision};
use palisade_core::TenantId;
use parking_lot::Mutex;
use std::collections::HashMap;

/// (tenant, policy, key).
type Slot = (TenantId, String, String);

#[derive(Debug, Clone, Copy)]
struct Entry {
    remaining: u64,
    until_ms: i64,
}

/// The last known remaining of each key (see the module documentation).
#[derive(Debug)]
pub struct KnownRemaining {
    entries: Mutex<Entries>,
    max_keys: usize,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Slot, Entry>,
    /// When full, expired entries are dropped at most once a second (a scan of the map).
    next_purge_ms: i64,
}

/// What the knowledge says of one check while the store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Nothing known (or it expired): decide by the fallback share.
    Unknown,
    /// Known: `remaining` units left (before this check) until `until_ms`.
    Left {
        /// Units the store last said were left, minus what fallbacks granted since.
        remaining: u64,
        /// When the figure stops holding (the store's quota is whole again).
        until_ms: i64,
    },
}

impl KnownRemaining {
    /// Knowledge of at most `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        Self {
            entries: Mutex::new(Entries::default()),
            max_keys: max_keys.max(1),
        }
    }

    /// Records the shared store's `decisions` of `checks`, taken at `now_ms`.
    pub fn record(&self, tenant: &TenantId, checks: &[Check], decisions: &[Decision], now_ms: i64) {
        let mut e = self.entries.lock();
        let Entries { map, next_purge_ms } = &mut *e;
        for (c, d) in checks.iter().zip(decisions) {
            let entry = Entry {
                remaining: d.remaining,
                until_ms: now_ms.saturating_add(d.reset_after_ms.min(i64::MAX as u64) as i64),
            };
            let slot = (tenant.clone(), c.policy.clone(), c.key.clone());
            if map.len() >= self.max_keys && !map.contains_key(&slot) {
                if now_ms >= *next_purge_ms {
                    map.retain(|_, e| e.until_ms > now_ms);
                    *next_purge_ms = now_ms + 1_000;
                }
                if map.len() >= self.max_keys {
                    continue;
                }
            }
            map.insert(slot, entry);
        }
    }

    /// What is known of each check at `now_ms`.
    pub fn lookup(&self, tenant: &TenantId, checks: &[Check], now_ms: i64) -> Vec<Known> {
        let map = &self.entries.lock().map;
        checks
            .iter()
            .map(|c| {
                let slot = (tenant.clone(), c.policy.clone(), c.key.clone());
                match map.get(&slot) {
                    Some(e) if e.until_ms > now_ms => Known::Left {
                        remaining: e.remaining,
                        until_ms: e.until_ms,
                    },
                    _ => Known::Unknown,
                }
            })
            .collect()
    }

    /// Takes `cost` of every check in `take` (indexes into `checks`) from its known remaining,
    /// all or nothing: false (nothing taken) when one of them has less left than its cost.
    pub fn take(&self, tenant: &TenantId, checks: &[Check], take: &[usize], now_ms: i64) -> bool {
        let map = &mut self.entries.lock().map;
        let slot = |c: &Check| (tenant.clone(), c.policy.clone(), c.key.clone());
        let enough = take.iter().all(|&i| {
            let c = &checks[i];
            map.get(&slot(c))
                .is_some_and(|e| e.until_ms > now_ms && e.remaining >= c.cost)
        });
        if !enough {
            return false;
        }
        for &i in take {
            if let Some(e) = map.get_mut(&slot(&checks[i])) {
                e.remaining -= checks[i].cost;
            }
        }
        true
    }

    /// Gives back what [`KnownRemaining::take`] took (the decision was denied elsewhere).
    pub fn give_back(&self, tenant: &TenantId, checks: &[Check], taken: &[usize]) {
        let map = &mut self.entries.lock().map;
        for &i in taken {
            let c = &checks[i];
            if let Some(e) = map.get_mut(&(tenant.clone(), c.policy.clone(), c.key.clone())) {
                e.remaining = e.remaining.saturating_add(c.cost);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Outcome;
    use crate::key::KeyPart;
    use crate::policy::{Algorithm, Policy};
    use std::time::Duration;

    fn check(key: &str, cost: u64) -> Check {
        let p = Policy::new(
            "p",
            Algorithm::Gcra,
            200,
            Duration::from_secs(3600),
            vec![KeyPart::Tenant],
        );
        Check {
            policy: p.name.clone(),
            limit: p.limit(),
            key: key.into(),
            cost,
        }
    }

    fn answer(remaining: u64, reset_after_ms: u64) -> Decision {
        Decision {
            allowed: true,
            outcome: Outcome::Allowed,
            limit: 200,
            remaining,
            reset_after_ms,
            retry_after_ms: 0,
            fallback: false,
        }
    }

    #[test]
    fn takes_never_exceed_the_last_known_remaining() {
        let k = KnownRemaining::new(10);
        let t = TenantId::generate();
        let c = [check("a", 1)];
        k.record(&t, &c, &[answer(3, 60_000)], 1_000);
        let granted = (0..10).filter(|_| k.take(&t, &c, &[0], 2_000)).count();
        assert_eq!(granted, 3);
    }

    #[test]
    fn knowledge_ends_when_the_quota_would_be_whole_again() {
        let k = KnownRemaining::new(10);
        let t = TenantId::generate();
        let c = [check("a", 1)];
        k.record(&t, &c, &[answer(0, 5_000)], 1_000);
        let left = k.lookup(&t, &c, 5_999)[0];
        assert_eq!(
            left,
            Known::Left {
                remaining: 0,
                until_ms: 6_000
            }
        );
        assert_eq!(k.lookup(&t, &c, 6_000)[0], Known::Unknown);
        assert!(
            !k.take(&t, &c, &[0], 6_000),
            "expired knowledge grants nothing"
        );
    }

    #[test]
    fn a_take_is_all_or_nothing_and_can_be_given_back() {
        let k = KnownRemaining::new(10);
        let t = TenantId::generate();
        let c = [check("a", 2), check("b", 2)];
        k.record(&t, &c, &[answer(5, 60_000), answer(1, 60_000)], 0);
        assert!(!k.take(&t, &c, &[0, 1], 1), "b has 1 < 2 left");
        assert!(k.take(&t, &c, &[0], 1));
        k.give_back(&t, &c, &[0]);
        let left = k.lookup(&t, &c, 1)[0];
        assert!(matches!(left, Known::Left { remaining: 5, .. }), "{left:?}");
    }

    #[test]
    fn tenants_and_keys_are_separate_and_the_map_is_bounded() {
        let k = KnownRemaining::new(2);
        let (t1, t2) = (TenantId::generate(), TenantId::generate());
        let c = [check("a", 1)];
        k.record(&t1, &c, &[answer(1, 60_000)], 0);
        assert_eq!(k.lookup(&t2, &c, 1)[0], Known::Unknown);
        k.record(&t2, &c, &[answer(1, 60_000)], 0);
        k.record(&t1, &[check("z", 1)], &[answer(1, 60_000)], 0);
        assert_eq!(k.lookup(&t1, &[check("z", 1)], 1)[0], Known::Unknown);
        assert_eq!(k.entries.lock().map.len(), 2);
    }
}
