//! Rate limiting's deployment settings (`[ratelimit]`): decision store, fallback, memory cap, feed, configured policies.

use crate::policy::Policy;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where rate-limit decisions are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitStoreKind {
    /// The hot store (Redis) when one is open, else the durable store when it is shared by
    /// several instances, else process memory.
    #[default]
    Auto,
    /// Process memory (one instance only).
    Memory,
    /// The durable store (SQLite or PostgreSQL).
    Durable,
    /// The hot store (Redis; the embedding application must open one).
    Redis,
}

/// Rate limiting settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
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

impl Default for RateLimitSettings {
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

impl RateLimitSettings {
    /// The configured policies (the valid ones: see [`RateLimitSettings::errors`]).
    pub fn parsed_policies(&self) -> Vec<Policy> {
        self.policies
            .iter()
            .filter_map(|v| Policy::parse(v).ok())
            .collect()
    }

    /// Every problem of these settings, each naming its key under `at` (e.g. `ratelimit`).
    pub fn errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let mut bad = |key: &str, msg: &str| e.push(format!("{at}.{key}: {msg}"));
        if !(1..=10_000).contains(&self.fallback_deadline.as_millis()) {
            bad("fallback_deadline", "must be between 1ms and 10s");
        }
        if self.fallback_share.is_some_and(|s| !(s > 0.0 && s <= 1.0)) {
            bad("fallback_share", "must be in (0, 1]");
        }
        if !(1_000..=100_000_000).contains(&self.memory_max_keys) {
            bad("memory_max_keys", "must be between 1000 and 100000000");
        }
        if !(10..=3_600_000).contains(&self.poll_interval.as_millis()) {
            bad("poll_interval", "must be between 10ms and 1h");
        }
        if !(1_000..=86_400_000).contains(&self.purge_interval.as_millis()) {
            bad("purge_interval", "must be between 1s and 1d");
        }
        if !(1_000..=30 * 86_400_000).contains(&self.change_retention.as_millis()) {
            bad("change_retention", "must be between 1s and 30d");
        } else if self.change_retention < self.poll_interval * 2 {
            let msg = format!("must be at least twice {at}.poll_interval");
            bad("change_retention", &msg);
        }
        if !(1..=1_000_000).contains(&self.max_policies_per_tenant) {
            bad("max_policies_per_tenant", "must be between 1 and 1000000");
        }
        if !(1..=1_000_000).contains(&self.max_overrides_per_tenant) {
            bad("max_overrides_per_tenant", "must be between 1 and 1000000");
        }
        e.extend(self.policy_errors(at));
        e
    }

    fn policy_errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let mut names = Vec::new();
        for (i, v) in self.policies.iter().enumerate() {
            match Policy::parse(v) {
                Ok(p) if names.contains(&p.name) => e.push(format!(
                    "{at}.policies[{i}].name: {:?} is defined twice",
                    p.name
                )),
                Ok(p) => names.push(p.name),
                Err(fields) => e.extend(
                    fields
                        .iter()
                        .map(|f| format!("{at}.policies[{i}].{}: {}", f.field, f.message)),
                ),
            }
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_key_is_reported_with_its_path() {
        let s = RateLimitSettings {
            fallback_share: Some(2.0),
            poll_interval: Duration::from_millis(1),
            max_overrides_per_tenant: 0,
            policies: vec![serde_json::json!({"name": "p", "quota": 0})],
            ..Default::default()
        };
        let e = s.errors("ratelimit");
        for key in [
            "ratelimit.fallback_share:",
            "ratelimit.poll_interval:",
            "ratelimit.max_overrides_per_tenant:",
            "ratelimit.policies[0].",
        ] {
            assert!(e.iter().any(|m| m.starts_with(key)), "{key} in {e:?}");
        }
        assert!(RateLimitSettings::default().errors("ratelimit").is_empty());
    }
}
