//! The in-memory view of every policy and override, kept current from the change feed.

use crate::feed::{ChangeKind, ConfigChange, ConfigSnapshot, RateLimitOverride};
use crate::policy::Policy;
use palisade_core::TenantId;
use std::collections::HashMap;
use std::sync::Arc;

/// Where a resolved policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource {
    /// `[[ratelimit.policies]]`: every tenant has it.
    Config,
    /// Created by the tenant through the API.
    Tenant,
}

/// Config policies, tenant policies and overrides, as of change `version`.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    config: HashMap<String, Arc<Policy>>,
    tenant: HashMap<(TenantId, String), Arc<Policy>>,
    /// (tenant, policy, key or "" for tenant-wide).
    overrides: HashMap<(TenantId, String, String), RateLimitOverride>,
    /// The last change applied.
    pub version: i64,
}

impl Registry {
    /// A registry holding the configured policies.
    pub fn new(config: Vec<Policy>) -> Self {
        Self {
            config: config
                .into_iter()
                .map(|p| (p.name.clone(), Arc::new(p)))
                .collect(),
            ..Self::default()
        }
    }

    /// Applies one change of the feed.
    pub fn apply(&mut self, c: ConfigChange) {
        self.version = self.version.max(c.version);
        let t = c.tenant;
        match c.change {
            ChangeKind::PolicyPut { policy } => {
                self.tenant
                    .insert((t, policy.name.clone()), Arc::new(policy));
            }
            ChangeKind::PolicyDeleted { name } => {
                self.tenant.remove(&(t, name));
            }
            ChangeKind::OverridePut { rate_override: o } => {
                let k = (t, o.policy.clone(), o.key.clone().unwrap_or_default());
                self.overrides.insert(k, o);
            }
            ChangeKind::OverrideDeleted { policy, key } => {
                self.overrides.remove(&(t, policy, key.unwrap_or_default()));
            }
        }
    }

    /// Replaces every tenant policy and override by `snap` (configured policies stay): how an
    /// instance catches up when the changes after its version were pruned from the feed.
    pub fn reload(&mut self, snap: ConfigSnapshot) {
        self.tenant = snap
            .policies
            .into_iter()
            .map(|(t, p)| ((t, p.name.clone()), Arc::new(p)))
            .collect();
        self.overrides = snap
            .overrides
            .into_iter()
            .map(|(t, o)| ((t, o.policy.clone(), o.key.clone().unwrap_or_default()), o))
            .collect();
        self.version = snap.version;
    }

    /// The tenant's policy of this name (its own first, then the configured one), without
    /// overrides.
    pub fn base(&self, tenant: &TenantId, name: &str) -> Option<(Arc<Policy>, PolicySource)> {
        if let Some(p) = self.tenant.get(&(tenant.clone(), name.to_owned())) {
            return Some((p.clone(), PolicySource::Tenant));
        }
        self.config
            .get(name)
            .map(|p| (p.clone(), PolicySource::Config))
    }

    /// The override that applies to `key` of the tenant's policy: the per-key one, else the
    /// tenant-wide one.
    pub fn override_for(&self, tenant: &TenantId, name: &str, key: &str) -> Option<&RateLimitOverride> {
        if self.overrides.is_empty() {
            return None;
        }
        let mut k = (tenant.clone(), name.to_owned(), key.to_owned());
        if let Some(o) = self.overrides.get(&k) {
            return Some(o);
        }
        k.2.clear();
        self.overrides.get(&k)
    }

    /// The configured policies, by name.
    pub fn config_policies(&self) -> impl Iterator<Item = &Policy> {
        self.config.values().map(|p| p.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, KeyPart};
    use std::time::Duration;

    fn pol(name: &str, quota: u64) -> Policy {
        Policy::new(
            name,
            Algorithm::FixedWindow,
            quota,
            Duration::from_secs(60),
            vec![KeyPart::Tenant],
        )
    }

    fn change(t: &TenantId, version: i64, change: ChangeKind) -> ConfigChange {
        ConfigChange {
            tenant: t.clone(),
            version,
            change,
        }
    }

    #[test]
    fn tenant_policies_shadow_config_and_overrides_resolve_per_key_first() {
        let a = TenantId::parse("a").unwrap();
        let b = TenantId::parse("b").unwrap();
        let mut r = Registry::new(vec![pol("api", 10)]);
        r.apply(change(
            &a,
            1,
            ChangeKind::PolicyPut {
                policy: pol("api", 99),
            },
        ));
        assert_eq!(r.base(&a, "api").unwrap().0.quota, 99);
        assert_eq!(r.base(&b, "api").unwrap().1, PolicySource::Config);
        let o = |key: Option<&str>, quota| RateLimitOverride {
            policy: "api".into(),
            key: key.map(str::to_owned),
            quota,
            window: None,
            burst: None,
        };
        r.apply(change(
            &a,
            2,
            ChangeKind::OverridePut {
                rate_override: o(None, 5),
            },
        ));
        r.apply(change(
            &a,
            3,
            ChangeKind::OverridePut {
                rate_override: o(Some("k"), 7),
            },
        ));
        assert_eq!(r.override_for(&a, "api", "k").unwrap().quota, 7);
        assert_eq!(r.override_for(&a, "api", "other").unwrap().quota, 5);
        assert!(r.override_for(&b, "api", "k").is_none(), "scoped by tenant");
        r.apply(change(
            &a,
            4,
            ChangeKind::OverrideDeleted {
                policy: "api".into(),
                key: Some("k".into()),
            },
        ));
        assert_eq!(r.override_for(&a, "api", "k").unwrap().quota, 5);
        r.apply(change(
            &a,
            5,
            ChangeKind::PolicyDeleted { name: "api".into() },
        ));
        assert_eq!(r.base(&a, "api").unwrap().1, PolicySource::Config);
        assert_eq!(r.version, 5);

        r.apply(change(
            &a,
            6,
            ChangeKind::OverridePut {
                rate_override: o(None, 5),
            },
        ));
        r.reload(ConfigSnapshot {
            version: 9,
            policies: vec![(b.clone(), pol("own", 3))],
            overrides: vec![],
        });
        assert!(
            r.override_for(&a, "api", "k").is_none(),
            "reload drops what is gone"
        );
        assert_eq!(r.base(&b, "own").unwrap().0.quota, 3);
        assert_eq!(
            r.base(&a, "api").unwrap().1,
            PolicySource::Config,
            "config stays"
        );
        assert_eq!(r.version, 9);
    }
}
