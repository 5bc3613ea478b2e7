//! The bodies, queries and views of `/v1/jobs`, and their conversion to store parameters.

use palisade_core::{FieldError, Problem};
use palisade_jobs::params::{batch_fields, check_size};
use palisade_jobs::{
    Backoff, FailOutcome, Job, JobEnqueue, JobError, JobEvent, JobFilter, JobKind, JobState,
    JobsSettings, Leased, LimitKey, Owner, Priority, Progress, QueueName, QueueStats, Tag,
    Throughput, UniqueSpec, UniqueStates, WorkerId,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// Longest delay of an enqueue: 366 days.
const MAX_DELAY_MS: i64 = 366 * 86_400_000;

/// A job's unique key in an enqueue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UniqueBody {
    /// The key, 1..=200 characters (keys starting `idempotency-key:` are the header's).
    pub key: String,
    /// States in which an existing job with the key makes the enqueue a duplicate (default:
    /// every state but cancelled).
    #[schema(value_type = Option<Vec<String>>)]
    pub states: Option<UniqueStates>,
    /// When set, the key holds within one period slot only (ms, 1000..=31622400000).
    pub period_ms: Option<i64>,
}

/// Input of an enqueue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnqueueBody {
    /// The queue (created on demand), 1..=200 characters.
    #[schema(value_type = String)]
    pub queue: QueueName,
    /// What the job does (workers dispatch on it), 1..=200 characters.
    #[schema(value_type = String)]
    pub kind: JobKind,
    /// The job's input: any JSON, at most `jobs.max_payload_bytes` serialised (default 256 KiB).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The principal owning the job (optional): see docs/jobs.md, Owner visibility.
    #[schema(value_type = Option<String>)]
    pub owner: Option<Owner>,
    /// The key its queue's per-key limits (`jobs.limits.<queue>`) count it under, within
    /// this tenant, 1..=200 characters (default: the tenant itself).
    #[schema(value_type = Option<String>)]
    pub limit_key: Option<LimitKey>,
    /// 0 (first) ..= 9; default 5.
    #[schema(value_type = Option<i64>)]
    pub priority: Option<Priority>,
    /// Not before this time (ms since the epoch). Not with `delay_ms`.
    pub run_at_ms: Option<i64>,
    /// Not before this many ms from now (0..=31622400000). Not with `run_at_ms`.
    pub delay_ms: Option<i64>,
    /// Attempts before the job is dead, 1..=100 (default 25).
    pub max_attempts: Option<u32>,
    /// Longest attempt (ms), 100..=86400000 (default 15 min).
    pub timeout_ms: Option<i64>,
    /// Lease length without a heartbeat (ms), within `jobs.min_lease ..= jobs.max_lease`
    /// (default `jobs.default_lease`).
    pub lease_ms: Option<i64>,
    /// The retry schedule (default: the kind's in `jobs.backoff`, else the default).
    #[schema(value_type = Option<Object>)]
    pub backoff: Option<Backoff>,
    /// Labels for listing and filtering, at most 20.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub tags: Vec<Tag>,
    /// A unique key.
    pub unique: Option<UniqueBody>,
}

