//! An in-memory token store, for tests and single-process embedding.

use crate::model::{Issuer, IssuerId, Revocation, TokenLookup};
use crate::store::TokenStore;
use crate::topics;
use palisade_core::{
    Change, ChangeFeed, ChangeRecord, MemoryChanges, Page, PageRequest, SharedClock, StoreError,
    SystemClock, TenantId,
};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default)]
struct State {
    issuers: BTreeMap<(TenantId, IssuerId), Issuer>,
    jtis: HashMap<(TenantId, String), i64>,
    subjects: HashMap<(TenantId, String), i64>,
    changes: MemoryChanges,
}

impl State {
    fn record(&mut self, topic: &'static str, tenant: &TenantId, subject: Option<&str>) {
        self.changes.record(ChangeRecord {
            topic,
            tenant,
            subject,
        });
    }
}

/// Issuers and revocations in process memory; lost on restart. Each operation holds the one
/// mutex, so it is atomic.
#[derive(Debug)]
pub struct MemoryTokenStore {
    clock: SharedClock,
    state: Mutex<State>,
}

impl Default for MemoryTokenStore {
    fn default() -> Self {
        Self::new(SystemClock::shared())
    }
}

impl MemoryTokenStore {
    /// An empty store on `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            state: Mutex::default(),
        }
    }
}

fn iss_taken(s: &State, tenant: &TenantId, issuer: &Issuer) -> bool {
    s.issuers.iter().any(|((t, id), i)| {
        t == tenant && *id != issuer.id && i.spec.issuer == issuer.spec.issuer // ct-ok: issuer names are public
    })
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn issuer_create(&self, tenant: &TenantId, issuer: &Issuer) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        let key = (tenant.clone(), issuer.id.clone());
        if iss_taken(&s, tenant, issuer) || s.issuers.contains_key(&key) {
            return Err(StoreError::Conflict("token_issuers".into()));
        }
        s.issuers.insert(key, issuer.clone());
        s.record(topics::ISSUERS_CHANGED, tenant, None);
        Ok(())
    }

    async fn issuer_get(
        &self,
        tenant: &TenantId,
        id: &IssuerId,
    ) -> Result<Option<Issuer>, StoreError> {
        let s = self.state.lock();
        Ok(s.issuers.get(&(tenant.clone(), id.clone())).cloned())
    }

    async fn issuer_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Issuer>, StoreError> {
        let s = self.state.lock();
        let rows: Vec<Issuer> = s
            .issuers
            .iter()
            .filter(|((t, id), _)| {
                t == tenant && page.after.as_deref().is_none_or(|a| id.as_str() > a)
            })
            .map(|(_, i)| i.clone())
            .take(page.limit as usize + 1)
            .collect();
        Ok(Page::from_rows(rows, page.limit, |i| {
            i.id.as_str().to_owned()
        }))
    }

    async fn issuer_update(&self, tenant: &TenantId, issuer: &Issuer) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        if iss_taken(&s, tenant, issuer) {
            return Err(StoreError::Conflict("token_issuers".into()));
        }
        let Some(slot) = s.issuers.get_mut(&(tenant.clone(), issuer.id.clone())) else {
            return Ok(false);
        };
        slot.spec = issuer.spec.clone();
        slot.updated_at_ms = issuer.updated_at_ms;
        s.record(topics::ISSUERS_CHANGED, tenant, None);
        Ok(true)
    }

    async fn issuer_delete(&self, tenant: &TenantId, id: &IssuerId) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        let gone = s.issuers.remove(&(tenant.clone(), id.clone())).is_some();
        if gone {
            s.record(topics::ISSUERS_CHANGED, tenant, None);
        }
        Ok(gone)
    }

    async fn token_lookup(
        &self,
        tenant: &TenantId,
        iss: &str,
        jti: Option<&str>,
        sub: Option<&str>,
    ) -> Result<Option<TokenLookup>, StoreError> {
        let now = self.clock.now_ms();
        let s = self.state.lock();
        let Some(issuer) = s
            .issuers
            .iter()
            .find(|((t, _), i)| t == tenant && i.spec.issuer == iss) // ct-ok: issuer names are public
            .map(|(_, i)| i.clone())
        else {
            return Ok(None);
        };
        let jti_revoked = jti.is_some_and(|j| {
            s.jtis
                .get(&(tenant.clone(), j.to_owned()))
                .is_some_and(|exp| *exp > now)
        });
        let subject_not_before_ms =
            sub.and_then(|u| s.subjects.get(&(tenant.clone(), u.to_owned())).copied());
        Ok(Some(TokenLookup {
            issuer,
            jti_revoked,
            subject_not_before_ms,
        }))
    }

    async fn revocation_put(&self, tenant: &TenantId, r: &Revocation) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        let (map, key, v, topic) = match r {
            Revocation::Jti { jti, expires_at_ms } => {
                (&mut s.jtis, jti, *expires_at_ms, topics::JTI_REVOKED)
            }
            Revocation::Subject {
                subject,
                not_before_ms,
            } => (
                &mut s.subjects,
                subject,
                *not_before_ms,
                topics::SUBJECT_REVOKED,
            ),
        };
        let slot = map.entry((tenant.clone(), key.clone())).or_insert(v);
        *slot = (*slot).max(v);
        s.record(topic, tenant, Some(key));
        Ok(())
    }

    async fn revocation_purge(&self, limit: u32) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        let mut s = self.state.lock();
        let dead: Vec<_> = s
            .jtis
            .iter()
            .filter(|(_, exp)| **exp <= now)
            .map(|(k, _)| k.clone())
            .take(limit as usize)
            .collect();
        for k in &dead {
            s.jtis.remove(k);
        }
        Ok(dead.len() as u64)
    }
}

/// The feed in memory ([`MemoryChanges`]).
#[async_trait::async_trait]
impl ChangeFeed for MemoryTokenStore {
    async fn change_head(&self) -> Result<i64, StoreError> {
        Ok(self.state.lock().changes.head())
    }

    async fn change_read(&self, after: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        Ok(self.state.lock().changes.read(after, limit))
    }

    async fn change_prune(&self, _before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        Ok(self.state.lock().changes.prune(limit))
    }
}
