//! The `[audit]` settings: retention, queue size, batch size, prune interval.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Audit trail settings (`audit.*`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// How long records are kept (default 90 days).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often each process deletes expired records.
    #[serde(with = "humantime_serde")]
    pub prune_interval: Duration,
    /// Events queued for the writer at most; past it new events are dropped and counted.
    pub queue_capacity: usize,
    /// Records appended per store write at most.
    pub batch: usize,
    /// Longest wait for a batch to fill before it is written (from its first record).
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(90 * 86_400),
            prune_interval: Duration::from_secs(3_600),
            queue_capacity: 10_000,
            batch: 256,
            flush_interval: Duration::from_millis(100),
        }
    }
}

impl AuditSettings {
    /// Every problem of these settings, each naming its key (`audit.retention: …`).
    pub fn errors(&self) -> Vec<String> {
        let mut e = Vec::new();
        let ms = |d: Duration| d.as_millis();
        if !(3_600_000..=3_650 * 86_400_000).contains(&ms(self.retention)) {
            e.push("audit.retention: must be between 1h and 3650 days".into());
        }
        if !(1_000..=86_400_000).contains(&ms(self.prune_interval)) {
            e.push("audit.prune_interval: must be between 1s and 1 day".into());
        }
        if !(1..=1_000_000).contains(&self.queue_capacity) {
            e.push("audit.queue_capacity: must be between 1 and 1000000".into());
        }
        if !(1..=1_000).contains(&self.batch) {
            e.push("audit.batch: must be between 1 and 1000".into());
        }
        if ms(self.flush_interval) > 86_400_000 {
            e.push("audit.flush_interval: must be at most 1 day".into());
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_all_named() {
        assert!(AuditSettings::default().errors().is_empty());
        let bad = AuditSettings {
            retention: Duration::from_secs(1),
            prune_interval: Duration::ZERO,
            queue_capacity: 0,
            batch: 5_000,
            flush_interval: Duration::from_secs(2 * 86_400),
        };
        let keys: Vec<String> = bad
            .errors()
            .iter()
            .map(|e| e.split(':').next().unwrap().to_owned())
            .collect();
        assert_eq!(
            keys,
            [
                "audit.retention",
                "audit.prune_interval",
                "audit.queue_capacity",
                "audit.batch",
                "audit.flush_interval"
            ]
        );
    }
}
