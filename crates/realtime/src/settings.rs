//! The realtime capability's deployment settings (`[realtime]`): signing keys, token lifetimes,
//! event cap, history bounds, heartbeats, stream lifetime, buffers.

use crate::model::HistoryBounds;
use palisade_core::sensitive::SecretString;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One stream-token signing key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKey {
    /// Its id, carried in every token it signs: 1..=32 of `a-z A-Z 0-9 _ -`.
    pub id: String,
    /// The secret: at least 32 bytes. Never printed.
    pub secret: SecretString,
}

/// Realtime settings; every field is documented in `docs/configuration.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RealtimeSettings {
    /// Stream-token signing keys: the first signs, all verify. Empty: a random key of this
    /// process (tokens work on this instance only and die with it).
    pub signing_keys: Vec<SigningKey>,
    /// Lifetime of a token that asks for none.
    #[serde(with = "humantime_serde")]
    pub token_default_ttl: Duration,
    /// Longest token lifetime a mint may ask for.
    #[serde(with = "humantime_serde")]
    pub token_max_ttl: Duration,
    /// Largest event a tenant may publish (JSON bytes).
    pub max_event_bytes: usize,
    /// Events kept per topic for resuming streams.
    pub history_max_events: u64,
    /// How long an event is kept for resuming streams.
    #[serde(with = "humantime_serde")]
    pub history_max_age: Duration,
    /// Pause after which an idle stream gets a heartbeat comment.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Longest life of one stream (the client reconnects after it).
    #[serde(with = "humantime_serde")]
    pub max_stream_lifetime: Duration,
    /// Events a stream may fall behind before it is dropped as a slow consumer.
    pub stream_buffer: usize,
    /// A stream with no event delivered for this long closes (`close` reason `idle`).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most open streams of one principal across the cluster.
    pub max_streams_per_principal: u32,
    /// Most open streams of one tenant across the cluster.
    pub max_streams_per_tenant: u32,
    /// How often a job stream reads the job's event log.
    #[serde(with = "humantime_serde")]
    pub job_poll_interval: Duration,
}

impl Default for RealtimeSettings {
    fn default() -> Self {
        Self {
            signing_keys: Vec::new(),
            token_default_ttl: Duration::from_secs(300),
            token_max_ttl: Duration::from_secs(3_600),
            max_event_bytes: 64 * 1024,
            history_max_events: 1_000,
            history_max_age: Duration::from_secs(3_600),
            heartbeat_interval: Duration::from_secs(15),
            max_stream_lifetime: Duration::from_secs(3_600),
            stream_buffer: 256,
            idle_timeout: Duration::from_secs(600),
            max_streams_per_principal: 32,
            max_streams_per_tenant: 10_000,
            job_poll_interval: Duration::from_millis(500),
        }
    }
}

impl RealtimeSettings {
    /// The history bounds.
    pub fn history(&self) -> HistoryBounds {
        HistoryBounds {
            max_events: self.history_max_events,
            max_age: self.history_max_age,
        }
    }

    /// The caps on open streams.
    pub fn caps(&self) -> crate::slots::SlotCaps {
        crate::slots::SlotCaps {
            per_principal: self.max_streams_per_principal,
            per_tenant: self.max_streams_per_tenant,
        }
    }

    /// How long a stream's slot outlives its last renewal: three heartbeats (a crashed
    /// instance's streams stop counting within it).
    pub fn slot_lease(&self) -> Duration {
        self.heartbeat_interval * 3
    }

