//! The change feed of runtime configuration: stored policies, per-tenant and per-key overrides, changes and snapshots.

use crate::policy::{self, Policy};
use palisade_core::{FieldError, StoreError, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// A policy as stored, with its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// The policy.
    pub policy: Policy,
    /// The store-wide version of its last write.
    pub version: i64,
    /// Last write, ms since the epoch.
    pub updated_at_ms: i64,
}

/// New limits for one policy, for a whole tenant (`key: None`) or one key of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitOverride {
    /// The policy it changes.
    pub policy: String,
    /// The key it applies to; `None` for every key of the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The quota that replaces the policy's.
    pub quota: u64,
    /// The window that replaces the policy's, if any.
    #[serde(with = "opt_window", skip_serializing_if = "Option::is_none", default)]
    pub window: Option<Duration>,
    /// The burst that replaces the policy's (GCRA), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
}

impl RateLimitOverride {
    /// Parses and validates, reporting every bad field at once.
    pub fn parse(v: &Value) -> Result<Self, Vec<FieldError>> {
        let Some(obj) = v.as_object() else {
            return Err(vec![FieldError::new("", "an override is a JSON object")]);
        };
        let mut e = Vec::new();
        let known = ["policy", "key", "quota", "window", "burst"];
        policy::unknown_fields(obj, &known, &mut e);
        let pol = policy::required::<String>(obj, "policy", &mut e);
        let key = policy::optional::<String>(obj, "key", &mut e);
        let quota = policy::required::<u64>(obj, "quota", &mut e);
        let window = policy::optional_duration(obj, "window", &mut e);
        let burst = policy::optional::<u64>(obj, "burst", &mut e);
        let (Some(policy), Some(quota)) = (pol, quota) else {
            return Err(e);
        };
        let o = Self {
            policy,
            key,
            quota,
            window,
            burst,
        };
        if let Err(mut more) = o.validate() {
            e.append(&mut more);
        }
        if e.is_empty() {
            Ok(o)
        } else {
            Err(e)
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if !policy::valid_name(&self.policy) {
            e.push(FieldError::new("policy", "invalid policy name"));
        }
        if let Some(k) = &self.key {
            if k.is_empty() || k.len() > crate::key::MAX_KEY_BYTES {
                e.push(FieldError::new("key", "1 to 512 bytes"));
            }
        }
        policy::check_quota("quota", self.quota, &mut e);
        if let Some(w) = self.window {
            policy::check_window("window", w, &mut e);
            policy::check_rate(self.quota, w, &mut e);
        }
        if let Some(b) = self.burst {
            policy::check_quota("burst", b, &mut e);
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// `policy` with this override applied (burst kept only for GCRA).
    pub fn apply(&self, policy: &Policy) -> Policy {
        let mut p = policy.clone();
        p.quota = self.quota;
        if let Some(w) = self.window {
            p.window = w;
        }
        if p.algorithm == policy::Algorithm::Gcra {
            p.burst = self.burst.or(p.burst);
        }
        p.cost = p.cost.min(p.limit().capacity());
        p
    }
}

/// An override as stored, with its version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideRecord {
    /// The override.
    pub rate_override: RateLimitOverride,
    /// The store-wide version of its last write.
    pub version: i64,
    /// Last write, ms since the epoch.
    pub updated_at_ms: i64,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ChangeKind {
    /// A policy was created or replaced.
    PolicyPut {
        /// The new policy.
        policy: Policy,
    },
    /// A policy was deleted.
    PolicyDeleted {
        /// Its name.
        name: String,
    },
    /// An override was created or replaced.
    OverridePut {
        /// The new override.
        rate_override: RateLimitOverride,
    },
    /// An override was deleted.
    OverrideDeleted {
        /// Its policy.
        policy: String,
        /// Its key (`None`: the tenant-wide override).
        key: Option<String>,
    },
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChange {
    /// The tenant whose configuration changed.
    pub tenant: TenantId,
    /// The store-wide version of this change.
    pub version: i64,
    /// What changed.
    pub change: ChangeKind,
}

/// One read of the change feed: the changes, and how far the feed has been pruned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChanges {
    /// Changes above the cursor, oldest first.
    pub changes: Vec<ConfigChange>,
    /// Every change at or below this version may have been pruned (0: none ever was).
    pub pruned_through: i64,
}

impl ConfigChanges {
    /// True when changes after `after` may have been pruned before this read: a poller at
    /// `after` cannot catch up from the feed and must reload a [`ConfigSnapshot`].
    pub fn missed(&self, after: i64) -> bool {
        after < self.pruned_through
    }
}

/// Every live policy and override of every tenant, as of change `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSnapshot {
    /// The last change the snapshot reflects; follow the feed from here.
    pub version: i64,
    /// Live policies.
    pub policies: Vec<(TenantId, Policy)>,
    /// Live overrides.
    pub overrides: Vec<(TenantId, RateLimitOverride)>,
}

impl ConfigSnapshot {
    /// One stored (tenant id, JSON document) row read back; a bad id or document is corrupt
    /// data.
    pub fn entry<T: serde::de::DeserializeOwned>(
        tenant: &str,
        json: &str,
    ) -> Result<(TenantId, T), StoreError> {
        let corrupt = |e: String| StoreError::Corrupt(e);
        let t = TenantId::parse(tenant).map_err(|e| corrupt(e.to_string()))?;
        let v = serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
        Ok((t, v))
    }
}

mod opt_window {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => crate::policy::human::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let v = Option::<serde_json::Value>::deserialize(d)?;
        v.map(|v| crate::policy::human::parse_value(&v).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyPart;
    use serde_json::json;

    #[test]
    fn override_parses_applies_and_reports_all() {
        let o =
            RateLimitOverride::parse(&json!({"policy": "api", "quota": 500, "window": "1h"})).unwrap();
        let p = Policy::new(
            "api",
            policy::Algorithm::FixedWindow,
            10,
            Duration::from_secs(60),
            vec![KeyPart::Tenant],
        );
        let q = o.apply(&p);
        assert_eq!((q.quota, q.window), (500, Duration::from_secs(3600)));
        let e = RateLimitOverride::parse(&json!({"policy": "a b", "quota": 0, "window": "1ms"}))
            .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        let back: RateLimitOverride = serde_json::from_value(serde_json::to_value(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}
