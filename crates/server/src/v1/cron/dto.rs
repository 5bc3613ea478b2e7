//! The bodies of `/v1/cron`: checked field by field into a schedule spec; the schedule view.

use crate::error::ApiError;
use palisade_core::{FieldError, Problem};
use palisade_jobs::cron::{CronExpr, MissedPolicy, Schedule, ScheduleName, ScheduleSpec, Zone};
use palisade_jobs::{JobKind, Priority, QueueName};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A schedule: its name and what it does (`POST` and `PUT`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// The schedule's name, its id in the tenant: 1..=100 of `A-Z a-z 0-9 . _ -`. Required
    /// on create; on replace absent or the name in the path.
    #[serde(default)]
    #[schema(value_type = String)]
    pub name: Value,
    /// Cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 with
    /// seconds first; `*`, lists, ranges, steps, `@daily`….
    #[serde(default)]
    #[schema(value_type = String)]
    pub cron: Value,
    /// IANA time zone of the expression's local times (default `UTC`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub timezone: Value,
    /// Queue of the jobs (1..=200 characters).
    #[serde(default)]
    #[schema(value_type = String)]
    pub queue: Value,
    /// Kind of the jobs (1..=200 characters).
    #[serde(default)]
    #[schema(value_type = String)]
    pub kind: Value,
    /// Payload of every job (any JSON, at most 256 KiB; default null).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Priority of the jobs, 0 (first) ..= 9 (default 5).
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub priority: Value,
    /// False pauses the schedule (default true).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub enabled: Value,
    /// Missed slots: `skip` (default), `latest` or `all`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub missed: Value,
    /// Most missed slots `all` fires at once, 1..=1000 (default 100).
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    pub max_catch_up: Value,
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn or_default<T>(
    v: &Value,
    d: T,
    f: impl FnOnce(&Value) -> Result<T, FieldError>,
) -> Result<T, FieldError> {
    if v.is_null() {
        Ok(d)
    } else {
        f(v)
    }
}

impl ScheduleBody {
    /// The spec, or every invalid field.
    fn spec(&self) -> Result<ScheduleSpec, Vec<FieldError>> {
        let parsed = (
            CronExpr::parse(text(&self.cron)),
            or_default(&self.timezone, Zone::UTC, |v| Zone::parse(text(v))),
            QueueName::parse(text(&self.queue)).and_then(|q| q.tenant_check("queue").map(|_| q)),
            JobKind::parse(text(&self.kind)),
            or_default(&self.priority, Priority::DEFAULT, |v| {
                Priority::new(v.as_i64().unwrap_or(-1))
            }),
            or_default(&self.enabled, true, |v| {
                v.as_bool()
                    .ok_or_else(|| FieldError::new("enabled", "true or false"))
            }),
            or_default(&self.missed, MissedPolicy::Skip, |v| {
                MissedPolicy::parse(text(v))
            }),
            or_default(&self.max_catch_up, 100, |v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| (1..=palisade_jobs::cron::MAX_CATCH_UP).contains(n))
                    .ok_or_else(|| FieldError::new("max_catch_up", "an integer from 1 to 1000"))
            }),
        );
        match parsed {
            (Ok(cron), Ok(tz), Ok(q), Ok(k), Ok(p), Ok(en), Ok(m), Ok(mc)) => {
                let mut spec = ScheduleSpec::new(cron, q, k, self.payload.clone());
                spec.timezone = tz;
                spec.priority = p;
                spec.enabled = en;
                spec.missed = m;
                spec.max_catch_up = mc;
                Ok(spec)
            }
            (c, z, q, k, p, en, m, mc) => Err([
                c.err(),
                z.err(),
                q.err(),
                k.err(),
                p.err(),
                en.err(),
                m.err(),
                mc.err(),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }
}

impl ScheduleBody {
    /// The name and spec of a create, or a 400 naming every invalid field.
    pub fn create(&self) -> Result<(ScheduleName, ScheduleSpec), ApiError> {
        merge(ScheduleName::parse(text(&self.name)), self.spec())
    }

    /// The name (from the path) and spec of a replace, or a 400 naming every invalid field.
    pub fn replace(&self, path: &str) -> Result<(ScheduleName, ScheduleSpec), ApiError> {
        let name = ScheduleName::parse(path).and_then(|n| match &self.name {
            Value::Null => Ok(n),
            v if text(v) == n.as_str() => Ok(n),
            _ => Err(FieldError::new("name", "absent, or the name in the path")),
        });
        merge(name, self.spec())
    }
}

/// Both parts, or a 400 with every invalid field of either.
fn merge(
    name: Result<ScheduleName, FieldError>,
    spec: Result<ScheduleSpec, Vec<FieldError>>,
) -> Result<(ScheduleName, ScheduleSpec), ApiError> {
    match (name, spec) {
        (Ok(n), Ok(s)) => Ok((n, s)),
        (n, s) => {
            let mut all: Vec<FieldError> = n.err().into_iter().collect();
            all.extend(s.err().unwrap_or_default());
            Err(Problem::invalid(all).into())
        }
    }
}

/// A schedule as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    /// Its name.
    pub name: String,
    /// The cron expression.
    pub cron: String,
    /// The IANA time zone.
    pub timezone: String,
    /// The jobs' queue.
    pub queue: String,
    /// The jobs' kind.
    pub kind: String,
    /// The jobs' payload.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The jobs' priority.
    pub priority: i64,
    /// False while paused.
    pub enabled: bool,
    /// Missed slots' policy.
    pub missed: String,
    /// Most missed slots `all` fires at once.
    pub max_catch_up: u32,
    /// The next slot (ms since the epoch), absent when the expression has no more.
    pub next_slot_ms: Option<i64>,
    /// The last slot fired (ms).
    pub last_fired_slot_ms: Option<i64>,
    /// Created at (ms).
    pub created_at_ms: i64,
    /// Last changed at (ms).
    pub updated_at_ms: i64,
}

impl From<Schedule> for ScheduleView {
    fn from(s: Schedule) -> Self {
        Self {
            name: s.name.to_string(),
            cron: s.spec.cron.as_str().to_owned(),
            timezone: s.spec.timezone.name().to_owned(),
            queue: s.spec.queue.to_string(),
            kind: s.spec.kind.to_string(),
            payload: s.spec.payload,
            priority: i64::from(s.spec.priority),
            enabled: s.spec.enabled,
            missed: s.spec.missed.as_str().to_owned(),
            max_catch_up: s.spec.max_catch_up,
            next_slot_ms: s.next_slot_ms.filter(|_| s.spec.enabled),
            last_fired_slot_ms: s.last_fired_slot_ms,
            created_at_ms: s.created_at_ms,
            updated_at_ms: s.updated_at_ms,
        }
    }
}

/// A page of schedules.
#[derive(Serialize, ToSchema)]
pub struct ScheduleList {
    /// The schedules, by name.
    pub items: Vec<ScheduleView>,
    /// Cursor of the next page, absent on the last.
    pub next: Option<String>,
}
