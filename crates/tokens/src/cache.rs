//! The lookup cache: what a verify needs from the store (issuer, jti and subject revocations) in process memory, trusted only while the change feed is followed.
//!
//! A verify reads the store only on a miss. An entry is inserted only after the token it was
//! read for passed the signature and claim checks (a forged token never fills the cache) and
//! only if no change was applied since the read began ([`palisade_core::feed_cache::Ticket`]).
//! Entries are served only while the last successful read of the change feed started less
//! than [`palisade_core::feed_cache::MAX_STALENESS`] ago: a revocation recorded on any instance is refused everywhere
//! within that bound, and when the feed cannot be read the cache steps aside and every verify
//! reads the store again.
//!
//! Memory is bounded: at most `capacity` revocation entries (one per tenant, jti and subject
//! seen in a valid token, each at most 2 × 512 bytes of names) plus the issuers they name
//! (each tenant's issuers are few); an entry lives until its token's `exp` and at most
//! [`MAX_ENTRY_AGE`]. When full, expired entries are purged; if none are, a new lookup is not
//! cached (its verify still reads the store).

use crate::model::{Issuer, TokenLookup};
use crate::topics;
use palisade_core::feed_cache::{FeedCache, FeedState, Ticket};
use palisade_core::{Change, TenantId};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest an entry lives, whatever its token's `exp`.
pub const MAX_ENTRY_AGE: Duration = Duration::from_secs(300);

/// The lookup of one token: its issuer (shared by the tenant's entries) and its revocations.
#[derive(Debug, Clone)]
pub struct Found {
    /// The issuer of its `iss`.
    pub issuer: Arc<Issuer>,
    /// Its revocation state.
    pub revoked: Revoked,
}

/// The revocation state of a (jti, subject) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    /// True when the jti is revoked.
    pub jti: bool,
    /// Tokens of the subject issued before this (ms) are refused.
    pub subject_not_before_ms: Option<i64>,
}

impl From<TokenLookup> for Found {
    fn from(l: TokenLookup) -> Self {
        Self {
            issuer: Arc::new(l.issuer),
            revoked: Revoked {
                jti: l.jti_revoked,
                subject_not_before_ms: l.subject_not_before_ms,
            },
        }
    }
}

/// What the cache answered.
#[derive(Debug)]
pub enum Cached {
    /// A live entry.
    Hit(Found),
    /// Following the feed, but no entry.
    Miss,
    /// The feed was not read within the bound: read the store.
    Stale,
}

/// A revocation entry's key: a token's (jti, sub).
pub type RevKey = (Option<String>, Option<String>);

#[derive(Debug, Default)]
struct TenantEntries {
    /// By `iss`.
    issuers: HashMap<String, Arc<Issuer>>,
    /// By (jti, sub): the state and its expiry (ms since the epoch).
    revs: HashMap<RevKey, (Revoked, i64)>,
}

#[derive(Debug, Default)]
struct Inner {
    tenants: HashMap<TenantId, TenantEntries>,
    /// Revocation entries in all tenants.
    len: usize,
    feed: FeedState,
}

impl Inner {
    fn drop_revs(&mut self, tenant: &TenantId, keep: impl Fn(&RevKey) -> bool) {
        if let Some(t) = self.tenants.get_mut(tenant) {
            let before = t.revs.len();
            t.revs.retain(|k, _| keep(k));
            self.len -= before - t.revs.len();
        }
    }

    fn drop_issuers(&mut self, tenant: &TenantId) {
        if let Some(t) = self.tenants.get_mut(tenant) {
            t.issuers.clear();
        }
    }

    fn clear(&mut self) {
        self.tenants.clear();
        self.len = 0;
    }

    fn purge(&mut self, now_ms: i64) {
        for t in self.tenants.values_mut() {
            t.revs.retain(|_, (_, exp)| *exp > now_ms);
        }
        self.tenants
            .retain(|_, t| !t.revs.is_empty() || !t.issuers.is_empty());
        self.len = self.tenants.values().map(|t| t.revs.len()).sum();
    }
}

/// Token lookups in process memory, bounded in size and age.
#[derive(Debug, Default)]
pub struct LookupCache {
    inner: RwLock<Inner>,
    capacity: usize,
}

