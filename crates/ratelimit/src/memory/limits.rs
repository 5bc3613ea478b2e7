//! A bounded, sharded in-memory decision store: one process's limits, or the fallback's.

use crate::decision::{decide_all, decide_one, Check, Decision, KeyState};
use crate::store::RateLimitStore;
use palisade_core::{SharedClock, StoreError, SystemClock, TenantId};
use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Sizing of [`MemoryRateLimitStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryOptions {
    /// The most keys kept (across shards); past it expired keys are evicted, then the keys
    /// closest to expiry. Each key costs at most ~1 KiB (keys are ≤ 512 bytes).
    pub max_keys: usize,
    /// Lock shards (rounded up to a power of two).
    pub shards: usize,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        Self {
            max_keys: 1_000_000,
            shards: 64,
        }
    }
}

#[derive(Debug)]
struct Entry {
    state: KeyState,
    expires_at_ms: i64,
}

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Box<str>, Entry>,
}

impl Shard {
    /// Frees at least one slot: drops expired keys, then (when still ≥ 90% full) the tenth
    /// of keys that expire soonest. Amortised O(1) per insert.
    fn make_room(&mut self, cap: usize, now_ms: i64) {
        self.map.retain(|_, e| e.expires_at_ms > now_ms);
        if self.map.len() * 10 < cap * 9 {
            return;
        }
        let mut exp: Vec<i64> = self.map.values().map(|e| e.expires_at_ms).collect();
        let nth = (exp.len() / 10).max(1) - 1;
        let (_, cut, _) = exp.select_nth_unstable(nth);
        let cut = *cut;
        let mut budget = nth + 1;
        self.map.retain(|_, e| {
            let drop = e.expires_at_ms <= cut && budget > 0;
            budget -= drop as usize;
            !drop
        });
    }
}

/// Rate-limit state in process memory: sharded locks, bounded key count, expired keys evicted.
#[derive(Debug)]
pub struct MemoryRateLimitStore {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
    clock: SharedClock,
}

impl Default for MemoryRateLimitStore {
    fn default() -> Self {
        Self::new(MemoryOptions::default())
    }
}

impl MemoryRateLimitStore {
    /// A store sized by `opts`, on the system clock.
    pub fn new(opts: MemoryOptions) -> Self {
        let n = opts.shards.max(1).next_power_of_two();
        Self {
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: opts.max_keys.div_ceil(n).max(1),
            hasher: Default::default(),
            clock: SystemClock::shared(),
        }
    }

    /// Replaces the clock (tests drive a manual one).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Keys currently held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys this store holds.
    pub fn capacity(&self) -> usize {
        self.per_shard * self.shards.len()
    }

    fn shard_of(&self, k: &str) -> usize {
        self.hasher.hash_one(k) as usize & (self.shards.len() - 1)
    }

    /// Decides at an explicit instant (the fallback and the trait both come here).
    pub fn check_at(&self, tenant: &TenantId, checks: &[Check], now_ms: i64) -> Vec<Decision> {
        if let [c] = checks {
            return vec![self.check_one(tenant, c, now_ms)];
        }
        let keys: Vec<String> = checks
            .iter()
            .map(|c| compose(tenant, &c.policy, &c.key))
            .collect();
        let idx: Vec<usize> = keys.iter().map(|k| self.shard_of(k)).collect();
        let mut order = idx.clone();
        order.sort_unstable();
        order.dedup();
        let mut guards: Vec<(usize, MutexGuard<'_, Shard>)> =
            order.iter().map(|&i| (i, self.shards[i].lock())).collect();
        let guard = |g: &mut Vec<(usize, MutexGuard<'_, Shard>)>, i: usize| {
            g.iter().position(|(j, _)| *j == i).unwrap_or(0)
        };
        let states: Vec<Option<KeyState>> = keys
            .iter()
            .zip(&idx)
            .map(|(k, &i)| {
                let p = guard(&mut guards, i);
                guards[p].1.map.get(k.as_str()).map(|e| e.state)
            })
            .collect();
        let (decisions, writes) = decide_all(checks, &states, now_ms);
        for (((k, &i), w), c) in keys.into_iter().zip(&idx).zip(writes).zip(checks) {
            let Some(state) = w else { continue };
            let p = guard(&mut guards, i);
            let shard = &mut guards[p].1;
            let expires_at_ms = state.expires_at_ms(&c.limit);
            if let Some(e) = shard.map.get_mut(k.as_str()) {
                *e = Entry {
                    state,
                    expires_at_ms,
                };
                continue;
            }
            if shard.map.len() >= self.per_shard {
                shard.make_room(self.per_shard, now_ms);
            }
            shard.map.insert(
                k.into_boxed_str(),
                Entry {
                    state,
                    expires_at_ms,
                },
            );
        }
        decisions
    }
}

impl MemoryRateLimitStore {
    /// One check: one shard lock, no allocation unless the key is new (the composed key is
    /// built in a reused per-thread buffer).
    fn check_one(&self, tenant: &TenantId, c: &Check, now_ms: i64) -> Decision {
        thread_local! {
            static BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        BUF.with(|b| {
            let mut k = b.borrow_mut();
            k.clear();
            compose_into(&mut k, tenant, &c.policy, &c.key);
            let mut shard = self.shards[self.shard_of(&k)].lock();
            let state = shard.map.get(k.as_str()).map(|e| e.state);
            let (d, write) = decide_one(c, state, now_ms);
            let Some(state) = write else { return d };
            let entry = Entry {
                state,
                expires_at_ms: state.expires_at_ms(&c.limit),
            };
            if let Some(e) = shard.map.get_mut(k.as_str()) {
                *e = entry;
                return d;
            }
            if shard.map.len() >= self.per_shard {
                shard.make_room(self.per_shard, now_ms);
            }
            shard.map.insert(k.as_str().into(), entry);
            d
        })
    }
}

fn compose_into(s: &mut String, tenant: &TenantId, policy: &str, key: &str) {
    s.push_str(tenant.as_str());
    s.push('\u{1f}');
    s.push_str(policy);
    s.push('\u{1f}');
    s.push_str(key);
}

fn compose(tenant: &TenantId, policy: &str, key: &str) -> String {
    let mut s = String::with_capacity(tenant.as_str().len() + policy.len() + key.len() + 2);
    s.push_str(tenant.as_str());
    s.push('\u{1f}');
    s.push_str(policy);
    s.push('\u{1f}');
    s.push_str(key);
    s
}

#[async_trait::async_trait]
impl RateLimitStore for MemoryRateLimitStore {
    async fn ratelimit_check(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        Ok(self.check_at(tenant, checks, self.clock.now_ms()))
    }

    async fn ratelimit_reset(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let k = compose(tenant, policy, key);
        let i = self.shard_of(&k);
        Ok(self.shards[i].lock().map.remove(k.as_str()).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Algorithm, Policy};
    use crate::KeyPart;
    use std::time::Duration;

    #[test]
    fn a_flood_of_random_ipv6_keys_stays_under_the_cap() {
        let store = MemoryRateLimitStore::new(MemoryOptions {
            max_keys: 4096,
            shards: 16,
        });
        let t = TenantId::parse("t").unwrap();
        let p = Policy::new(
            "ip",
            Algorithm::SlidingWindow,
            10,
            Duration::from_secs(3600),
            vec![KeyPart::Ip { ipv6_prefix: None }],
        );
        for i in 0..100_000u32 {
            let ip = std::net::Ipv6Addr::from(rand::random::<u128>());
            let c = Check {
                policy: p.name.clone(),
                limit: p.limit(),
                key: format!("ip={ip}"),
                cost: 1,
            };
            assert!(store.check_at(&t, &[c], 1_000_000 + i as i64)[0].allowed);
            assert!(store.len() <= store.capacity());
        }
        assert!(store.capacity() <= 4096 + 16);
        assert!(
            store.len() > 3000,
            "the cap is used, not emptied: {}",
            store.len()
        );
    }

    #[test]
    fn expired_keys_are_evicted_first() {
        let store = MemoryRateLimitStore::new(MemoryOptions {
            max_keys: 100,
            shards: 1,
        });
        let t = TenantId::parse("t").unwrap();
        let short = Policy::new(
            "s",
            Algorithm::FixedWindow,
            5,
            Duration::from_secs(1),
            vec![KeyPart::Tenant],
        );
        let long = Policy::new(
            "l",
            Algorithm::FixedWindow,
            5,
            Duration::from_secs(3600),
            vec![KeyPart::Tenant],
        );
        let chk = |p: &Policy, k: String| Check {
            policy: p.name.clone(),
            limit: p.limit(),
            key: k,
            cost: 1,
        };
        store.check_at(&t, &[chk(&long, "keep".into())], 0);
        for i in 0..99 {
            store.check_at(&t, &[chk(&short, format!("k{i}"))], 0);
        }
        store.check_at(&t, &[chk(&short, "new".into())], 5_000);
        assert_eq!(store.len(), 2, "expired keys went, the live one stayed");
        let d = store.check_at(&t, &[chk(&long, "keep".into())], 5_000);
        assert_eq!(d[0].remaining, 3);
    }
}
