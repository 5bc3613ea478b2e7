//! The `[ratelimit]` section: decision store, fallback, memory cap, polling, config policies.

use palisade_ratelimit::Policy;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where rate-limit decisions are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitStoreKind {
    /// Redis when `storage.redis_url` is set, else PostgreSQL when it is the durable store,
    /// else process memory.
    #[default]
    Auto,
    /// Process memory (one instance only).
    Memory,
    /// The durable store (SQLite or PostgreSQL).
    Durable,
    /// Redis (`storage.redis_url` required).
    Redis,
}

/// Rate limiting settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// `auto` | `memory` | `durable` | `redis`.
    pub store: RateLimitStoreKind,
    /// Deadline of one shared-store decision before the fallback decides.
    #[serde(with = "humantime_serde")]
    pub fallback_deadline: Duration,
    /// Share of a quota one instance grants while falling back; default 1 / expected instances.
    pub fallback_share: Option<f64>,
    /// Most keys held in memory (memory store, and the fallback's counts).
    pub memory_max_keys: usize,
    /// How often each instance reads the policy/override change feed.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often expired decision state is deleted from SQL stores.
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
    /// How long policy/override changes stay in the change feed (pruned every
    /// `purge_interval`); an instance further behind reloads every policy and override.
    #[serde(with = "humantime_serde")]
    pub change_retention: Duration,
    /// Most policies one tenant may create through the API.
    pub max_policies_per_tenant: u32,
    /// Most overrides one tenant may create through the API.
    pub max_overrides_per_tenant: u32,
    /// Policies that apply to every tenant (same fields as the API's policy body).
    pub policies: Vec<serde_json::Value>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            store: RateLimitStoreKind::Auto,
            fallback_deadline: Duration::from_millis(50),
            fallback_share: None,
            memory_max_keys: 1_000_000,
            poll_interval: Duration::from_secs(1),
            purge_interval: Duration::from_secs(60),
            change_retention: Duration::from_secs(3600),
            max_policies_per_tenant: 1000,
            max_overrides_per_tenant: 10_000,
            policies: Vec::new(),
        }
    }
}

impl RateLimitConfig {
    /// The configured policies (valid after [`crate::config::Config::load`]).
    pub fn parsed_policies(&self) -> Vec<Policy> {
        self.policies
            .iter()
            .filter_map(|v| Policy::parse(v).ok())
            .collect()
    }
}

/// Every problem of the `[ratelimit]` section.
pub(super) fn errors(cfg: &super::Config, e: &mut Vec<String>) {
    let r = &cfg.ratelimit;
    if r.store == RateLimitStoreKind::Redis && cfg.storage.redis_url.is_none() {
        e.push("ratelimit.store: `redis` needs storage.redis_url".into());
    }
    let ms = r.fallback_deadline.as_millis();
    if !(1..=10_000).contains(&ms) {
        e.push("ratelimit.fallback_deadline: must be between 1ms and 10s".into());
    }
    if r.fallback_share.is_some_and(|s| !(s > 0.0 && s <= 1.0)) {
        e.push("ratelimit.fallback_share: must be in (0, 1]".into());
    }
    if !(1_000..=100_000_000).contains(&r.memory_max_keys) {
        e.push("ratelimit.memory_max_keys: must be between 1000 and 100000000".into());
    }
    if !(10..=3_600_000).contains(&r.poll_interval.as_millis()) {
        e.push("ratelimit.poll_interval: must be between 10ms and 1h".into());
    }
    if !(1_000..=86_400_000).contains(&r.purge_interval.as_millis()) {
        e.push("ratelimit.purge_interval: must be between 1s and 1d".into());
    }
    if !(1_000..=30 * 86_400_000).contains(&r.change_retention.as_millis()) {
        e.push("ratelimit.change_retention: must be between 1s and 30d".into());
    } else if r.change_retention < r.poll_interval * 2 {
        e.push("ratelimit.change_retention: must be at least twice ratelimit.poll_interval".into());
    }
    if !(1..=1_000_000).contains(&r.max_policies_per_tenant) {
        e.push("ratelimit.max_policies_per_tenant: must be between 1 and 1000000".into());
    }
    if !(1..=1_000_000).contains(&r.max_overrides_per_tenant) {
        e.push("ratelimit.max_overrides_per_tenant: must be between 1 and 1000000".into());
    }
    policy_errors(&r.policies, e);
}

fn policy_errors(policies: &[serde_json::Value], e: &mut Vec<String>) {
    let mut names = Vec::new();
    for (i, v) in policies.iter().enumerate() {
        match Policy::parse(v) {
            Ok(p) if names.contains(&p.name) => e.push(format!(
                "ratelimit.policies[{i}].name: {:?} is defined twice",
                p.name
            )),
            Ok(p) => names.push(p.name),
            Err(fields) => e.extend(
                fields
                    .iter()
                    .map(|f| format!("ratelimit.policies[{i}].{}: {}", f.field, f.message)),
            ),
        }
    }
}