impl EnqueueBody {
    /// The store's enqueue at `now_ms` under `settings`, with the `Idempotency-Key` (as a
    /// unique key) when given; 400 naming every bad field, 413 for an oversized payload.
    pub fn into_enqueue(
        self,
        settings: &JobsSettings,
        idempotency_key: Option<String>,
        now_ms: i64,
    ) -> Result<JobEnqueue, JobError> {
        check_size("payload", &self.payload, settings.max_payload_bytes)?;
        let mut errs: Vec<FieldError> =
            self.queue.tenant_check("queue").err().into_iter().collect();
        let run_at_ms = match (self.run_at_ms, self.delay_ms) {
            (Some(_), Some(_)) => {
                errs.push(FieldError::new("delay_ms", "not together with run_at_ms"));
                None
            }
            (at, None) => at,
            (None, Some(d)) if (0..=MAX_DELAY_MS).contains(&d) => Some(now_ms + d),
            (None, Some(_)) => {
                errs.push(FieldError::new(
                    "delay_ms",
                    "from 0 to 31622400000 (366 days)",
                ));
                None
            }
        };
        let lease_ms = settings.lease_ms(self.lease_ms);
        if !settings.lease_ok(lease_ms) {
            let msg = format!(
                "from {} to {} (this server's jobs.min_lease and jobs.max_lease)",
                settings.min_lease.as_millis(),
                settings.max_lease.as_millis()
            );
            errs.push(FieldError::new("lease_ms", msg));
        }
        let unique = match (self.unique, idempotency_key) {
            (Some(_), Some(_)) => {
                errs.push(FieldError::new(
                    "unique",
                    "not together with an Idempotency-Key header",
                ));
                None
            }
            (Some(u), None) => {
                if u.key.starts_with(IDEMPOTENCY_PREFIX) {
                    errs.push(FieldError::new(
                        "unique.key",
                        "a key not starting with `idempotency-key:` (reserved for the header)",
                    ));
                }
                Some(UniqueSpec {
                    key: u.key,
                    states: u.states.unwrap_or_default(),
                    period_ms: u.period_ms,
                })
            }
            (None, Some(k)) => Some(UniqueSpec {
                key: format!("{IDEMPOTENCY_PREFIX}{k}"),
                states: UniqueStates::ALL,
                period_ms: Some(settings.idempotency_period.as_millis() as i64),
            }),
            (None, None) => None,
        };
        let mut e = JobEnqueue::new(self.queue, self.kind, self.payload);
        e.backoff = settings.backoff.resolve(&e.kind, self.backoff);
        e.owner = self.owner;
        e.limit_key = self.limit_key;
        e.priority = self.priority.unwrap_or_default();
        e.run_at_ms = run_at_ms;
        e.max_attempts = self.max_attempts.unwrap_or(e.max_attempts);
        e.timeout_ms = self.timeout_ms.unwrap_or(e.timeout_ms);
        e.lease_ms = lease_ms;
        e.tags = self.tags;
        e.unique = unique;
        match e.check() {
            Err(JobError::Invalid(more)) => errs.extend(more),
            Err(other) => return Err(other),
            Ok(()) => {}
        }
        if errs.is_empty() {
            Ok(e)
        } else {
            Err(JobError::Invalid(errs))
        }
    }
}

/// The unique-key prefix of an enqueue's `Idempotency-Key`.
pub const IDEMPOTENCY_PREFIX: &str = "idempotency-key:";

/// A job as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// `job_…`.
    pub id: String,
    /// The queue.
    pub queue: String,
    /// The kind.
    pub kind: String,
    /// The input.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The owning principal, if any.
    pub owner: Option<String>,
    /// The key of its queue's per-key limits, if it names one (else the tenant's).
    pub limit_key: Option<String>,
    /// 0 (first) ..= 9.
    pub priority: i64,
    /// queued, scheduled, running, retrying, completed, dead or cancelled.
    pub state: String,
    /// When it may run next (ms); while running, when the attempt started.
    pub run_at_ms: i64,
    /// Attempts started so far.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Longest attempt (ms).
    pub timeout_ms: i64,
    /// Lease length (ms).
    pub lease_ms: i64,
    /// The retry schedule.
    #[schema(value_type = Object)]
    pub backoff: Backoff,
    /// Labels.
    pub tags: Vec<String>,
    /// The stored unique key (with its period slot), if any.
    pub unique_key: Option<String>,
    /// When the current lease ends (ms), while running.
    pub lease_expires_at_ms: Option<i64>,
    /// The worker holding the lease, while running.
    pub worker: Option<String>,
    /// True once a cancel was asked for while running.
    pub cancel_requested: bool,
    /// The last checkpoint.
    #[schema(value_type = Option<Object>)]
    pub checkpoint: Option<Value>,
    /// The last progress.
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Progress>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// Created at (ms).
    pub created_at_ms: i64,
    /// Last changed at (ms).
    pub updated_at_ms: i64,
    /// Finished at (ms).
    pub finished_at_ms: Option<i64>,
    /// Events in its log (the next event's offset).
    pub events: u64,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        Self {
            id: j.id.to_string(),
            queue: j.queue.to_string(),
            kind: j.kind.to_string(),
            payload: j.payload,
            owner: j.owner.map(|o| o.to_string()),
            limit_key: j.limit_key.map(|k| k.to_string()),
            priority: j.priority.into(),
            state: j.state.as_str().to_owned(),
            run_at_ms: j.run_at_ms,
            attempt: j.attempt,
            max_attempts: j.max_attempts,
            timeout_ms: j.timeout_ms,
            lease_ms: j.lease_ms,
            backoff: j.backoff,
            tags: j.tags.into_iter().map(|t| t.to_string()).collect(),
            unique_key: j.unique_key,
            lease_expires_at_ms: j.lease_expires_at_ms,
            worker: j.worker.map(|w| w.to_string()),
            cancel_requested: j.cancel_requested,
            checkpoint: j.checkpoint,
            progress: j.progress,
            last_error: j.last_error,
            created_at_ms: j.created_at_ms,
            updated_at_ms: j.updated_at_ms,
            finished_at_ms: j.finished_at_ms,
            events: j.events,
        }
    }
}

