//! Job names, states and records: queues, kinds, priorities, unique specs, progress, events.

use crate::backoff::Backoff;
use palisade_core::{FieldError, TenantId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest queue name, kind, tag, owner or unique key (characters).
pub const MAX_NAME: usize = palisade_core::text::MAX_TEXT;

pub(crate) use palisade_core::text::text_ok as name_ok;

palisade_core::text_name!(
    /// A queue: workers lease from one queue; queues are created on demand.
    QueueName,
    "queue"
);
/// The prefix of the queues Palisade's own capabilities run (webhook deliveries, lockout
/// notices): no tenant may enqueue to, lease from or schedule onto them.
pub const RESERVED_QUEUE_PREFIX: &str = "palisade.";

impl QueueName {
    /// True for a queue of Palisade's own ([`RESERVED_QUEUE_PREFIX`]).
    pub fn is_reserved(&self) -> bool {
        self.as_str().starts_with(RESERVED_QUEUE_PREFIX)
    }

    /// This queue as a tenant may name it: refused when reserved, naming `field`.
    pub fn tenant_check(&self, field: &str) -> Result<(), FieldError> {
        match self.is_reserved() {
            true => Err(FieldError::new(
                field,
                "a queue not starting with `palisade.` (reserved for Palisade's own jobs)",
            )),
            false => Ok(()),
        }
    }
}

palisade_core::text_name!(
    /// What a job does: workers dispatch on it to a handler.
    JobKind,
    "kind"
);
palisade_core::text_name!(
    /// A label a job carries for listing and filtering.
    Tag,
    "tags"
);
palisade_core::text_name!(
    /// The principal that owns a job (optional), e.g. the user who started it.
    Owner,
    "owner"
);
palisade_core::text_name!(
    /// The key a job's per-key limits count it under (within its tenant; default: the tenant
    /// itself), e.g. the customer account the job works for.
    LimitKey,
    "limit_key"
);
palisade_core::text_name!(
    /// Who holds a lease: an opaque worker id chosen by the worker.
    WorkerId,
    "worker"
);

/// A job's id: `job_`, 12 hex digits of its creation time (ms), 12 random alphanumerics, so
/// ids sort by creation time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

impl JobId {
    /// A fresh id created at `now_ms`.
    pub fn generate(now_ms: i64) -> Self {
        let rand = palisade_core::secret::random_token(12);
        Self(format!("job_{:012x}{rand}", now_ms.max(0)))
    }

    /// Validates `s` as a job id.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let ok = s.len() == 28
            && s.starts_with("job_")
            && s[4..].bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(FieldError::new(
                "id",
                "a job id (job_ and 24 alphanumerics)",
            ))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for JobId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).map_err(|e| e.message)
    }
}

impl From<JobId> for String {
    fn from(v: JobId) -> String {
        v.0
    }
}

