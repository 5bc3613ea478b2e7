//! The CSRF capability's deployment settings (`[csrf]`): token lifetime, purge interval.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// CSRF settings; every field is documented in `docs/configuration.md`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsrfSettings {
    /// How long a synchronizer token is valid, 10s ..= 1d.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// How often expired tokens are deleted, 1s ..= 1d.
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
}

impl Default for CsrfSettings {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(300),
            purge_interval: Duration::from_secs(60),
        }
    }
}

impl CsrfSettings {
    /// Every problem of these settings, each naming its key under `at` (e.g. `csrf`).
    pub fn errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let secs = |d: Duration| d.as_secs_f64();
        if !(10.0..=86_400.0).contains(&secs(self.token_ttl)) {
            e.push(format!("{at}.token_ttl: must be between 10s and 1d"));
        }
        if !(1.0..=86_400.0).contains(&secs(self.purge_interval)) {
            e.push(format!("{at}.purge_interval: must be between 1s and 1d"));
        }
        e
    }
}