/// The answer of an enqueue.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnqueuedView {
    /// The new job, or the existing one holding the unique key.
    pub job: JobView,
    /// True when the enqueue was a duplicate and created nothing.
    pub duplicate: bool,
}

/// Input of a batch enqueue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// 1 to 1,000 enqueues, each as `POST /v1/jobs` takes it.
    pub jobs: Vec<EnqueueBody>,
}

impl BatchBody {
    /// The store's enqueues at `now_ms`; 400 naming every bad field by index
    /// (`jobs[3].max_attempts`), 413 for an oversized payload.
    pub fn into_enqueues(
        self,
        settings: &JobsSettings,
        now_ms: i64,
    ) -> Result<Vec<JobEnqueue>, JobError> {
        let mut errs = Vec::new();
        let mut out = Vec::with_capacity(self.jobs.len());
        for (i, body) in self.jobs.into_iter().enumerate() {
            match body.into_enqueue(settings, None, now_ms) {
                Ok(e) => out.push(e),
                Err(JobError::Invalid(f)) => errs.extend(batch_fields(i, f)),
                Err(other) => return Err(other),
            }
        }
        if errs.is_empty() {
            Ok(out)
        } else {
            Err(JobError::Invalid(errs))
        }
    }
}

/// One entry of a batch enqueue's answer, in the order of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchEntryView {
    /// The new job, or the existing one holding the unique key; absent when that holder is
    /// another principal's job (never shown).
    pub job: Option<JobView>,
    /// True when this entry was a duplicate and created nothing.
    pub duplicate: bool,
}

/// The answer of a batch enqueue.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    /// One entry per enqueue of the request, in its order.
    pub jobs: Vec<BatchEntryView>,
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    /// Jobs, newest first.
    pub items: Vec<JobView>,
    /// Cursor of the next page; absent on the last.
    pub next: Option<String>,
}

/// Filters of a listing (with `limit` and `cursor`).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this state.
    pub state: Option<String>,
    /// Only jobs carrying this tag.
    pub tag: Option<String>,
    /// Created at or after (ms since the epoch).
    pub created_from_ms: Option<i64>,
    /// Created before (ms since the epoch).
    pub created_before_ms: Option<i64>,
    /// Page size, 1..=200 (default 50).
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The filter, or a 400 naming every bad field.
    pub fn filter(&self) -> Result<JobFilter, Problem> {
        let mut errs = Vec::new();
        let f = JobFilter {
            queue: take(&mut errs, self.queue.as_deref().map(QueueName::parse)),
            kind: take(&mut errs, self.kind.as_deref().map(JobKind::parse)),
            state: take(&mut errs, self.state.as_deref().map(JobState::parse)),
            tag: take(
                &mut errs,
                self.tag
                    .as_deref()
                    .map(|t| Tag::parse(t).map_err(|e| FieldError::new("tag", e.message))),
            ),
            created_from_ms: self.created_from_ms,
            created_before_ms: self.created_before_ms,
            viewer: None,
        };
        if errs.is_empty() {
            Ok(f)
        } else {
            Err(Problem::invalid(errs))
        }
    }
}

