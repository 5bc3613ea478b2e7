//! A bounded, sharded in-memory decision store: one process's limits, or the fallback's.

use super::clock::FastClock;
use crate::decision::{decide_all, decide_one, Check, Decision, KeyState};
use crate::store::RateLimitStore;
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use palisade_core::{SharedClock, StoreError, TenantId};
use parking_lot::{Mutex, MutexGuard};
use std::hash::{BuildHasher, Hasher};
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

/// One key: `tenant \x1f policy \x1f key`, its hash (kept for rehashing) and its state.
#[derive(Debug)]
struct Entry {
    hash: u64,
    key: Box<str>,
    state: KeyState,
    expires_at_ms: i64,
}

/// A (tenant, policy, key) borrowed from the request: looked up without composing a string.
#[derive(Clone, Copy)]
struct KeyRef<'a> {
    tenant: &'a str,
    policy: &'a str,
    key: &'a str,
}

impl<'a> KeyRef<'a> {
    fn new(tenant: &'a TenantId, c: &'a Check) -> Self {
        Self::of(tenant, &c.policy, &c.key)
    }

    fn of(tenant: &'a TenantId, policy: &'a str, key: &'a str) -> Self {
        Self {
            tenant: tenant.as_str(),
            policy,
            key,
        }
    }

    /// True when `k` is this key composed (tenants and policy names never hold `\x1f`).
    fn matches(&self, k: &str) -> bool {
        let (t, p) = (self.tenant.len(), self.policy.len());
        let b = k.as_bytes();
        b.len() == t + p + self.key.len() + 2
            && b[t] == 0x1f
            && b[t + 1 + p] == 0x1f
            && eq_short(&b[t + p + 2..], self.key.as_bytes())
            && eq_short(&b[t + 1..t + 1 + p], self.policy.as_bytes())
            && eq_short(&b[..t], self.tenant.as_bytes())
    }

    fn compose(&self) -> Box<str> {
        [self.tenant, self.policy, self.key].join("\u{1f}").into()
    }
}

/// Byte equality of two slices, 8 bytes at a time (inline: the keys compared
/// are short, and a `memcmp` call per part cost more than the comparison).
#[inline]
fn eq_short(a: &[u8], b: &[u8]) -> bool {
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or_default());
    a.len() == b.len()
        && x.by_ref().zip(y.by_ref()).all(|(p, q)| word(p) == word(q))
        && x.remainder() == y.remainder()
}

#[derive(Debug, Default)]
struct Shard {
    map: HashTable<Entry>,
}

impl Shard {
    fn find(&self, h: u64, k: &KeyRef<'_>) -> Option<&Entry> {
        self.map.find(h, |e| e.hash == h && k.matches(&e.key))
    }

    /// Stores `state` under `k`, making room first when the shard is full.
    fn put(&mut self, h: u64, k: &KeyRef<'_>, state: KeyState, exp: i64, cap: usize, now: i64) {
        if let Some(e) = self.map.find_mut(h, |e| e.hash == h && k.matches(&e.key)) {
            e.state = state;
            e.expires_at_ms = exp;
            return;
        }
        if self.map.len() >= cap {
            self.make_room(cap, now);
        }
        let entry = Entry {
            hash: h,
            key: k.compose(),
            state,
            expires_at_ms: exp,
        };
        self.map.insert_unique(h, entry, |e| e.hash);
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
/// the shard and finds the entry; lookups borrow the request's strings (a key is allocated
/// only when first stored). The default clock is [`FastClock`] (a TSC read, ~10 ns).
#[derive(Debug)]
pub struct MemoryRateLimitStore {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    hasher: RandomState,
    clock: SharedClock,
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
            per_shard: opts.max_keys.div_ceil(n).max(1),
            hasher: RandomState::default(),
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
        self.per_shard * self.shards.len()
    }

    fn hash(&self, k: &KeyRef<'_>) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(k.tenant.as_bytes());
        h.write_u8(0x1f);
        h.write(k.policy.as_bytes());
        h.write_u8(0x1f);
        h.write(k.key.as_bytes());
        h.finish()
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
        let k = KeyRef::new(tenant, c);
        let h = self.hash(&k);
        let mut shard = self.shards[self.shard_of(h)].lock();
        if let Some(e) = shard.map.find_mut(h, |e| e.hash == h && k.matches(&e.key)) {
            let (d, write) = decide_one(c, Some(&e.state), now_ms);
            if let Some(state) = write {
                e.state = state;
                e.expires_at_ms = state.expires_at_ms(&c.limit);
            }
            return d;
        }
        let (d, write) = decide_one(c, None, now_ms);
        if let Some(state) = write {
            let exp = state.expires_at_ms(&c.limit);
            shard.put(h, &k, state, exp, self.per_shard, now_ms);
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
                let k = KeyRef::new(tenant, c);
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
            .map(|((k, h), &i)| guards[pos(&guards, i)].1.find(*h, k).map(|e| e.state))
            .collect();
        let (decisions, writes) = decide_all(checks, &states, now_ms);
        for (((k, h), &i), (w, c)) in keys.iter().zip(&idx).zip(writes.into_iter().zip(checks)) {
            let Some(state) = w else { continue };
            let p = pos(&guards, i);
            let exp = state.expires_at_ms(&c.limit);
            guards[p].1.put(*h, k, state, exp, self.per_shard, now_ms);
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
        let k = KeyRef::of(tenant, policy, key);
        let h = self.hash(&k);
        let mut shard = self.shards[self.shard_of(h)].lock();
        let found = shard
            .map
            .find_entry(h, |e| e.hash == h && k.matches(&e.key));
        Ok(found.map(|e| e.remove()).is_ok())
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
    fn eq_short_compares_every_byte() {
        let a = b"tenant-0123456789abcdefXYZ";
        for n in 0..a.len() {
            assert!(eq_short(&a[..n], &a[..n]));
            for i in 0..n {
                let mut b = a[..n].to_vec();
                b[i] ^= 1;
                assert!(!eq_short(&a[..n], &b), "byte {i} of {n}");
            }
        }
        assert!(!eq_short(&a[..16], &a[..8]));
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
