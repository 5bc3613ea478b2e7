//! An in-memory tenancy store, for tests and for embedding without a database.

use crate::model::{ApiKey, KeyRecord, KeyStatus, Tenant, TenantCreate};
use crate::store::TenantStore;
use crate::topics;
use palisade_core::{
    Change, ChangeFeed, ChangeRecord, MemoryChanges, Page, PageRequest, StoreError, TenantId,
};
use parking_lot::Mutex;
use std::collections::BTreeMap;

/// Tenants and keys in process memory; lost on restart.
#[derive(Debug, Default)]
pub struct MemoryTenantStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tenants: BTreeMap<TenantId, Tenant>,
    keys: BTreeMap<String, KeyRecord>,
    changes: MemoryChanges,
}

impl Inner {
    fn record(&mut self, topic: &'static str, tenant: &TenantId, subject: Option<&str>) {
        self.changes.record(ChangeRecord {
            topic,
            tenant,
            subject,
        });
    }
}

fn after<'a, K: Ord + 'a, V: Clone + 'a>(
    items: impl Iterator<Item = (&'a K, &'a V)>,
    skip: impl Fn(&K) -> bool,
    limit: u32,
) -> Vec<V> {
    items
        .filter(|(k, _)| !skip(k))
        .take(limit as usize + 1)
        .map(|(_, v)| v.clone())
        .collect()
}

#[async_trait::async_trait]
impl TenantStore for MemoryTenantStore {
    async fn tenant_create(
        &self,
        id: TenantId,
        req: &TenantCreate,
        now_ms: i64,
    ) -> Result<(Tenant, bool), StoreError> {
        let mut g = self.inner.lock();
        if let Some(t) = g
            .tenants
            .values()
            .find(|t| t.external_id == req.external_id)
        {
            return Ok((t.clone(), false));
        }
        let t = Tenant {
            id: id.clone(),
            external_id: req.external_id.clone(),
            name: req.name.clone(),
            created_at_ms: now_ms,
        };
        g.tenants.insert(id, t.clone());
        Ok((t, true))
    }

    async fn tenant_get(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        Ok(self.inner.lock().tenants.get(id).cloned())
    }

    async fn tenant_list(&self, page: &PageRequest) -> Result<Page<Tenant>, StoreError> {
        let g = self.inner.lock();
        let cur = page.after.clone().unwrap_or_default();
        let rows = after(g.tenants.iter(), |k| k.as_str() <= cur.as_str(), page.limit);
        Ok(Page::from_rows(rows, page.limit, |t| t.id.to_string()))
    }

    async fn tenant_rename(
        &self,
        id: &TenantId,
        name: &str,
        _now_ms: i64,
    ) -> Result<Option<Tenant>, StoreError> {
        let mut g = self.inner.lock();
        let Some(t) = g.tenants.get_mut(id) else {
            return Ok(None);
        };
        t.name = name.to_owned();
        let t = t.clone();
        g.record(topics::TENANT_CHANGED, id, None);
        Ok(Some(t))
    }

    async fn tenant_delete(&self, id: &TenantId, _now_ms: i64) -> Result<bool, StoreError> {
        let mut g = self.inner.lock();
        if g.tenants.remove(id).is_none() {
            return Ok(false);
        }
        g.keys.retain(|_, r| &r.key.tenant_id != id);
        g.record(topics::TENANT_DELETED, id, None);
        Ok(true)
    }

    async fn key_create(&self, tenant: &TenantId, rec: &KeyRecord) -> Result<(), StoreError> {
        let mut g = self.inner.lock();
        if &rec.key.tenant_id != tenant || !g.tenants.contains_key(tenant) {
            return Err(StoreError::Backend(
                "key tenant mismatch or unknown tenant".into(),
            ));
        }
        if g.keys.contains_key(&rec.key.id) {
            return Err(StoreError::Conflict("api key id".into()));
        }
        g.keys.insert(rec.key.id.clone(), rec.clone());
        Ok(())
    }

    async fn key_list(
        &self,
        tenant: &TenantId,
        status: KeyStatus,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>, StoreError> {
        let g = self.inner.lock();
        let cur = page.after.clone().unwrap_or_default();
        let mine = g
            .keys
            .iter()
            .filter(|(_, r)| &r.key.tenant_id == tenant && status.admits(&r.key));
        let rows: Vec<KeyRecord> = after(mine, |k| k.as_str() <= cur.as_str(), page.limit);
        let rows = rows.into_iter().map(|r| r.key).collect();
        Ok(Page::from_rows(rows, page.limit, |k| k.id.clone()))
    }

    async fn key_revoke(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut g = self.inner.lock();
        match g.keys.get_mut(key_id) {
            Some(r) if &r.key.tenant_id == tenant => {
                r.key.revoked_at_ms.get_or_insert(now_ms);
                g.record(topics::KEY_REVOKED, tenant, Some(key_id));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn key_find(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.inner.lock().keys.get(key_id).cloned())
    }

    async fn key_touch(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if let Some(r) = self.inner.lock().keys.get_mut(key_id) {
            if &r.key.tenant_id == tenant {
                r.key.last_used_at_ms = Some(now_ms);
            }
        }
        Ok(())
    }
}

/// The feed in memory ([`MemoryChanges`]).
#[async_trait::async_trait]
impl ChangeFeed for MemoryTenantStore {
    async fn change_head(&self) -> Result<i64, StoreError> {
        Ok(self.inner.lock().changes.head())
    }

    async fn change_read(&self, after: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        Ok(self.inner.lock().changes.read(after, limit))
    }

    async fn change_prune(&self, _before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        Ok(self.inner.lock().changes.prune(limit))
    }
}
