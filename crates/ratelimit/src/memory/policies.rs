//! Policies and overrides in process memory, with a versioned change feed.

use crate::feed::{
    ChangeKind, ConfigChange, ConfigChanges, ConfigSnapshot, OverrideRecord, PolicyRecord,
    RateLimitOverride,
};
use crate::policy::Policy;
use crate::store::RateLimitPolicyStore;
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};

/// The most changes kept for pollers; older ones are dropped (a poller that far behind reloads).
const MAX_CHANGES: usize = 100_000;

/// The error of a create past a per-tenant cap.
fn limit_reached(what: &'static str, max: u32) -> StoreError {
    StoreError::LimitReached {
        what,
        limit: u64::from(max),
    }
}

/// Policies and overrides in memory; lost on restart.
#[derive(Debug, Default)]
pub struct MemoryPolicyStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    version: i64,
    policies: BTreeMap<(TenantId, String), PolicyRecord>,
    overrides: BTreeMap<(TenantId, String, String), OverrideRecord>,
    /// (written at ms, change), oldest first.
    changes: VecDeque<(i64, ConfigChange)>,
    pruned_through: i64,
}

impl Inner {
    fn bump(&mut self, tenant: &TenantId, change: ChangeKind, now_ms: i64) -> i64 {
        self.version += 1;
        if self.changes.len() >= MAX_CHANGES {
            self.prune(i64::MAX, MAX_CHANGES / 10);
        }
        let c = ConfigChange {
            tenant: tenant.clone(),
            version: self.version,
            change,
        };
        self.changes.push_back((now_ms, c));
        self.version
    }

    /// Drops up to `limit` of the oldest changes written before `before_ms`.
    fn prune(&mut self, before_ms: i64, limit: usize) -> u64 {
        let mut n = 0;
        while n < limit && self.changes.front().is_some_and(|(at, _)| *at < before_ms) {
            if let Some((_, c)) = self.changes.pop_front() {
                self.pruned_through = self.pruned_through.max(c.version);
            }
            n += 1;
        }
        n as u64
    }

    fn policy_count(&self, tenant: &TenantId) -> usize {
        let from = (tenant.clone(), String::new());
        self.policies
            .range(from..)
            .take_while(|((t, _), _)| t == tenant)
            .count()
    }

    fn override_count(&self, tenant: &TenantId) -> usize {
        let from = (tenant.clone(), String::new(), String::new());
        self.overrides
            .range(from..)
            .take_while(|((t, _, _), _)| t == tenant)
            .count()
    }
}

/// The page cursor of an override: a JSON pair, unambiguous whatever the key holds.
pub(crate) fn override_cursor(o: &RateLimitOverride) -> String {
    serde_json::to_string(&(&o.policy, o.key.as_deref().unwrap_or(""))).unwrap_or_default()
}

#[async_trait::async_trait]
impl RateLimitPolicyStore for MemoryPolicyStore {
    async fn ratelimit_policy_put(
        &self,
        tenant: &TenantId,
        policy: &Policy,
        now_ms: i64,
        max: u32,
    ) -> Result<PolicyRecord, StoreError> {
        let mut g = self.inner.lock();
        let id = (tenant.clone(), policy.name.clone());
        if !g.policies.contains_key(&id) && g.policy_count(tenant) >= max as usize {
            return Err(limit_reached("policies", max));
        }
        let change = ChangeKind::PolicyPut {
            policy: policy.clone(),
        };
        let version = g.bump(tenant, change, now_ms);
        let rec = PolicyRecord {
            policy: policy.clone(),
            version,
            updated_at_ms: now_ms,
        };
        g.policies.insert(id, rec.clone());
        Ok(rec)
    }

