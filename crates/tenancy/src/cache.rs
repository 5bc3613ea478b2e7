//! The verified-key cache: keys that authenticated, by the SHA-256 of their token, trusted only while the change feed is followed.
//!
//! Authentication reads the store only on a miss. An entry is inserted only after the store
//! said the key is valid (an unknown or wrong key is never cached, so nobody can fill the
//! cache without valid keys), lives at most `ttl`, and the map holds at most `capacity`
//! entries. Every entry is served only while the last successful read of the change feed
//! ([`FeedCache::synced`]) started less than [`MAX_STALENESS`] ago: a key revoked on any
//! instance stops authenticating everywhere within that bound, and when the feed cannot be
//! read the cache steps aside and every request reads the store again (the mechanism is
//! [`palisade_core::feed_cache`]'s, shared with the token cache). Only tenancy's own topics
//! ([`crate::topics`]) drop keys.

use crate::model::{ApiKey, Tenant};
use crate::topics;
use palisade_core::feed_cache::{FeedCache, FeedState};
pub use palisade_core::feed_cache::{Ticket, MAX_STALENESS};
use palisade_core::{Change, TenantId};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default bound on the number of cached keys.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// Default lifetime of a cached key.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// A key that authenticated, with its tenant.
#[derive(Debug)]
pub struct CachedKey {
    /// The key (its `last_used_at_ms` as of the store read).
    pub key: ApiKey,
    /// Its tenant.
    pub tenant: Tenant,
    /// Last use recorded in the store, ms since the epoch (0: never).
    pub touched_at_ms: AtomicI64,
    expires: Instant,
}

impl CachedKey {
    /// An entry for `key` of `tenant`, expiring `ttl` from now.
    pub fn new(key: ApiKey, tenant: Tenant, ttl: Duration) -> Self {
        let touched = key.last_used_at_ms.unwrap_or(0);
        Self {
            key,
            tenant,
            touched_at_ms: AtomicI64::new(touched),
            expires: Instant::now() + ttl,
        }
    }
}

/// Verified keys in process memory, bounded in size and age.
#[derive(Debug)]
pub struct KeyCache {
    inner: RwLock<Inner>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    /// By the SHA-256 hex of the whole token: never the token itself.
    entries: HashMap<String, Arc<CachedKey>>,
    /// Freshness, cursor and fill tickets.
    feed: FeedState,
}

