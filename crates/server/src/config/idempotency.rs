//! The `[idempotency]` section: which store holds idempotency entries and for how long.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where idempotency entries live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IdempotencyStoreKind {
    /// The durable store (SQLite or PostgreSQL): entries survive a crash of every process.
    #[default]
    Durable,
    /// Redis (`storage.redis_url` required): faster, durable only as far as Redis persists.
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
    /// Every problem of these settings (`redis` is whether `storage.redis_url` is set).
    pub(super) fn errors(&self, redis: bool) -> Vec<String> {
        let mut e = Vec::new();
        if self.store == IdempotencyStoreKind::Redis && !redis {
            e.push("idempotency.store: `redis` needs storage.redis_url".into());
        }
        let ms = |d: Duration| d.as_millis();
        if !(1_000..=3_600_000).contains(&ms(self.lock_timeout)) {
            e.push("idempotency.lock_timeout: must be between 1s and 1h".into());
        }
        if !(1_000..=30 * 86_400_000).contains(&ms(self.ttl)) {
            e.push("idempotency.ttl: must be between 1s and 30 days".into());
        } else if self.ttl < self.lock_timeout {
            e.push("idempotency.ttl: must not be shorter than idempotency.lock_timeout".into());
        }
        if !(100..=3_600_000).contains(&ms(self.sweep_interval)) {
            e.push("idempotency.sweep_interval: must be between 100ms and 1h".into());
        }
        e
    }

    /// The idempotency layer's settings with these lock and retention times.
    pub fn layer_config(&self) -> palisade_idempotency::IdempotencyConfig {
        palisade_idempotency::IdempotencyConfig {
            lock_ttl: self.lock_timeout,
            ttl: self.ttl,
            ..Default::default()
        }
    }
}