    async fn ratelimit_policy_get(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<PolicyRecord>, StoreError> {
        let g = self.inner.lock();
        Ok(g.policies.get(&(tenant.clone(), name.to_owned())).cloned())
    }

    async fn ratelimit_policy_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<PolicyRecord>, StoreError> {
        let g = self.inner.lock();
        let after = page.after.clone().unwrap_or_default();
        let rows = g
            .policies
            .iter()
            .filter(|((t, n), _)| t == tenant && n.as_str() > after.as_str())
            .take(page.limit as usize + 1)
            .map(|(_, r)| r.clone())
            .collect();
        Ok(Page::from_rows(rows, page.limit, |r| r.policy.name.clone()))
    }

    async fn ratelimit_policy_delete(
        &self,
        tenant: &TenantId,
        name: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut g = self.inner.lock();
        if g.policies
            .remove(&(tenant.clone(), name.to_owned()))
            .is_none()
        {
            return Ok(false);
        }
        g.bump(
            tenant,
            ChangeKind::PolicyDeleted {
                name: name.to_owned(),
            },
            now_ms,
        );
        Ok(true)
    }

    async fn ratelimit_override_put(
        &self,
        tenant: &TenantId,
        o: &RateLimitOverride,
        now_ms: i64,
        max: u32,
    ) -> Result<OverrideRecord, StoreError> {
        let mut g = self.inner.lock();
        let k = (
            tenant.clone(),
            o.policy.clone(),
            o.key.clone().unwrap_or_default(),
        );
        if !g.overrides.contains_key(&k) && g.override_count(tenant) >= max as usize {
            return Err(limit_reached("overrides", max));
        }
        let change = ChangeKind::OverridePut {
            rate_override: o.clone(),
        };
        let version = g.bump(tenant, change, now_ms);
        let rec = OverrideRecord {
            rate_override: o.clone(),
            version,
            updated_at_ms: now_ms,
        };
        g.overrides.insert(k, rec.clone());
        Ok(rec)
    }

    async fn ratelimit_override_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<OverrideRecord>, StoreError> {
        let g = self.inner.lock();
        let after: (String, String) = page
            .after
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let rows = g
            .overrides
            .iter()
            .filter(|((t, p, k), _)| {
                t == tenant && (p.as_str(), k.as_str()) > (after.0.as_str(), after.1.as_str())
            })
            .take(page.limit as usize + 1)
            .map(|(_, r)| r.clone())
            .collect();
        Ok(Page::from_rows(rows, page.limit, |r| {
            override_cursor(&r.rate_override)
        }))
    }

    async fn ratelimit_override_delete(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut g = self.inner.lock();
        let k = (
            tenant.clone(),
            policy.to_owned(),
            key.unwrap_or_default().to_owned(),
        );
        if g.overrides.remove(&k).is_none() {
            return Ok(false);
        }
        let change = ChangeKind::OverrideDeleted {
            policy: policy.to_owned(),
            key: key.map(str::to_owned),
        };
        g.bump(tenant, change, now_ms);
        Ok(true)
    }

    async fn ratelimit_feed_changes(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<ConfigChanges, StoreError> {
        let g = self.inner.lock();
        let changes = g
            .changes
            .iter()
            .map(|(_, c)| c)
            .filter(|c| c.version > after)
            .take(limit as usize)
            .cloned()
            .collect();
        Ok(ConfigChanges {
            changes,
            pruned_through: g.pruned_through,
        })
    }

    async fn ratelimit_feed_snapshot(&self) -> Result<ConfigSnapshot, StoreError> {
        let g = self.inner.lock();
        Ok(ConfigSnapshot {
            version: g.version,
            policies: g
                .policies
                .iter()
                .map(|((t, _), r)| (t.clone(), r.policy.clone()))
                .collect(),
            overrides: g
                .overrides
                .iter()
                .map(|((t, _, _), r)| (t.clone(), r.rate_override.clone()))
                .collect(),
        })
    }

    async fn ratelimit_feed_prune_changes(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        Ok(self.inner.lock().prune(before_ms, limit as usize))
    }
}