/// The value of a parsed optional field; its error joins `errs`.
fn take<T>(errs: &mut Vec<FieldError>, r: Option<Result<T, FieldError>>) -> Option<T> {
    match r? {
        Ok(v) => Some(v),
        Err(e) => {
            errs.push(e);
            None
        }
    }
}

/// Filters of a bulk re-drive of dead jobs.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    /// Only this queue.
    #[schema(value_type = Option<String>)]
    pub queue: Option<QueueName>,
    /// Only this kind.
    #[schema(value_type = Option<String>)]
    pub kind: Option<JobKind>,
    /// Only jobs carrying this tag.
    #[schema(value_type = Option<String>)]
    pub tag: Option<Tag>,
    /// Most jobs re-driven by this call, 1..=1000 (default 100).
    pub limit: Option<u32>,
}

/// The answer of a re-drive.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetriedView {
    /// The jobs re-driven (queued again, attempts from zero).
    pub jobs: Vec<JobView>,
}

/// Query of the event log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The first offset wanted (default 0).
    pub from: Option<u64>,
    /// Most events, 1..=1000 (default 100).
    pub limit: Option<u32>,
}

/// One event of a job's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Its offset, from 0.
    pub seq: u64,
    /// When (ms).
    pub at_ms: i64,
    /// enqueued, started, progress, checkpoint, retrying, completed, dead, cancel_requested,
    /// cancelled, rescued, redriven or released.
    pub kind: String,
    /// Detail, by kind.
    #[schema(value_type = Object)]
    pub data: Value,
}

impl From<JobEvent> for EventView {
    fn from(e: JobEvent) -> Self {
        Self {
            seq: e.seq,
            at_ms: e.at_ms,
            kind: e.kind.as_str().to_owned(),
            data: e.data,
        }
    }
}

/// A page of a job's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsView {
    /// Events, oldest first.
    pub events: Vec<EventView>,
    /// The offset to ask from next.
    pub next: u64,
}

/// Input of a cancel.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// How long to wait for a running job to stop (ms), 0..= `jobs.max_lease_wait` (default:
    /// that maximum).
    pub wait_ms: Option<u64>,
}

/// The answer of a cancel.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelView {
    /// The job as it is now.
    pub job: JobView,
    /// True when the job no longer runs (cancelled, or finished otherwise, or its lease
    /// ended); false when it still ran at the end of the wait (202).
    pub stopped: bool,
}

/// Queue stats.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    /// The queue.
    pub queue: String,
    /// Jobs per state (every state listed).
    #[schema(value_type = Object)]
    pub counts: serde_json::Map<String, Value>,
    /// Age of the longest-waiting due job (ms); absent when none is due.
    pub oldest_due_age_ms: Option<i64>,
    /// Jobs completed and failed for good in the last 1, 5 and 15 minutes.
    pub throughput: Vec<ThroughputView>,
}

/// A queue's finished jobs in one recent window.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThroughputView {
    /// The window: the last this many ms (60000, 300000, 900000).
    pub window_ms: i64,
    /// Jobs completed in the window.
    pub completed: u64,
    /// Jobs that failed for good (went dead) in the window.
    pub failed: u64,
    /// `completed` per minute of the window.
    pub completed_per_minute: f64,
    /// `failed` per minute of the window.
    pub failed_per_minute: f64,
}

impl From<&Throughput> for ThroughputView {
    fn from(t: &Throughput) -> Self {
        Self {
            window_ms: t.window_ms,
            completed: t.completed,
            failed: t.failed,
            completed_per_minute: t.completed_per_minute(),
            failed_per_minute: t.failed_per_minute(),
        }
    }
}

