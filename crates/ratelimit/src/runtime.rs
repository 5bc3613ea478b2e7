//! The rate-limit runtime of one process: limiter, policy store, and the registry it keeps
//! current from the durable change feed (with its maintenance tasks).

mod tasks;

use crate::decision::Check;
use crate::fallback::{FallbackOptions, FallbackStore};
use crate::key::{build_key, KeyContext};
use crate::limiter::RateLimiter;
use crate::memory::{MemoryOptions, MemoryRateLimitStore};
use crate::policy::Policy;
use crate::registry::{PolicySource, Registry};
use crate::settings::RateLimitSettings;
use crate::store::{RateLimitPolicyStore, RateLimitStore};
use palisade_core::{Maintenance, StoreError, TenantId};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Changes read from the feed per round trip.
const CHANGE_BATCH: u32 = 1000;

/// Rows deleted per statement by the purge and the prune.
const DELETE_BATCH: u32 = 10_000;

/// Per-tenant caps on what the API may create.
#[derive(Debug, Clone, Copy)]
pub struct TenantCaps {
    /// `ratelimit.max_policies_per_tenant`.
    pub policies: u32,
    /// `ratelimit.max_overrides_per_tenant`.
    pub overrides: u32,
}

/// What [`RateLimits::start`] builds on.
#[derive(Debug, Clone)]
pub struct RateLimitsStart {
    /// The settings (validated: see [`RateLimitSettings::errors`]).
    pub settings: RateLimitSettings,
    /// The shared decision store, with its name for logs; `None` keeps decisions in memory.
    pub shared: Option<(Arc<dyn RateLimitStore>, &'static str)>,
    /// The durable policy and override store (with its change feed).
    pub policies: Arc<dyn RateLimitPolicyStore>,
    /// How many instances share the stores (sizes the fallback's share of a quota).
    pub expected_instances: u32,
}

/// The process's rate limiter, policy store and registry.
#[derive(Debug)]
pub struct RateLimits {
    limiter: RateLimiter,
    /// The shared store behind the fallback (`None` for the memory store).
    shared: Option<Arc<dyn RateLimitStore>>,
    store_name: &'static str,
    policies: Arc<dyn RateLimitPolicyStore>,
    registry: RwLock<Registry>,
    sync_lock: tokio::sync::Mutex<()>,
    caps: TenantCaps,
    settings: RateLimitSettings,
}

/// A check resolved against the registry, with what the headers need.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The check to decide.
    pub check: Check,
    /// The effective window (ms) after overrides.
    pub window_ms: u64,
    /// The key was built from the policy's parts and one of them is `ip`.
    pub keyed_by_ip: bool,
}

/// Why a check could not be resolved: no policy of this name for the tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rate limit policy")]
pub struct UnknownPolicy(pub String);

impl RateLimits {
    /// Builds the limiter (a fallback over the shared store, or memory), loads every policy
    /// and override. Hand [`RateLimits::maintenance`] to a supervisor to follow the feed.
    pub async fn start(p: RateLimitsStart) -> Result<Arc<Self>, StoreError> {
        let s = &p.settings;
        let memory = || {
            MemoryRateLimitStore::new(MemoryOptions {
                max_keys: s.memory_max_keys,
                shards: 64,
            })
        };
        let (shared, store_name) = match p.shared {
            Some((st, name)) => (Some(st), name),
            None => (None, "memory"),
        };
        let limiter = match &shared {
            None => RateLimiter::new(Arc::new(memory())),
            Some(st) => {
                let mut opts = FallbackOptions::for_instances(p.expected_instances);
                opts.deadline = s.fallback_deadline;
                if let Some(share) = s.fallback_share {
                    opts.share = share;
                }
                RateLimiter::new(Arc::new(FallbackStore::new(st.clone(), memory(), opts)))
            }
        };
        let this = Arc::new(Self {
            limiter,
            shared,
            store_name,
            policies: p.policies,
            registry: RwLock::new(Registry::new(s.parsed_policies())),
            sync_lock: tokio::sync::Mutex::new(()),
            caps: TenantCaps {
                policies: s.max_policies_per_tenant,
                overrides: s.max_overrides_per_tenant,
            },
            settings: p.settings,
        });
        this.sync().await?;
        tracing::info!(store = store_name, "rate limiting ready");
        Ok(this)
    }

    /// The background tasks: follow the change feed, prune it, and (over a shared store)
    /// purge expired decision state.
    pub fn maintenance(self: &Arc<Self>) -> Vec<Arc<dyn Maintenance>> {
        tasks::all(self)
    }

