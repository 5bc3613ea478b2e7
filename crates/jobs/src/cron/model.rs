//! Schedules: names, missed-slot policies, the stored schedule and what creates or updates it.

use super::expr::{CronExpr, Zone};
use crate::model::{JobKind, Priority, QueueName};
use crate::params::{check_size, JobEnqueue, MAX_PAYLOAD_BYTES};
use crate::{JobError, JobId, UniqueSpec, UniqueStates};
use palisade_core::{FieldError, TenantId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest schedule name (characters).
pub const MAX_SCHEDULE_NAME: usize = 100;
/// Most missed slots policy `all` fires at once.
pub const MAX_CATCH_UP: u32 = 1_000;

/// A schedule's name, its id within the tenant: 1 to 100 of `A-Z a-z 0-9 . _ -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScheduleName(String);

impl ScheduleName {
    /// Validates `s`.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let ok = (1..=MAX_SCHEDULE_NAME).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(FieldError::new(
                "name",
                "1 to 100 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
            ))
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScheduleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ScheduleName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).map_err(|e| e.message)
    }
}

impl From<ScheduleName> for String {
    fn from(v: ScheduleName) -> String {
        v.0
    }
}

/// What a fire does with slots that were due but not fired in time (the instance was down,
/// or the schedule's slot was later than the grace): the slot that is due now fires in every
/// policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedPolicy {
    /// Fire none of them (the default).
    #[default]
    Skip,
    /// Fire the most recent of them, once.
    Latest,
    /// Fire each of them, oldest first, up to the schedule's `max_catch_up` most recent.
    All,
}

impl MissedPolicy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::Latest => "latest",
            Self::All => "all",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        match s {
            "skip" => Ok(Self::Skip),
            "latest" => Ok(Self::Latest),
            "all" => Ok(Self::All),
            _ => Err(FieldError::new("missed", "one of skip, latest, all")),
        }
    }
}

/// What a schedule does: the part a create or an update gives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// When: the cron expression.
    pub cron: CronExpr,
    /// The time zone the expression's local times are in.
    pub timezone: Zone,
    /// The queue of the jobs it enqueues.
    pub queue: QueueName,
    /// The kind of the jobs it enqueues.
    pub kind: JobKind,
    /// The payload of every job it enqueues (at most 256 KiB as JSON).
    pub payload: serde_json::Value,
    /// The jobs' priority.
    pub priority: Priority,
    /// False pauses it: no slot fires, and slots while paused are not missed.
    pub enabled: bool,
    /// Missed slots' policy.
    pub missed: MissedPolicy,
    /// Most missed slots `all` fires at once, 1 ..= [`MAX_CATCH_UP`].
    pub max_catch_up: u32,
}

impl ScheduleSpec {
    /// A schedule of `cron` (UTC) enqueueing `kind` on `queue` with `payload`, the defaults
    /// for the rest (priority 5, enabled, `skip`, catch-up bound 100).
    pub fn new(
        cron: CronExpr,
        queue: QueueName,
        kind: JobKind,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            cron,
            timezone: Zone::UTC,
            queue,
            kind,
            payload,
            priority: Priority::DEFAULT,
            enabled: true,
            missed: MissedPolicy::Skip,
            max_catch_up: 100,
        }
    }

    /// Checks the bounds the types do not.
    pub fn check(&self) -> Result<(), JobError> {
        check_size("payload", &self.payload, MAX_PAYLOAD_BYTES)?;
        if !(1..=MAX_CATCH_UP).contains(&self.max_catch_up) {
            return Err(JobError::Invalid(vec![FieldError::new(
                "max_catch_up",
                "an integer from 1 to 1000",
            )]));
        }
        Ok(())
    }
}

/// A stored schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Its name.
    pub name: ScheduleName,
    /// What it does.
    #[serde(flatten)]
    pub spec: ScheduleSpec,
    /// Slots after this instant (ms) are due; the store advances it with a compare-and-set
    /// when it fires.
    pub cursor_ms: i64,
    /// The next slot after the cursor (ms), `None` when the expression has no more.
    pub next_slot_ms: Option<i64>,
    /// The last slot fired (ms).
    pub last_fired_slot_ms: Option<i64>,
    /// Created at (ms).
    pub created_at_ms: i64,
    /// Last changed at (ms).
    pub updated_at_ms: i64,
}

impl Schedule {
    /// A new schedule created at `now_ms`: slots after `now_ms` are due.
    pub fn new(tenant: &TenantId, name: ScheduleName, spec: ScheduleSpec, now_ms: i64) -> Self {
        let next = spec.cron.next_after(spec.timezone, now_ms);
        Self {
            tenant: tenant.clone(),
            name,
            spec,
            cursor_ms: now_ms,
            next_slot_ms: next,
            last_fired_slot_ms: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        }
    }

    /// Replaces what it does at `now_ms`. A new expression or zone, or enabling a paused
    /// schedule, restarts it at `now_ms` (nothing before counts as missed).
    pub fn update(&mut self, spec: ScheduleSpec, now_ms: i64) {
        let restart = spec.cron != self.spec.cron
            || spec.timezone != self.spec.timezone
            || (spec.enabled && !self.spec.enabled);
        if restart {
            self.cursor_ms = now_ms;
        }
        self.spec = spec;
        self.next_slot_ms = self
            .spec
            .cron
            .next_after(self.spec.timezone, self.cursor_ms);
        self.updated_at_ms = now_ms;
    }

    /// True when a slot is due at `now_ms`.
    pub fn is_due(&self, now_ms: i64) -> bool {
        self.spec.enabled && self.next_slot_ms.is_some_and(|n| n <= now_ms)
    }

    /// The unique key of the job of `slot_ms`: one job per schedule and slot, ever.
    pub fn slot_key(&self, slot_ms: i64) -> String {
        format!("cron:{}@{slot_ms}", self.name)
    }

    /// The enqueue of the job for `slot_ms`.
    pub fn job_for(&self, slot_ms: i64) -> JobEnqueue {
        let mut e = JobEnqueue::new(
            self.spec.queue.clone(),
            self.spec.kind.clone(),
            self.spec.payload.clone(),
        );
        e.priority = self.spec.priority;
        e.unique = Some(UniqueSpec {
            key: self.slot_key(slot_ms),
            states: UniqueStates::ALL,
            period_ms: None,
        });
        e
    }
}

/// `cron_fire`: fire the due slots of one schedule at `now_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronFire {
    /// The schedule.
    pub name: ScheduleName,
    /// The time of the fire (ms).
    pub now_ms: i64,
    /// How late a slot may fire and still be on time (ms); an older one is missed.
    pub grace_ms: i64,
}

/// The answer of `cron_fire`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fired {
    /// The slots fired (ms), oldest first, with their jobs.
    pub jobs: Vec<(i64, JobId)>,
    /// Missed slots the policy did not fire.
    pub skipped: u64,
    /// True when another fire advanced the schedule first: this one changed nothing.
    pub raced: bool,
}

/// A due schedule, as `cron_due` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueSchedule {
    /// Its tenant.
    pub tenant: TenantId,
    /// Its name.
    pub name: ScheduleName,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_policies() {
        assert!(ScheduleName::parse("nightly-report.v2_x").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(101)] {
            assert_eq!(ScheduleName::parse(bad).unwrap_err().field, "name");
        }
        for p in [MissedPolicy::Skip, MissedPolicy::Latest, MissedPolicy::All] {
            assert_eq!(MissedPolicy::parse(p.as_str()).unwrap(), p);
        }
        assert!(MissedPolicy::parse("some").is_err());
    }
}
