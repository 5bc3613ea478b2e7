//! The `[previews]` section: the per-tenant cache of link previews.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Link-preview settings (the outbound fetch itself is configured in `[fetch]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreviewsConfig {
    /// How long a built preview is served from memory (per tenant and URL).
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// Most previews kept in memory, all tenants together; past it expired entries, then those
    /// closest to expiry, are evicted.
    pub cache_entries: usize,
    /// Page fetches a tenant may start per `fetch_window` (cache hits are free), decided
    /// across instances by the rate-limiting capability's store; 0 turns the limit off.
    pub fetch_quota: u64,
    /// The window of `fetch_quota`.
    #[serde(with = "humantime_serde")]
    pub fetch_window: Duration,
}

impl Default for PreviewsConfig {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(600),
            cache_entries: 10_000,
            fetch_quota: 60,
            fetch_window: Duration::from_secs(60),
        }
    }
}

impl PreviewsConfig {
    /// Every problem of these settings.
    pub(super) fn errors(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.cache_ttl > Duration::from_secs(86_400) {
            e.push("previews.cache_ttl: must be between 0s (no cache) and 1d".into());
        }
        if !(1..=1_000_000).contains(&self.cache_entries) {
            e.push("previews.cache_entries: must be 1..=1000000".into());
        }
        if self.fetch_quota > 1_000_000 {
            e.push("previews.fetch_quota: must be 0 (no limit) to 1000000".into());
        }
        let w = self.fetch_window;
        if w < Duration::from_secs(1) || w > Duration::from_secs(86_400) || w.subsec_millis() != 0 {
            e.push("previews.fetch_window: must be whole seconds between 1s and 1d".into());
        }
        e
    }
}

/// Every problem of the `[fetch]` section, each naming its key (`fetch.allow.cidrs[1]`).
pub(super) fn fetch_errors(s: &palisade_fetch::FetchSettings) -> Vec<String> {
    match s.validate() {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|f| format!("fetch.{}: must be {}", f.field, f.message))
            .collect(),
    }
}