    /// The limiter (validates, decides, records metrics).
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// `memory`, or the name the shared store was given.
    pub fn store_name(&self) -> &'static str {
        self.store_name
    }

    /// The durable policy and override store.
    pub fn policies(&self) -> &Arc<dyn RateLimitPolicyStore> {
        &self.policies
    }

    /// The per-tenant caps on policies and overrides.
    pub fn caps(&self) -> TenantCaps {
        self.caps
    }

    /// The settings this runtime was started with.
    pub fn settings(&self) -> &RateLimitSettings {
        &self.settings
    }

    /// Applies every change of the feed not seen yet; returns how many. When changes after
    /// this instance's version were pruned (it lagged past `ratelimit.change_retention`, or
    /// it started after a prune), reloads every policy and override from a snapshot instead,
    /// so deletes are never missed.
    pub async fn sync(&self) -> Result<usize, StoreError> {
        let _one_at_a_time = self.sync_lock.lock().await;
        let mut total = 0;
        loop {
            let after = self.read().version;
            let batch = self
                .policies
                .ratelimit_feed_changes(after, CHANGE_BATCH)
                .await?;
            if batch.missed(after) {
                let snap = self.policies.ratelimit_feed_snapshot().await?;
                tracing::info!(
                    from = after,
                    to = snap.version,
                    "rate limit change feed pruned past this instance; reloaded every policy"
                );
                metrics::counter!("palisade_ratelimit_config_reloads_total").increment(1);
                total += snap.policies.len() + snap.overrides.len();
                self.write().reload(snap);
                continue;
            }
            let n = batch.changes.len();
            total += n;
            let mut reg = self.write();
            batch.changes.into_iter().for_each(|c| reg.apply(c));
            if n < CHANGE_BATCH as usize {
                return Ok(total);
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The tenant's policy of this name (own, else configured), without overrides.
    pub fn policy(&self, tenant: &TenantId, name: &str) -> Option<(Policy, PolicySource)> {
        self.read()
            .base(tenant, name)
            .map(|(p, s)| (p.as_ref().clone(), s))
    }

    /// The configured policies.
    pub fn config_policies(&self) -> Vec<Policy> {
        let mut v: Vec<Policy> = self.read().config_policies().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Resolves one check: the policy (own, else configured), its key (`key`, or built from
    /// the policy's key parts and `ctx`), the override for that key, and the cost (`cost`,
    /// else the policy's).
    pub fn resolve(
        &self,
        tenant: &TenantId,
        name: &str,
        key: Option<&str>,
        cost: Option<u64>,
        ctx: &KeyContext<'_>,
    ) -> Result<Resolved, UnknownPolicy> {
        let reg = self.read();
        let Some((base, _)) = reg.base(tenant, name) else {
            return Err(UnknownPolicy(name.to_owned()));
        };
        let keyed_by_ip = key.is_none()
            && base
                .key
                .iter()
                .any(|k| matches!(k, crate::KeyPart::Ip { .. }));
        let key = match key {
            Some(k) => k.to_owned(),
            None => build_key(&base.key, ctx),
        };
        let applied;
        let p = match reg.override_for(tenant, name, &key) {
            Some(o) => {
                applied = o.apply(&base);
                &applied
            }
            None => base.as_ref(),
        };
        Ok(Resolved {
            check: Check {
                policy: p.name.clone(),
                limit: p.limit(),
                key,
                cost: cost.unwrap_or(p.cost),
            },
            window_ms: p.window.as_millis() as u64,
            keyed_by_ip,
        })
    }

    /// Deletes expired decision state from the shared store; returns how many rows (stores
    /// that expire state by themselves report none).
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let Some(s) = self.shared.as_ref() else {
            return Ok(0);
        };
        let mut total = 0;
        loop {
            let n = s.ratelimit_purge_expired(DELETE_BATCH).await?;
            total += n;
            if n < u64::from(DELETE_BATCH) {
                return Ok(total);
            }
        }
    }

    /// Deletes changes older than `ratelimit.change_retention` from the feed; returns how many.
    pub async fn prune(&self, now_ms: i64) -> Result<u64, StoreError> {
        let retention = self.settings.change_retention.as_millis() as i64;
        let before = now_ms.saturating_sub(retention);
        let mut total = 0;
        loop {
            let n = self
                .policies
                .ratelimit_feed_prune_changes(before, DELETE_BATCH)
                .await?;
            total += n;
            if n < u64::from(DELETE_BATCH) {
                return Ok(total);
            }
        }
    }

    /// How often the feed is read.
    fn poll_interval(&self) -> Duration {
        self.settings.poll_interval
    }
}