impl StatsView {
    /// The view of `s` for `queue`.
    pub fn new(queue: &QueueName, s: QueueStats) -> Self {
        Self {
            queue: queue.to_string(),
            counts: s
                .counts
                .iter()
                .map(|(st, n)| (st.as_str().to_owned(), Value::from(*n)))
                .collect(),
            oldest_due_age_ms: s.oldest_due_at_ms.map(|at| (s.now_ms - at).max(0)),
            throughput: s.throughput.iter().map(ThroughputView::from).collect(),
        }
    }
}

/// Input of an HTTP worker's lease.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseBody {
    /// The queue to lease from.
    #[schema(value_type = String)]
    pub queue: QueueName,
    /// Who leases: an opaque worker id, 1..=200 characters.
    #[schema(value_type = String)]
    pub worker: WorkerId,
    /// Most jobs to lease, 1..=100 (default 1).
    pub count: Option<u32>,
    /// How long to wait for a due job (ms), 0 ..= `jobs.max_lease_wait` (default 0).
    pub wait_ms: Option<u64>,
}

/// A leased job with its attempt's token.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeasedView {
    /// The job (running, with the last checkpoint when it is a retry).
    pub job: JobView,
    /// The attempt's fencing token: send it in every call about this attempt.
    pub token: u64,
}

impl From<Leased> for LeasedView {
    fn from(l: Leased) -> Self {
        Self {
            token: l.token,
            job: l.job.into(),
        }
    }
}

/// The answer of a lease.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = JobLeaseView)]
pub struct LeaseView {
    /// The leased jobs; empty when none became due within the wait.
    pub jobs: Vec<LeasedView>,
}

/// Input of heartbeat, progress and checkpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatBody {
    /// The attempt's token.
    pub token: u64,
    /// Progress to record: `{percent 0..=100, message ≤ 1000 chars, data ≤ 16 KiB}`.
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Progress>,
    /// A checkpoint to save (≤ 256 KiB), handed to the next attempt.
    #[schema(value_type = Option<Object>)]
    pub checkpoint: Option<Value>,
}

/// Input of progress (a heartbeat that records progress).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressBody {
    /// The attempt's token.
    pub token: u64,
    /// Percent done, 0..=100.
    pub percent: Option<u8>,
    /// A short message for people (≤ 1000 characters).
    pub message: Option<String>,
    /// Small structured detail (≤ 16 KiB).
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

/// Input of checkpoint (a heartbeat that saves a checkpoint).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointBody {
    /// The attempt's token.
    pub token: u64,
    /// The checkpoint (≤ 256 KiB), handed to the next attempt of this job.
    #[schema(value_type = Object)]
    pub checkpoint: Value,
}

/// The answer of a heartbeat.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeartbeatView {
    /// When the renewed lease ends (ms).
    pub lease_expires_at_ms: i64,
    /// True when a cancel was asked: stop, then call `fail` (the job ends cancelled).
    pub cancel_requested: bool,
}

/// Input of complete and release.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The attempt's token.
    pub token: u64,
}

/// Input of fail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailBody {
    /// The attempt's token.
    pub token: u64,
    /// What went wrong (stored, cut at 4000 characters; shown to the tenant).
    #[serde(default)]
    pub error: String,
    /// Retry at this time (ms) instead of the backoff.
    pub retry_at_ms: Option<i64>,
    /// No more attempts: dead now.
    #[serde(default)]
    pub give_up: bool,
}

impl FailBody {
    /// The outcome asked for, or a 400 when both `retry_at_ms` and `give_up` are given.
    pub fn outcome(&self) -> Result<FailOutcome, Problem> {
        match (self.retry_at_ms, self.give_up) {
            (Some(_), true) => Err(Problem::invalid(vec![FieldError::new(
                "retry_at_ms",
                "not together with give_up",
            )])),
            (Some(at), false) => Ok(FailOutcome::RetryAt(at)),
            (None, true) => Ok(FailOutcome::GiveUp),
            (None, false) => Ok(FailOutcome::Backoff),
        }
    }
}
