//! A bounded, sharded in-memory decision store: one process's limits, or the fallback's.

use super::clock::FastClock;
use super::entry::{Entry, KeyRef};
use crate::decision::{decide_all, decide_one, Check, Decision, KeyState};
use crate::store::RateLimitStore;
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use palisade_core::{SharedClock, StoreError, TenantId};
use parking_lot::{Mutex, MutexGuard};
use std::sync::Arc;

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

#[derive(Debug, Default)]
struct Shard {
    map: HashTable<Entry>,
}

impl Shard {
    #[inline]
    fn find(&self, h: u64, k: &KeyRef<'_>) -> Option<&Entry> {
        self.map.find(h, |e| e.is(k))
    }

    /// Stores `state` under `k`, making room first when the shard is full.
    fn put(&mut self, h: u64, k: &KeyRef<'_>, state: KeyState, exp: i64, now: i64, s: &Sizing) {
        if let Some(e) = self.map.find_mut(h, |e| e.is(k)) {
            e.set(state, exp);
            return;
        }
        if self.map.len() >= s.per_shard {
            self.make_room(s.per_shard, now);
        }
        let seed = &s.hasher;
        self.map
            .insert_unique(h, Entry::new(k, state, exp), |e| e.hash(seed));
    }

    /// Frees at least one slot: drops expired keys, then (when still ≥ 90% full) the tenth
    /// of keys that expire soonest. Amortised O(1) per insert.
    fn make_room(&mut self, cap: usize, now_ms: i64) {
        self.map.retain(|e| e.expires_at_ms > now_ms);
        if self.map.len() * 10 < cap * 9 {
            return;
        }
        let mut exp: Vec<i64> = self.map.iter().map(|e| e.expires_at_ms).collect();
        let nth = (exp.len() / 10).max(1) - 1;
        let (_, cut, _) = exp.select_nth_unstable(nth);
        let cut = *cut;
        let mut budget = nth + 1;
        self.map.retain(|e| {
            let drop = e.expires_at_ms <= cut && budget > 0;
            budget -= drop as usize;
            !drop
        });
    }
}

/// Rate-limit state in process memory: sharded locks, bounded key count, expired keys evicted.
///
/// A key is hashed once (foldhash, seeded randomly per store against HashDoS), the hash picks
/// the shard and finds the entry; lookups borrow the request's strings. An entry is one cache
/// line (names up to 30 bytes inline, longer ones on the heap; GCRA and fixed-window state
/// inline). An allowed GCRA or fixed-window check of an existing key is decided in place;
/// everything else goes through [`decide_one`]. The default clock is [`FastClock`] (a TSC
/// read, ~10 ns).
#[derive(Debug)]
pub struct MemoryRateLimitStore {
    shards: Box<[Mutex<Shard>]>,
    sizing: Sizing,
    clock: SharedClock,
}

/// What a shard needs to insert: its cap and the store's hash seed.
#[derive(Debug)]
struct Sizing {
    per_shard: usize,
    hasher: RandomState,
}

impl Default for MemoryRateLimitStore {
    fn default() -> Self {
        Self::new(MemoryOptions::default())
    }
}

