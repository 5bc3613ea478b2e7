//! Cron's deployment settings (`[cron]`): how often due schedules are fired, the grace of a
//! late slot, and the schedules the operator declares.

use super::expr::{CronExpr, Zone};
use super::model::{MissedPolicy, ScheduleName, ScheduleSpec};
use crate::model::{JobKind, Priority, QueueName};
use palisade_core::{FieldError, TenantId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Cron settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CronSettings {
    /// Whether this instance fires due schedules (every instance may: each slot fires once).
    pub enabled: bool,
    /// The pause between two looks for due schedules (100ms ..= 1s; default 500ms).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// How late a slot may fire and still count as on time (default 10s); an older due
    /// slot is missed and follows the schedule's `missed` policy.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    /// Most schedules fired per look (1 ..= 1000; default 100).
    pub batch: u32,
    /// Schedules declared here, created or updated at start (`[[cron.schedules]]`).
    pub schedules: Vec<ConfigSchedule>,
}

impl Default for CronSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_millis(500),
            grace: Duration::from_secs(10),
            batch: 100,
            schedules: Vec::new(),
        }
    }
}

/// A schedule declared in the configuration, for a tenant id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigSchedule {
    /// The tenant's id (`ten_…`).
    pub tenant: String,
    /// The schedule's name.
    pub name: String,
    /// The cron expression.
    pub cron: String,
    /// The IANA time zone (default `UTC`).
    #[serde(default = "utc")]
    pub timezone: String,
    /// The jobs' queue.
    pub queue: String,
    /// The jobs' kind.
    pub kind: String,
    /// The jobs' payload (default `null`).
    #[serde(default)]
    pub payload: serde_json::Value,
    /// The jobs' priority, 0 ..= 9 (default 5).
    #[serde(default = "five")]
    pub priority: i64,
    /// False pauses it (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `skip` (default), `latest` or `all`.
    #[serde(default = "skip")]
    pub missed: String,
    /// Most missed slots `all` fires at once (default 100).
    #[serde(default = "hundred")]
    pub max_catch_up: u32,
}

fn utc() -> String {
    "UTC".into()
}
fn five() -> i64 {
    5
}
fn yes() -> bool {
    true
}
fn skip() -> String {
    "skip".into()
}
fn hundred() -> u32 {
    100
}

impl ConfigSchedule {
    /// The tenant, name and spec, or every invalid field.
    pub fn parse(&self) -> Result<(TenantId, ScheduleName, ScheduleSpec), Vec<FieldError>> {
        let tenant = TenantId::parse(&self.tenant).map_err(|_| {
            FieldError::new(
                "tenant",
                "a tenant id: 1 to 64 of A-Z, a-z, 0-9, '_' and '-'",
            )
        });
        let parsed = (
            tenant,
            ScheduleName::parse(&self.name),
            CronExpr::parse(&self.cron),
            Zone::parse(&self.timezone),
            QueueName::parse(&self.queue).and_then(|q| q.tenant_check("queue").map(|_| q)),
            JobKind::parse(&self.kind),
            Priority::new(self.priority),
            MissedPolicy::parse(&self.missed),
        );
        match parsed {
            (Ok(t), Ok(n), Ok(cron), Ok(tz), Ok(q), Ok(k), Ok(p), Ok(m)) => {
                let mut spec = ScheduleSpec::new(cron, q, k, self.payload.clone());
                spec.timezone = tz;
                spec.priority = p;
                spec.enabled = self.enabled;
                spec.missed = m;
                spec.max_catch_up = self.max_catch_up;
                let mut errs = Vec::new();
                if let Err(e) = spec.check() {
                    errs.extend(super::error::CronError::from(e).fields());
                }
                if errs.is_empty() {
                    Ok((t, n, spec))
                } else {
                    Err(errs)
                }
            }
            (t, n, c, z, q, k, p, m) => Err([
                t.err(),
                n.err(),
                c.err(),
                z.err(),
                q.err(),
                k.err(),
                p.err(),
                m.err(),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }
}

impl CronSettings {
    /// Every problem of these settings, each naming its key under `at` (e.g. `cron`).
    pub fn errors(&self, at: &str) -> Vec<String> {
        let mut e = Vec::new();
        let ms = self.interval.as_millis();
        if !(100..=1_000).contains(&ms) {
            e.push(format!("{at}.interval: must be between 100ms and 1s"));
        }
        if !(1_000..=86_400_000).contains(&self.grace.as_millis()) {
            e.push(format!("{at}.grace: must be between 1s and 1d"));
        }
        if !(1..=1_000).contains(&self.batch) {
            e.push(format!("{at}.batch: must be 1..=1000"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            match s.parse() {
                Ok((t, n, _)) if !seen.insert((t.clone(), n.clone())) => e.push(format!(
                    "{at}.schedules[{i}].name: declared twice for the same tenant"
                )),
                Ok(_) => {}
                Err(errs) => e.extend(
                    errs.into_iter()
                        .map(|f| format!("{at}.schedules[{i}].{}: {}", f.field, f.message)),
                ),
            }
        }
        e
    }

    /// The grace in ms.
    pub fn grace_ms(&self) -> i64 {
        i64::try_from(self.grace.as_millis()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> ConfigSchedule {
        ConfigSchedule {
            tenant: TenantId::generate().to_string(),
            name: "nightly".into(),
            cron: "0 3 * * *".into(),
            timezone: "Europe/Berlin".into(),
            queue: "reports".into(),
            kind: "report.nightly".into(),
            payload: serde_json::json!({"a": 1}),
            priority: 5,
            enabled: true,
            missed: "latest".into(),
            max_catch_up: 10,
        }
    }

    #[test]
    fn defaults_are_valid_and_interval_at_most_a_second() {
        let s = CronSettings::default();
        assert!(s.errors("cron").is_empty());
        assert!(s.interval <= Duration::from_secs(1));
    }

    #[test]
    fn every_bad_key_is_named() {
        let good = declared();
        let mut bad = declared();
        bad.cron = "0 99 * * *".into();
        bad.timezone = "Nowhere/Else".into();
        bad.missed = "sometimes".into();
        let s = CronSettings {
            interval: Duration::from_secs(5),
            batch: 0,
            schedules: vec![good.clone(), bad, good],
            ..Default::default()
        };
        let e = s.errors("cron");
        let has = |k: &str| e.iter().any(|m| m.starts_with(k));
        assert!(has("cron.interval") && has("cron.batch"), "{e:?}");
        assert!(has("cron.schedules[1].cron: field 2 (hour)"), "{e:?}");
        assert!(
            has("cron.schedules[1].timezone") && has("cron.schedules[1].missed"),
            "{e:?}"
        );
        assert!(has("cron.schedules[2].name: declared twice"), "{e:?}");
        assert!(
            !e.iter().any(|m| m.contains("99") || m.contains("Nowhere")),
            "{e:?}"
        );
    }
}