    /// Every problem of these settings, each naming its key under `at` (e.g. `realtime`).
    pub fn errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let mut bad = |key: &str, msg: &str| e.push(format!("{at}.{key}: {msg}"));
        let ms = |d: Duration| d.as_millis();
        let mut seen = std::collections::HashSet::new();
        for (i, k) in self.signing_keys.iter().enumerate() {
            let id_ok = (1..=32).contains(&k.id.len())
                && k.id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !id_ok {
                bad(
                    &format!("signing_keys[{i}].id"),
                    "must be 1 to 32 characters of a-z A-Z 0-9 _ -",
                );
            } else if !seen.insert(k.id.as_str()) {
                bad(&format!("signing_keys[{i}].id"), "must be unique");
            }
            if k.secret.expose().len() < 32 {
                bad(
                    &format!("signing_keys[{i}].secret"),
                    "must be at least 32 bytes",
                );
            }
        }
        if !(1_000..=86_400_000).contains(&ms(self.token_max_ttl)) {
            bad("token_max_ttl", "must be between 1s and 1d");
        }
        if ms(self.token_default_ttl) < 1_000 || self.token_default_ttl > self.token_max_ttl {
            bad(
                "token_default_ttl",
                &format!("must be between 1s and {at}.token_max_ttl"),
            );
        }
        if !(1..=1_048_576).contains(&self.max_event_bytes) {
            bad("max_event_bytes", "must be between 1 and 1048576 (1 MiB)");
        }
        if !(1..=10_000).contains(&self.history_max_events) {
            bad("history_max_events", "must be between 1 and 10000");
        }
        if !(1_000..=7 * 86_400_000).contains(&ms(self.history_max_age)) {
            bad("history_max_age", "must be between 1s and 7d");
        }
        if !(100..=300_000).contains(&ms(self.heartbeat_interval)) {
            bad("heartbeat_interval", "must be between 100ms and 5m");
        }
        if !(1_000..=86_400_000).contains(&ms(self.max_stream_lifetime)) {
            bad("max_stream_lifetime", "must be between 1s and 1d");
        }
        if !(1..=65_536).contains(&self.stream_buffer) {
            bad("stream_buffer", "must be between 1 and 65536");
        }
        if !(1_000..=86_400_000).contains(&ms(self.idle_timeout)) {
            bad("idle_timeout", "must be between 1s and 1d");
        }
        if !(1..=1_000_000).contains(&self.max_streams_per_principal) {
            bad("max_streams_per_principal", "must be between 1 and 1000000");
        }
        if !(1..=1_000_000).contains(&self.max_streams_per_tenant) {
            bad("max_streams_per_tenant", "must be between 1 and 1000000");
        } else if self.max_streams_per_principal > self.max_streams_per_tenant {
            bad(
                "max_streams_per_principal",
                &format!("must not exceed {at}.max_streams_per_tenant"),
            );
        }
        if !(10..=60_000).contains(&ms(self.job_poll_interval)) {
            bad("job_poll_interval", "must be between 10ms and 1m");
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_keys() {
        assert!(RealtimeSettings::default().errors("realtime").is_empty());
        let s = RealtimeSettings {
            signing_keys: vec![SigningKey {
                id: "bad id".into(),
                secret: "short".into(),
            }],
            history_max_events: 0,
            ..Default::default()
        };
        let e = s.errors("realtime");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("realtime.signing_keys[0].id"));
        assert!(
            e.iter().all(|m| !m.contains("short")),
            "never echoes the secret"
        );
    }

    #[test]
    fn idle_timeout_and_stream_caps_are_checked() {
        let s = RealtimeSettings {
            idle_timeout: Duration::from_millis(10),
            max_streams_per_principal: 50,
            max_streams_per_tenant: 10,
            ..Default::default()
        };
        let e = s.errors("realtime");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("realtime.idle_timeout: "), "{e:?}");
        assert_eq!(
            e[1],
            "realtime.max_streams_per_principal: must not exceed realtime.max_streams_per_tenant"
        );
        let zero = RealtimeSettings {
            max_streams_per_tenant: 0,
            ..Default::default()
        };
        assert!(zero.errors("realtime")[0].starts_with("realtime.max_streams_per_tenant: "));
        assert_eq!(
            RealtimeSettings::default().slot_lease(),
            Duration::from_secs(45)
        );
    }
}