impl MemoryRateLimitStore {
    /// A store sized by `opts`, on a [`FastClock`].
    pub fn new(opts: MemoryOptions) -> Self {
        let n = opts.shards.max(1).next_power_of_two();
        Self {
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            sizing: Sizing {
                per_shard: opts.max_keys.div_ceil(n).max(1),
                hasher: RandomState::default(),
            },
            clock: Arc::new(FastClock::new()),
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
        self.sizing.per_shard * self.shards.len()
    }

    #[inline]
    fn hash(&self, k: &KeyRef<'_>) -> u64 {
        k.hash(&self.sizing.hasher)
    }

    /// The shard of a hash: middle bits, independent of the bits the table itself uses
    /// (low bits pick the bucket, the top 7 are the tag).
    fn shard_of(&self, h: u64) -> usize {
        (h >> 32) as usize & (self.shards.len() - 1)
    }

    /// Decides one check on the store's clock: one hash, one shard lock, no allocation unless
    /// the key is new. The in-process hot path.
    pub fn check_one(&self, tenant: &TenantId, check: &Check) -> Decision {
        self.check_one_at(tenant, check, self.clock.now_ms())
    }

    /// [`Self::check_one`] at an explicit instant.
    pub fn check_one_at(&self, tenant: &TenantId, c: &Check, now_ms: i64) -> Decision {
        let k = KeyRef::of(tenant.as_str(), &c.policy, &c.key);
        let h = self.hash(&k);
        let mut shard = self.shards[self.shard_of(h)].lock();
        if let Some(e) = shard.map.find_mut(h, |e| e.is(&k)) {
            if let Some(d) = e.allow_in_place(c, now_ms) {
                return d;
            }
            let (d, write) = decide_one(c, Some(&e.state()), now_ms);
            if let Some(state) = write {
                e.set(state, state.expires_at_ms(&c.limit));
            }
            return d;
        }
        let (d, write) = decide_one(c, None, now_ms);
        if let Some(state) = write {
            let exp = state.expires_at_ms(&c.limit);
            shard.put(h, &k, state, exp, now_ms, &self.sizing);
        }
        d
    }

    /// Decides at an explicit instant (the fallback and the trait both come here).
    pub fn check_at(&self, tenant: &TenantId, checks: &[Check], now_ms: i64) -> Vec<Decision> {
        if let [c] = checks {
            return vec![self.check_one_at(tenant, c, now_ms)];
        }
        let keys: Vec<(KeyRef<'_>, u64)> = checks
            .iter()
            .map(|c| {
                let k = KeyRef::of(tenant.as_str(), &c.policy, &c.key);
                (k, self.hash(&k))
            })
            .collect();
        let idx: Vec<usize> = keys.iter().map(|(_, h)| self.shard_of(*h)).collect();
        let mut order = idx.clone();
        order.sort_unstable();
        order.dedup();
        let mut guards: Vec<(usize, MutexGuard<'_, Shard>)> =
            order.iter().map(|&i| (i, self.shards[i].lock())).collect();
        let pos = |g: &[(usize, MutexGuard<'_, Shard>)], i: usize| {
            g.iter().position(|(j, _)| *j == i).unwrap_or(0)
        };
        let states: Vec<Option<KeyState>> = keys
            .iter()
            .zip(&idx)
            .map(|((k, h), &i)| guards[pos(&guards, i)].1.find(*h, k).map(|e| e.state()))
            .collect();
        let (decisions, writes) = decide_all(checks, &states, now_ms);
        for (((k, h), &i), (w, c)) in keys.iter().zip(&idx).zip(writes.into_iter().zip(checks)) {
            let Some(state) = w else { continue };
            let p = pos(&guards, i);
            let exp = state.expires_at_ms(&c.limit);
            guards[p].1.put(*h, k, state, exp, now_ms, &self.sizing);
        }
        decisions
    }
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
        let k = KeyRef::of(tenant.as_str(), policy, key);
        let h = self.hash(&k);
        let mut shard = self.shards[self.shard_of(h)].lock();
        let found = shard.map.find_entry(h, |e| e.is(&k));
        Ok(found.map(|e| e.remove()).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Algorithm, Limit, OnStoreError, Policy};
    use crate::KeyPart;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::time::Duration;

    fn limit(algorithm: Algorithm, quota: u64, burst: u64, block_ms: u64, shadow: bool) -> Limit {
        Limit {
            algorithm,
            quota,
            window_ms: 1000,
            burst,
            block_ms,
            shadow,
            on_store_error: OnStoreError::Fallback,
        }
    }

    proptest! {
        /// The store (with its in-place fast path) decides and stores exactly what
        /// `decide_one` over a plain map does: every algorithm, blocks, shadow mode, cost 0,
        /// a key whose policy changes algorithm, long keys.
        #[test]
        fn decides_like_decide_one(
            steps in proptest::collection::vec(
                (0i64..400, 0usize..3, 0u8..3, 0u64..4, 1u64..6, any::<bool>(), any::<bool>()),
                1..300,
            ),
        ) {
            let store = MemoryRateLimitStore::new(MemoryOptions { max_keys: 1000, shards: 2 });
            let t = TenantId::parse("t").unwrap();
            let mut model: HashMap<String, KeyState> = HashMap::new();
            let mut now = 1_000_000i64;
            for (dt, key, algo, cost, quota, block, shadow) in steps {
                now += dt;
                let algorithm = [Algorithm::Gcra, Algorithm::FixedWindow, Algorithm::SlidingWindow]
                    [algo as usize];
                let key = ["a", "b", "a-key-longer-than-thirty-bytes-0123456789"][key].to_owned();
                let c = Check {
                    policy: "p".into(),
                    limit: limit(algorithm, quota, quota, if block { 500 } else { 0 }, shadow),
                    key: key.clone(),
                    cost: cost.min(quota),
                };
                let (want, write) = decide_one(&c, model.get(&key), now);
                if let Some(w) = write {
                    model.insert(key, w);
                }
                prop_assert_eq!(store.check_one_at(&t, &c, now), want);
            }
        }
    }

    #[test]
    fn racing_threads_get_exactly_the_quota() {
        for algorithm in [
            Algorithm::Gcra,
            Algorithm::FixedWindow,
            Algorithm::SlidingWindow,
        ] {
            let store =
                MemoryRateLimitStore::default().with_clock(palisade_core::ManualClock::new(0));
            let t = TenantId::parse("t").unwrap();
            let c = Check {
                policy: "p".into(),
                limit: Limit {
                    window_ms: 3_600_000,
                    ..limit(algorithm, 1000, 1000, 0, false)
                },
                key: "hot".into(),
                cost: 1,
            };
            let allowed: usize = std::thread::scope(|s| {
                let hs: Vec<_> = (0..4)
                    .map(|_| {
                        s.spawn(|| {
                            (0..1000)
                                .filter(|_| store.check_one(&t, &c).allowed)
                                .count()
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(allowed, 1000, "{algorithm:?}");
        }
    }

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