impl LookupCache {
    /// A cache of at most `capacity` revocation entries (0: nothing is ever cached).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: RwLock::default(),
            capacity,
        }
    }

    /// The live entry for a token of `tenant`, at wall time `now_ms`.
    pub fn get(
        &self,
        tenant: &TenantId,
        iss: &str,
        jti: Option<&str>,
        sub: Option<&str>,
        now_ms: i64,
    ) -> Cached {
        let g = self.inner.read();
        if !g.feed.fresh(Instant::now()) {
            return Cached::Stale;
        }
        let Some(t) = g.tenants.get(tenant) else {
            return Cached::Miss;
        };
        let key = (jti.map(str::to_owned), sub.map(str::to_owned));
        match (t.issuers.get(iss), t.revs.get(&key)) {
            (Some(i), Some((r, exp))) if *exp > now_ms => Cached::Hit(Found {
                issuer: i.clone(),
                revoked: *r,
            }),
            _ => Cached::Miss,
        }
    }

    /// A ticket to take before reading the store for a miss.
    pub fn ticket(&self) -> Ticket {
        self.inner.read().feed.ticket()
    }

    /// Caches a lookup the store answered for a token that then passed every check, until
    /// `expires_at_ms` (at most [`MAX_ENTRY_AGE`] after `now_ms`); dropped if anything changed
    /// since `ticket` or the cache is full of live entries.
    pub fn insert(
        &self,
        ticket: Ticket,
        tenant: &TenantId,
        key: RevKey,
        found: &Found,
        expires_at_ms: i64,
        now_ms: i64,
    ) {
        let mut g = self.inner.write();
        if !g.feed.admits(ticket) || self.capacity == 0 {
            return;
        }
        if g.len >= self.capacity {
            g.purge(now_ms);
        }
        let exp = expires_at_ms.min(now_ms + MAX_ENTRY_AGE.as_millis() as i64);
        let full = g.len >= self.capacity;
        let t = g.tenants.entry(tenant.clone()).or_default();
        t.issuers
            .insert(found.issuer.spec.issuer.clone(), found.issuer.clone());
        if full && !t.revs.contains_key(&key) {
            return;
        }
        if t.revs.insert(key, (found.revoked, exp)).is_none() {
            g.len += 1;
        }
    }

    /// Drops the entries of one jti at once (this instance revoked it).
    pub fn evict_jti(&self, tenant: &TenantId, jti: &str) {
        let mut g = self.inner.write();
        g.feed.bump();
        g.drop_revs(tenant, |(j, _)| j.as_deref() != Some(jti));
    }

    /// Drops the entries of one subject at once (this instance revoked it).
    pub fn evict_subject(&self, tenant: &TenantId, sub: &str) {
        let mut g = self.inner.write();
        g.feed.bump();
        g.drop_revs(tenant, |(_, s)| s.as_deref() != Some(sub));
    }

    /// Drops a tenant's issuers at once (this instance changed one).
    pub fn evict_issuers(&self, tenant: &TenantId) {
        let mut g = self.inner.write();
        g.feed.bump();
        g.drop_issuers(tenant);
    }

    /// Number of revocation entries.
    pub fn len(&self) -> usize {
        self.inner.read().len
    }

    /// True when no revocation entry is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FeedCache for LookupCache {
    fn cursor(&self) -> Option<i64> {
        self.inner.read().feed.cursor()
    }

    /// Drops what a token change names; a gap in versions drops everything; other
    /// capabilities' topics are ignored.
    fn apply(&self, changes: &[Change]) -> usize {
        let mut g = self.inner.write();
        let before = g.len;
        if g.feed.advance(changes) {
            g.clear();
        }
        for c in changes {
            let s = c.subject.as_deref();
            match c.topic.as_str() {
                topics::JTI_REVOKED => g.drop_revs(&c.tenant, |(j, _)| j.as_deref() != s),
                topics::SUBJECT_REVOKED => g.drop_revs(&c.tenant, |(_, u)| u.as_deref() != s),
                topics::ISSUERS_CHANGED => g.drop_issuers(&c.tenant),
                _ => {}
            }
        }
        before.saturating_sub(g.len)
    }

    fn synced(&self, started: Instant, head: i64) {
        let mut g = self.inner.write();
        if g.feed.synced(started, head) {
            g.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alg, IssuerId, IssuerSpec};
    use palisade_core::feed_cache::MAX_STALENESS;

    fn found(iss: &str, jti_revoked: bool) -> Found {
        let spec = IssuerSpec {
            issuer: iss.into(),
            jwks_url: "https://idp.test/jwks".into(),
            audiences: vec!["api".into()],
            algorithms: vec![Alg::RS256],
            leeway_secs: None,
        };
        let issuer = Issuer {
            id: IssuerId::generate(),
            spec,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        Found {
            issuer: Arc::new(issuer),
            revoked: Revoked {
                jti: jti_revoked,
                subject_not_before_ms: None,
            },
        }
    }

    fn key(jti: &str, sub: &str) -> RevKey {
        (Some(jti.into()), Some(sub.into()))
    }

    fn change(version: i64, topic: &str, tenant: &TenantId, subject: Option<&str>) -> Change {
        Change {
            version,
            topic: topic.into(),
            tenant: tenant.clone(),
            subject: subject.map(str::to_owned),
        }
    }

    fn following(capacity: usize) -> LookupCache {
        let c = LookupCache::new(capacity);
        c.synced(Instant::now(), 0);
        c
    }

    fn hit(c: &LookupCache, t: &TenantId, jti: &str, sub: &str, now: i64) -> bool {
        matches!(c.get(t, "iss", Some(jti), Some(sub), now), Cached::Hit(_))
    }

    #[test]
    fn nothing_is_served_before_the_feed_is_followed_or_once_it_is_stale() {
        let t = TenantId::generate();
        let c = LookupCache::new(10);
        c.insert(
            c.ticket(),
            &t,
            key("j", "u"),
            &found("iss", false),
            10_000,
            0,
        );
        assert!(matches!(
            c.get(&t, "iss", Some("j"), Some("u"), 0),
            Cached::Stale
        ));
        c.synced(Instant::now(), 0);
        assert!(c.is_empty(), "the first sync drops earlier fills");
        c.insert(
            c.ticket(),
            &t,
            key("j", "u"),
            &found("iss", false),
            10_000,
            0,
        );
        assert!(hit(&c, &t, "j", "u", 0));
        assert!(!hit(&c, &t, "j", "u", 10_000), "past the token's exp");
        c.synced(Instant::now() - MAX_STALENESS, 0);
        assert!(
            matches!(c.get(&t, "iss", Some("j"), Some("u"), 0), Cached::Stale),
            "a stale feed read disables the cache"
        );
    }

    #[test]
    fn changes_drop_what_they_name_and_fills_that_raced_them_are_dropped() {
        let (t, u) = (TenantId::generate(), TenantId::generate());
        let c = following(10);
        for (tenant, j, s) in [(&t, "j1", "s1"), (&t, "j2", "s2"), (&u, "j1", "s1")] {
            c.insert(
                c.ticket(),
                tenant,
                key(j, s),
                &found("iss", false),
                10_000,
                0,
            );
        }
        let ticket = c.ticket();
        assert_eq!(
            c.apply(&[change(1, topics::JTI_REVOKED, &t, Some("j1"))]),
            1
        );
        assert!(!hit(&c, &t, "j1", "s1", 0) && hit(&c, &u, "j1", "s1", 0));
        c.insert(ticket, &t, key("j1", "s1"), &found("iss", false), 10_000, 0);
        assert!(
            !hit(&c, &t, "j1", "s1", 0),
            "read before the revocation: not cached"
        );
        assert_eq!(
            c.apply(&[change(2, topics::SUBJECT_REVOKED, &t, Some("s2"))]),
            1
        );
        assert!(!hit(&c, &t, "j2", "s2", 0));
        assert_eq!(c.apply(&[change(3, topics::ISSUERS_CHANGED, &u, None)]), 0);
        assert!(!hit(&c, &u, "j1", "s1", 0), "the issuer is gone");
        assert_eq!(
            c.apply(&[change(4, "tenancy.key_revoked", &t, Some("j1"))]),
            0
        );
        c.insert(
            c.ticket(),
            &t,
            key("j3", "s3"),
            &found("iss", false),
            10_000,
            0,
        );
        assert_eq!(c.apply(&[change(9, topics::ISSUERS_CHANGED, &u, None)]), 2);
        assert!(c.is_empty(), "versions 5..8 were missed: everything goes");
    }

    #[test]
    fn capacity_holds_and_expired_entries_make_room() {
        let t = TenantId::generate();
        let c = following(2);
        for i in 0..5 {
            let k = key(&format!("j{i}"), "s");
            c.insert(c.ticket(), &t, k, &found("iss", false), 1_000, 0);
        }
        assert_eq!(c.len(), 2, "bounded");
        c.insert(
            c.ticket(),
            &t,
            key("late", "s"),
            &found("iss", true),
            9_000,
            2_000,
        );
        assert_eq!(c.len(), 1, "the expired entries were purged");
        assert!(hit(&c, &t, "late", "s", 2_000));
        assert!(LookupCache::new(0).is_empty());
    }
}