impl KeyCache {
    /// A cache of at most `capacity` keys, each kept at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            capacity,
            ttl,
        }
    }

    /// How long an entry lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The live entry for a token hash, if the feed was read recently enough.
    pub fn get(&self, token_hash: &str) -> Option<Arc<CachedKey>> {
        let g = self.inner.read();
        let now = Instant::now();
        let fresh = g.feed.fresh(now);
        let e = g
            .entries
            .get(token_hash)
            .filter(|e| fresh && e.expires > now)?;
        Some(e.clone())
    }

    /// A ticket to take before reading the store for a miss.
    pub fn ticket(&self) -> Ticket {
        self.inner.read().feed.ticket()
    }

    /// Caches a key the store just verified, unless something was evicted since `ticket`
    /// (the read may predate a revocation) or the cache is full of live entries.
    pub fn insert(&self, ticket: Ticket, token_hash: String, entry: Arc<CachedKey>) {
        let mut g = self.inner.write();
        if !g.feed.admits(ticket) {
            return;
        }
        if g.entries.len() >= self.capacity {
            let now = Instant::now();
            g.entries.retain(|_, e| e.expires > now);
        }
        if g.entries.len() < self.capacity {
            g.entries.insert(token_hash, entry);
        }
    }

    /// Drops one key at once (this instance revoked it).
    pub fn evict_key(&self, key_id: &str) {
        let mut g = self.inner.write();
        g.feed.bump();
        g.entries.retain(|_, e| e.key.id != key_id);
    }

    /// Drops every key of a tenant at once (this instance renamed or deleted it).
    pub fn evict_tenant(&self, tenant: &TenantId) {
        let mut g = self.inner.write();
        g.feed.bump();
        g.entries.retain(|_, e| &e.key.tenant_id != tenant);
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.inner.read().entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FeedCache for KeyCache {
    fn cursor(&self) -> Option<i64> {
        self.inner.read().feed.cursor()
    }

    /// Drops the keys a tenancy change names; a gap in versions (pruned past this cache)
    /// drops everything; other capabilities' topics are ignored.
    fn apply(&self, changes: &[Change]) -> usize {
        let mut g = self.inner.write();
        let before = g.entries.len();
        if g.feed.advance(changes) {
            g.entries.clear();
        }
        for c in changes {
            match (c.topic.as_str(), &c.subject) {
                (topics::KEY_REVOKED, Some(id)) => g.entries.retain(|_, e| &e.key.id != id),
                (topics::TENANT_CHANGED | topics::TENANT_DELETED, _) => {
                    g.entries.retain(|_, e| e.key.tenant_id != c.tenant)
                }
                _ => {}
            }
        }
        before - g.entries.len()
    }

    fn synced(&self, started: Instant, head: i64) {
        let mut g = self.inner.write();
        if g.feed.synced(started, head) {
            g.entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &TenantId, id: &str) -> Arc<CachedKey> {
        let key = ApiKey {
            id: id.into(),
            tenant_id: tenant.clone(),
            name: "k".into(),
            created_at_ms: 0,
            last_used_at_ms: None,
            revoked_at_ms: None,
        };
        let t = Tenant {
            id: tenant.clone(),
            external_id: "e".into(),
            name: "n".into(),
            created_at_ms: 0,
        };
        Arc::new(CachedKey::new(key, t, Duration::from_secs(60)))
    }

    fn change(version: i64, topic: &str, tenant: &TenantId, subject: Option<&str>) -> Change {
        Change {
            version,
            topic: topic.into(),
            tenant: tenant.clone(),
            subject: subject.map(str::to_owned),
        }
    }

    fn following() -> KeyCache {
        let c = KeyCache::new(2, Duration::from_secs(60));
        c.synced(Instant::now(), 0);
        c
    }

    #[test]
    fn nothing_is_served_before_the_feed_is_followed_or_once_it_is_stale() {
        let t = TenantId::generate();
        let c = KeyCache::new(10, Duration::from_secs(60));
        c.insert(c.ticket(), "h".into(), entry(&t, "key_a"));
        assert!(c.get("h").is_none(), "not following the feed yet");
        c.synced(Instant::now(), 0);
        assert!(c.is_empty(), "the first sync drops earlier fills");
        c.insert(c.ticket(), "h".into(), entry(&t, "key_a"));
        assert!(c.get("h").is_some());
        c.synced(Instant::now() - MAX_STALENESS, 0);
        assert!(c.get("h").is_none(), "a stale feed read disables the cache");
    }

    #[test]
    fn a_fill_that_raced_an_eviction_is_dropped_and_capacity_holds() {
        let t = TenantId::generate();
        let c = following();
        let ticket = c.ticket();
        c.apply(&[change(1, topics::KEY_REVOKED, &t, Some("key_a"))]);
        c.insert(ticket, "h".into(), entry(&t, "key_a"));
        assert!(
            c.get("h").is_none(),
            "read before the revocation: not cached"
        );
        for i in 0..5 {
            c.insert(c.ticket(), format!("h{i}"), entry(&t, &format!("key_{i}")));
        }
        assert_eq!(c.len(), 2, "bounded");
    }

    #[test]
    fn other_capabilities_topics_drop_nothing() {
        let t = TenantId::generate();
        let c = following();
        c.insert(c.ticket(), "a".into(), entry(&t, "key_a"));
        assert_eq!(
            c.apply(&[change(1, "tokens.jti_revoked", &t, Some("j"))]),
            0
        );
        assert!(c.get("a").is_some());
    }

    #[test]
    fn changes_drop_what_they_name_and_a_gap_drops_everything() {
        let (t, u) = (TenantId::generate(), TenantId::generate());
        let c = KeyCache::new(10, Duration::from_secs(60));
        c.synced(Instant::now(), 0);
        c.insert(c.ticket(), "a".into(), entry(&t, "key_a"));
        c.insert(c.ticket(), "b".into(), entry(&t, "key_b"));
        c.insert(c.ticket(), "c".into(), entry(&u, "key_c"));
        assert_eq!(
            c.apply(&[change(1, topics::KEY_REVOKED, &t, Some("key_a"))]),
            1
        );
        assert!(c.get("a").is_none() && c.get("b").is_some());
        assert_eq!(c.apply(&[change(2, topics::TENANT_DELETED, &t, None)]), 1);
        assert!(c.get("b").is_none() && c.get("c").is_some());
        assert_eq!(c.apply(&[change(9, topics::TENANT_CHANGED, &t, None)]), 1);
        assert!(c.is_empty(), "versions 3..8 were missed: everything goes");
        assert_eq!(FeedCache::cursor(&c), Some(9));
    }
}
