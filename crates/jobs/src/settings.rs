//! The jobs capability's deployment settings (`[jobs]`): caps, lease bounds, retention, backoff, fairness, maintenance.

use crate::backoff::BackoffByKind;
use crate::limits::QueueLimits;
use crate::params::MAX_PAYLOAD_BYTES;
use crate::sweep::Retention;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Jobs settings; every field is documented in `docs/configuration.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsSettings {
    /// Largest payload of an enqueue (serialised JSON, bytes), 1 ..= 262144 (256 KiB).
    pub max_payload_bytes: usize,
    /// Lease length of a job that names none.
    #[serde(with = "humantime_serde")]
    pub default_lease: Duration,
    /// Shortest lease a job may ask for.
    #[serde(with = "humantime_serde")]
    pub min_lease: Duration,
    /// Longest lease a job may ask for.
    #[serde(with = "humantime_serde")]
    pub max_lease: Duration,
    /// How long finished jobs are kept, per final state.
    pub retention: Retention,
    /// Retry schedules: the default and per job kind (a job may still name its own).
    pub backoff: BackoffByKind,
    /// Most running jobs of one tenant in one queue; none: no cap (fairness still applies).
    pub max_running_per_tenant: Option<u32>,
    /// Per-key limits by queue name (`[jobs.limits.<queue>]`).
    pub limits: BTreeMap<String, QueueLimits>,
    /// Longest long-poll of an HTTP worker's lease (also capped by the request timeout).
    #[serde(with = "humantime_serde")]
    pub max_lease_wait: Duration,
    /// How often a waiting lease (and a waiting cancel) looks at the store again when no
    /// wake-up came.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// On PostgreSQL, wake waiting leases and cancels by `LISTEN`/`NOTIFY` (off behind
    /// PgBouncer in transaction mode: then they poll only).
    pub listen: bool,
    /// How long an `Idempotency-Key` of an enqueue holds (its period slot).
    #[serde(with = "humantime_serde")]
    pub idempotency_period: Duration,
    /// How often each process rescues jobs whose lease ended (a rescue follows an expiry
    /// within this interval).
    #[serde(with = "humantime_serde")]
    pub rescue_interval: Duration,
    /// How often each process deletes finished jobs past their retention.
    #[serde(with = "humantime_serde")]
    pub prune_interval: Duration,
}

impl Default for JobsSettings {
    fn default() -> Self {
        Self {
            max_payload_bytes: MAX_PAYLOAD_BYTES,
            default_lease: Duration::from_secs(30),
            min_lease: Duration::from_secs(1),
            max_lease: Duration::from_secs(3_600),
            retention: Retention::default(),
            backoff: BackoffByKind::default(),
            max_running_per_tenant: None,
            limits: BTreeMap::new(),
            max_lease_wait: Duration::from_secs(30),
            poll_interval: Duration::from_millis(200),
            listen: true,
            idempotency_period: Duration::from_secs(86_400),
            rescue_interval: Duration::from_secs(1),
            prune_interval: Duration::from_secs(60),
        }
    }
}

impl JobsSettings {
    /// Every problem of these settings, each naming its key under `at` (e.g. `jobs`).
    pub fn errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let mut bad = |key: &str, msg: &str| e.push(format!("{at}.{key}: {msg}"));
        let ms = |d: Duration| d.as_millis();
        if !(1..=MAX_PAYLOAD_BYTES).contains(&self.max_payload_bytes) {
            bad(
                "max_payload_bytes",
                "must be between 1 and 262144 (256 KiB)",
            );
        }
        if !(100..=3_600_000).contains(&ms(self.min_lease)) {
            bad("min_lease", "must be between 100ms and 1h");
        }
        if !(100..=3_600_000).contains(&ms(self.max_lease)) {
            bad("max_lease", "must be between 100ms and 1h");
        } else if self.max_lease < self.min_lease {
            bad(
                "max_lease",
                &format!("must not be shorter than {at}.min_lease"),
            );
        }
        if self.default_lease < self.min_lease || self.default_lease > self.max_lease {
            bad(
                "default_lease",
                &format!("must be between {at}.min_lease and {at}.max_lease"),
            );
        }
        for (key, keep) in [
            ("retention.completed", self.retention.completed),
            ("retention.dead", self.retention.dead),
            ("retention.cancelled", self.retention.cancelled),
        ] {
            if keep.is_some_and(|d| !(1_000..=3_660 * 86_400_000).contains(&ms(d))) {
                bad(
                    key,
                    "must be between 1s and 3660 days, or absent to keep forever",
                );
            }
        }
        for f in self.backoff.check() {
            bad(&f.field, &format!("must be {}", f.message));
        }
        if self
            .max_running_per_tenant
            .is_some_and(|n| n == 0 || n > 100_000)
        {
            bad("max_running_per_tenant", "must be between 1 and 100000");
        }
        for (queue, limits) in &self.limits {
            if crate::model::QueueName::parse(queue).is_err() {
                e.push(format!(
                    "{at}.limits.{queue}: must name a queue (1 to 200 characters)"
                ));
            }
            e.extend(limits.errors(&format!("{at}.limits.{queue}")));
        }
        let mut bad = |key: &str, msg: &str| e.push(format!("{at}.{key}: {msg}"));
        if ms(self.max_lease_wait) > 600_000 {
            bad("max_lease_wait", "must be between 0s and 10m");
        }
        if !(10..=60_000).contains(&ms(self.poll_interval)) {
            bad("poll_interval", "must be between 10ms and 1m");
        }
        if !(1_000..=366 * 86_400_000).contains(&ms(self.idempotency_period)) {
            bad("idempotency_period", "must be between 1s and 366 days");
        }
        if !(10..=60_000).contains(&ms(self.rescue_interval)) {
            bad("rescue_interval", "must be between 10ms and 1m");
        }
        if !(100..=86_400_000).contains(&ms(self.prune_interval)) {
            bad("prune_interval", "must be between 100ms and 1d");
        }
        e
    }

    /// `lease_ms` of an enqueue: the job's own (checked against the bounds by the caller) or
    /// the default.
    pub fn lease_ms(&self, own: Option<i64>) -> i64 {
        own.unwrap_or(self.default_lease.as_millis() as i64)
    }

    /// The per-key limits of `queue` (none set: no limits).
    pub fn queue_limits(&self, queue: &str) -> QueueLimits {
        self.limits.get(queue).copied().unwrap_or_default()
    }

    /// True when `lease_ms` is within `min_lease ..= max_lease`.
    pub fn lease_ok(&self, lease_ms: i64) -> bool {
        let ms = |d: Duration| d.as_millis() as i64;
        (ms(self.min_lease)..=ms(self.max_lease)).contains(&lease_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(JobsSettings::default().errors("jobs").is_empty());
    }

    #[test]
    fn every_bad_key_is_reported_with_its_path() {
        let mut s = JobsSettings {
            max_payload_bytes: 0,
            min_lease: Duration::from_secs(10),
            max_lease: Duration::from_secs(5),
            max_running_per_tenant: Some(0),
            rescue_interval: Duration::from_secs(120),
            ..Default::default()
        };
        s.retention.dead = Some(Duration::from_millis(1));
        s.backoff.default.factor = 0.0;
        let e = s.errors("jobs");
        let keys: Vec<&str> = e.iter().map(|m| m.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "jobs.max_payload_bytes",
                "jobs.max_lease",
                "jobs.default_lease",
                "jobs.retention.dead",
                "jobs.backoff.default.factor",
                "jobs.max_running_per_tenant",
                "jobs.rescue_interval",
            ],
            "{e:?}"
        );
    }

    #[test]
    fn lease_bounds() {
        let s = JobsSettings::default();
        assert_eq!(s.lease_ms(None), 30_000);
        assert!(s.lease_ok(1_000) && s.lease_ok(3_600_000));
        assert!(!s.lease_ok(999) && !s.lease_ok(3_600_001));
    }
}
