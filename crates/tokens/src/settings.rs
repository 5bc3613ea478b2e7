//! The token capability's deployment settings (`[tokens]`): JWKS cache, cooldown, stale bound, caps.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Token settings; every field is documented in `docs/configuration.md`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// How long a fetched JWKS is used before it is fetched again, 10s ..= 1d.
    #[serde(with = "humantime_serde")]
    pub jwks_ttl: Duration,
    /// The least time between two fetches of one JWKS (an unknown `kid`, a failed fetch, an
    /// expired TTL), 1s ..= `jwks_ttl`: a storm of unknown `kid`s makes at most one fetch per
    /// cooldown.
    #[serde(with = "humantime_serde")]
    pub unknown_kid_cooldown: Duration,
    /// How long past `jwks_ttl` the last fetched keys are still used while fetches fail,
    /// 0s ..= 7d (0: never serve stale keys).
    #[serde(with = "humantime_serde")]
    pub jwks_stale_max: Duration,
    /// The largest JWKS document accepted (bytes), 1 KiB ..= 1 MiB.
    pub jwks_max_bytes: u64,
    /// The largest token accepted (bytes), 256 ..= 65536.
    pub max_token_bytes: usize,
    /// The clock leeway of issuers that set none, 0s ..= 5m.
    #[serde(with = "humantime_serde")]
    pub default_leeway: Duration,
    /// JWKS documents cached at most (one per tenant and URL), 1 ..= 1000000.
    pub jwks_cache_entries: usize,
    /// Revocation entries the lookup cache holds at most (one per tenant, jti and subject of a
    /// valid token), 0 ..= 10000000 (0: no cache, every verify reads the store).
    pub cache_entries: usize,
    /// How often expired jti revocations are purged, 1s ..= 1d.
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            jwks_ttl: Duration::from_secs(300),
            unknown_kid_cooldown: Duration::from_secs(10),
            jwks_stale_max: Duration::from_secs(3_600),
            jwks_max_bytes: 64 * 1024,
            max_token_bytes: 8 * 1024,
            default_leeway: Duration::from_secs(30),
            jwks_cache_entries: 10_000,
            cache_entries: 100_000,
            purge_interval: Duration::from_secs(600),
        }
    }
}

impl TokenSettings {
    /// Every problem of these settings, each naming its key under `at` (e.g. `tokens`).
    pub fn errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let mut bad = |key: &str, msg: &str| e.push(format!("{at}.{key}: {msg}"));
        let secs = |d: Duration| d.as_secs_f64();
        if !(10.0..=86_400.0).contains(&secs(self.jwks_ttl)) {
            bad("jwks_ttl", "must be between 10s and 1d");
        }
        if secs(self.unknown_kid_cooldown) < 1.0 || self.unknown_kid_cooldown > self.jwks_ttl {
            bad(
                "unknown_kid_cooldown",
                "must be between 1s and tokens.jwks_ttl",
            );
        }
        if secs(self.jwks_stale_max) > 7.0 * 86_400.0 {
            bad("jwks_stale_max", "must be at most 7d");
        }
        if !(1_024..=1_048_576).contains(&self.jwks_max_bytes) {
            bad("jwks_max_bytes", "must be between 1024 and 1048576");
        }
        if !(256..=65_536).contains(&self.max_token_bytes) {
            bad("max_token_bytes", "must be between 256 and 65536");
        }
        if secs(self.default_leeway) > 300.0 {
            bad("default_leeway", "must be at most 5m");
        }
        if !(1..=1_000_000).contains(&self.jwks_cache_entries) {
            bad("jwks_cache_entries", "must be between 1 and 1000000");
        }
        if self.cache_entries > 10_000_000 {
            bad("cache_entries", "must be between 0 and 10000000");
        }
        if !(1.0..=86_400.0).contains(&secs(self.purge_interval)) {
            bad("purge_interval", "must be between 1s and 1d");
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_named() {
        assert!(TokenSettings::default().errors("tokens").is_empty());
        let s = TokenSettings {
            jwks_ttl: Duration::from_secs(20),
            unknown_kid_cooldown: Duration::from_secs(30),
            max_token_bytes: 10,
            ..TokenSettings::default()
        };
        let e = s.errors("tokens");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("tokens.unknown_kid_cooldown"));
        assert!(e[1].starts_with("tokens.max_token_bytes"));
    }
}
