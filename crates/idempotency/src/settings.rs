//! Idempotency's deployment settings (`[idempotency]`): which store holds entries, for how long, how often they are swept.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where idempotency entries live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdempotencyStoreKind {
    /// The durable store (SQLite or PostgreSQL): entries survive a crash of every process.
    #[default]
    Durable,
    /// The hot store (Redis; the embedding application must open one): faster, durable only
    /// as far as Redis persists.
    Redis,
}

/// Idempotency settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencySettings {
    /// `durable` (default) or `redis`.
    pub store: IdempotencyStoreKind,
    /// How long a begun entry stays locked before a retry may take it over.
    #[serde(with = "humantime_serde")]
    pub lock_timeout: Duration,
    /// How long a completed response is replayed (and an unfinished entry kept).
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// How often each process deletes expired entries from the durable store.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            store: IdempotencyStoreKind::Durable,
            lock_timeout: Duration::from_secs(60),
            ttl: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

impl IdempotencySettings {
    /// Every problem of these settings, each naming its key under `at` (e.g. `idempotency`).
    pub fn errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let mut bad = |key: &str, msg: &str| e.push(format!("{at}.{key}: {msg}"));
        let ms = |d: Duration| d.as_millis();
        if !(1_000..=3_600_000).contains(&ms(self.lock_timeout)) {
            bad("lock_timeout", "must be between 1s and 1h");
        }
        if !(1_000..=30 * 86_400_000).contains(&ms(self.ttl)) {
            bad("ttl", "must be between 1s and 30 days");
        } else if self.ttl < self.lock_timeout {
            let msg = format!("must not be shorter than {at}.lock_timeout");
            bad("ttl", &msg);
        }
        if !(100..=3_600_000).contains(&ms(self.sweep_interval)) {
            bad("sweep_interval", "must be between 100ms and 1h");
        }
        e
    }

    /// The idempotency layer's settings with these lock and retention times.
    pub fn layer_config(&self) -> crate::IdempotencyConfig {
        crate::IdempotencyConfig {
            lock_ttl: self.lock_timeout,
            ttl: self.ttl,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_key_is_reported_with_its_path() {
        let s = IdempotencySettings {
            lock_timeout: Duration::from_millis(10),
            sweep_interval: Duration::from_secs(7200),
            ..Default::default()
        };
        let e = s.errors("idempotency");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("idempotency.lock_timeout: "));
        assert!(e[1].starts_with("idempotency.sweep_interval: "));
        assert!(IdempotencySettings::default()
            .errors("idempotency")
            .is_empty());
    }
}