/// Where a job is in its life.
///
/// `queued` (due at enqueue) and `scheduled` (run-at in the future) and `retrying` (a failed
/// attempt waiting for its backoff) are *waiting* states: a job in one of them is leased once
/// its run-at has come. `running` holds a lease; `completed`, `dead` and `cancelled` are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting, due since enqueue.
    Queued,
    /// Waiting for its run-at.
    Scheduled,
    /// Leased by a worker.
    Running,
    /// Failed an attempt; waiting for its retry time.
    Retrying,
    /// Finished successfully.
    Completed,
    /// Failed its last attempt (or gave up); kept for re-drive.
    Dead,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// Every state, in order.
    pub const ALL: [JobState; 7] = [
        Self::Queued,
        Self::Scheduled,
        Self::Running,
        Self::Retrying,
        Self::Completed,
        Self::Dead,
        Self::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Completed => "completed",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                FieldError::new(
                    "state",
                    "one of queued, scheduled, running, retrying, completed, dead, cancelled",
                )
            })
    }

    /// True for the states a lease picks from (once run-at has come).
    pub fn is_waiting(self) -> bool {
        matches!(self, Self::Queued | Self::Scheduled | Self::Retrying)
    }

    /// True for completed, dead and cancelled.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Dead | Self::Cancelled)
    }

    /// The state's bit in a [`UniqueStates`] mask (cancelled has none: a cancelled job never
    /// blocks a unique enqueue).
    pub fn unique_bit(self) -> u8 {
        match self {
            Self::Queued => 1,
            Self::Scheduled => 2,
            Self::Running => 4,
            Self::Retrying => 8,
            Self::Completed => 16,
            Self::Dead => 32,
            Self::Cancelled => 0,
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The states in which an existing job with the same unique key makes an enqueue a duplicate
/// (serialised as the list of their names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<JobState>", into = "Vec<JobState>")]
pub struct UniqueStates(u8);

impl TryFrom<Vec<JobState>> for UniqueStates {
    type Error = String;
    fn try_from(v: Vec<JobState>) -> Result<Self, Self::Error> {
        Self::of(&v).map_err(|e| e.message)
    }
}

impl From<UniqueStates> for Vec<JobState> {
    fn from(m: UniqueStates) -> Self {
        JobState::ALL
            .into_iter()
            .filter(|s| m.contains(*s))
            .collect()
    }
}

impl UniqueStates {
    /// Every state but cancelled (the default).
    pub const ALL: UniqueStates = UniqueStates(63);
    /// Queued, scheduled, running and retrying: a duplicate only while the job is unfinished.
    pub const UNFINISHED: UniqueStates = UniqueStates(15);

    /// The mask of `states`; cancelled is ignored. Empty is refused.
    pub fn of(states: &[JobState]) -> Result<Self, FieldError> {
        let bits = states.iter().fold(0, |m, s| m | s.unique_bit());
        if bits == 0 {
            return Err(FieldError::new(
                "unique.states",
                "at least one of queued, scheduled, running, retrying, completed, dead",
            ));
        }
        Ok(Self(bits))
    }

    /// The stored mask (SQL checks it in the partial unique index).
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The mask from its stored form.
    pub fn from_bits(bits: u8) -> Self {
        Self(bits & 63)
    }

    /// True when `state` is in the mask.
    pub fn contains(self, state: JobState) -> bool {
        self.0 & state.unique_bit() != 0
    }
}

impl Default for UniqueStates {
    fn default() -> Self {
        Self::ALL
    }
}

/// Lower runs first: 0 (most urgent) ..= 9; the default is [`Priority::DEFAULT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Priority(u8);

impl Priority {
    /// Priority 5.
    pub const DEFAULT: Priority = Priority(5);

    /// Validates `p` (0 ..= 9).
    pub fn new(p: i64) -> Result<Self, FieldError> {
        u8::try_from(p)
            .ok()
            .filter(|p| *p <= 9)
            .map(Self)
            .ok_or_else(|| FieldError::new("priority", "an integer from 0 (first) to 9"))
    }

    /// The value.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<i64> for Priority {
    type Error = String;
    fn try_from(p: i64) -> Result<Self, Self::Error> {
        Self::new(p).map_err(|e| e.message)
    }
}

impl From<Priority> for i64 {
    fn from(p: Priority) -> i64 {
        i64::from(p.0)
    }
}

/// A running job's reported progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Progress {
    /// Percent done, 0 ..= 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    /// A short message for people (at most 1,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Small structured detail (at most 16 KiB as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// A durable job as the store holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// The queue it runs on.
    pub queue: QueueName,
    /// What it does.
    pub kind: JobKind,
    /// Its input.
    pub payload: serde_json::Value,
    /// The principal that owns it, if any.
    pub owner: Option<Owner>,
    /// The key its queue's per-key limits count it under (within the tenant); `None`: the
    /// tenant's own key.
    #[serde(default)]
    pub limit_key: Option<LimitKey>,
    /// Lower runs first.
    pub priority: Priority,
    /// Where it is in its life.
    pub state: JobState,
    /// When it may run next (ms); for a running job, when its attempt started.
    pub run_at_ms: i64,
    /// Attempts started so far (the running attempt included).
    pub attempt: u32,
    /// Attempts allowed before it is dead.
    pub max_attempts: u32,
    /// How long one attempt may run (ms); the worker enforces it.
    pub timeout_ms: i64,
    /// How long a lease lasts without a heartbeat (ms).
    pub lease_ms: i64,
    /// The retry schedule.
    pub backoff: Backoff,
    /// Labels.
    pub tags: Vec<Tag>,
    /// The unique key as stored (with its period slot appended), if any.
    pub unique_key: Option<String>,
    /// The states in which the unique key blocks a duplicate.
    pub unique_states: UniqueStates,
    /// The current (or last) lease's fencing token; 0 before the first lease.
    pub lease_token: u64,
    /// When the current lease ends (ms), while running.
    pub lease_expires_at_ms: Option<i64>,
    /// The worker holding the current lease, while running.
    pub worker: Option<WorkerId>,
    /// True once a cancel was asked for while running.
    pub cancel_requested: bool,
    /// The last saved checkpoint, handed to the next attempt.
    pub checkpoint: Option<serde_json::Value>,
    /// The last reported progress.
    pub progress: Option<Progress>,
    /// The last attempt's error message.
    pub last_error: Option<String>,
    /// Created at (ms).
    pub created_at_ms: i64,
    /// Last changed at (ms).
    pub updated_at_ms: i64,
    /// Reached a final state at (ms).
    pub finished_at_ms: Option<i64>,
    /// Events in its log so far (the next event's offset).
    pub events: u64,
}

/// The prefix of an API key's id: an owner starting with it names a key of the tenant.
pub const KEY_PRINCIPAL_PREFIX: &str = "key_";

impl Job {
    /// The key its per-key limits count it under: its limit key, or empty for the tenant's.
    pub fn limit_key_str(&self) -> &str {
        self.limit_key.as_ref().map_or("", |k| k.as_str())
    }

    /// True when a lease may pick it at `now_ms`.
    pub fn is_due(&self, now_ms: i64) -> bool {
        self.state.is_waiting() && self.run_at_ms <= now_ms
    }

    /// True when a caller acting as `principal` sees the job: a job owned by an API key
    /// (its owner is a key id, `key_…`) is that key's alone; any other job — no owner, or an
    /// owner naming an app's own user — is seen by every caller of the tenant.
    pub fn visible_to(&self, principal: &str) -> bool {
        self.owner.as_ref().is_none_or(|o| {
            !o.as_str().starts_with(KEY_PRINCIPAL_PREFIX) || o.as_str() == principal
        })
    }
}

/// What an event of a job's log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobEventKind {
    /// Created (`data`: state, run-at).
    Enqueued,
    /// An attempt started (`data`: attempt, token, worker).
    Started,
    /// Progress reported (`data`: the progress).
    Progress,
    /// A checkpoint saved (`data`: null; the checkpoint stays on the job).
    Checkpoint,
    /// An attempt failed and a retry is scheduled (`data`: attempt, error, run-at).
    Retrying,
    /// Finished successfully.
    Completed,
    /// Failed for good (`data`: attempt, error).
    Dead,
    /// Cancel asked for while running.
    CancelRequested,
    /// Cancelled.
    Cancelled,
    /// Its lease expired and the rescuer took it back (`data`: attempt).
    Rescued,
    /// Re-driven from dead.
    Redriven,
    /// Its lease was given back without an attempt counted (shutdown).
    Released,
}

impl JobEventKind {
    /// Every kind.
    pub const ALL: [JobEventKind; 12] = [
        Self::Enqueued,
        Self::Started,
        Self::Progress,
        Self::Checkpoint,
        Self::Retrying,
        Self::Completed,
        Self::Dead,
        Self::CancelRequested,
        Self::Cancelled,
        Self::Rescued,
        Self::Redriven,
        Self::Released,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enqueued => "enqueued",
            Self::Started => "started",
            Self::Progress => "progress",
            Self::Checkpoint => "checkpoint",
            Self::Retrying => "retrying",
            Self::Completed => "completed",
            Self::Dead => "dead",
            Self::CancelRequested => "cancel_requested",
            Self::Cancelled => "cancelled",
            Self::Rescued => "rescued",
            Self::Redriven => "redriven",
            Self::Released => "released",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of a job's event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    /// Its offset in the job's log, from 0.
    pub seq: u64,
    /// When it happened (ms).
    pub at_ms: i64,
    /// What happened.
    pub kind: JobEventKind,
    /// Detail (shape per kind).
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_parse() {
        let a = JobId::generate(1_000);
        let b = JobId::generate(2_000);
        assert!(a < b);
        assert_eq!(JobId::parse(a.as_str()).unwrap(), a);
        for bad in [
            "",
            "job_",
            "job_x",
            "tsk_0000000003e8abcdefabcdef",
            "job_0000000003e8abcdefabcde!",
        ] {
            assert!(JobId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_round_trip_and_masks() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()).unwrap(), s);
        }
        let m = UniqueStates::of(&[JobState::Queued, JobState::Running]).unwrap();
        assert!(m.contains(JobState::Queued) && !m.contains(JobState::Completed));
        assert!(UniqueStates::of(&[JobState::Cancelled]).is_err());
        assert!(!UniqueStates::ALL.contains(JobState::Cancelled));
    }

    #[test]
    fn priority_bounds() {
        assert!(Priority::new(0).is_ok() && Priority::new(9).is_ok());
        assert!(Priority::new(10).is_err() && Priority::new(-1).is_err());
    }

    #[test]
    fn event_kinds_round_trip() {
        for k in JobEventKind::ALL {
            assert_eq!(JobEventKind::parse(k.as_str()), Some(k));
        }
    }
}
