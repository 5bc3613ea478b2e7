//! The parameters and answers of the store operations (`job_enqueue(JobEnqueue)`, …).

use crate::backoff::Backoff;
use crate::error::JobError;
use crate::model::{
    name_ok, Job, JobId, JobKind, JobState, LimitKey, Owner, Priority, Progress, QueueName, Tag,
    UniqueStates, WorkerId,
};
use palisade_core::{FieldError, PageRequest, TenantId};

/// Largest payload (serialised JSON): 256 KiB.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// Largest checkpoint (serialised JSON): 256 KiB.
pub const MAX_CHECKPOINT_BYTES: usize = 256 * 1024;
/// Largest progress detail (serialised JSON): 16 KiB.
pub const MAX_PROGRESS_BYTES: usize = 16 * 1024;
/// Longest progress message (characters).
pub const MAX_MESSAGE_CHARS: usize = 1_000;
/// Longest stored error message (characters); longer ones are cut.
pub const MAX_ERROR_CHARS: usize = 4_000;
/// Most tags on a job.
pub const MAX_TAGS: usize = 20;
/// Most attempts a job may allow.
pub const MAX_ATTEMPTS: u32 = 100;
/// Most jobs one lease, re-drive or sweep handles.
pub const MAX_BATCH: u32 = 1_000;
const MIN_LEASE_MS: i64 = 100;
const MAX_LEASE_MS: i64 = 3_600_000;
const MAX_TIMEOUT_MS: i64 = 24 * 3_600_000;
const MAX_PERIOD_MS: i64 = 366 * 24 * 3_600_000;

/// A job's unique key: while a job of this tenant with the same key is in one of `states`, an
/// enqueue answers that job instead of creating another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UniqueSpec {
    /// The key (1 to 200 characters).
    pub key: String,
    /// The states the key applies to.
    pub states: UniqueStates,
    /// When set, the key applies within one period slot (`floor(now / period)`) only: one job
    /// per key per period.
    pub period_ms: Option<i64>,
}

impl UniqueSpec {
    /// The key as stored at `now_ms`: with the period slot appended when there is a period.
    pub fn stored_key(&self, now_ms: i64) -> String {
        match self.period_ms {
            Some(p) if p > 0 => format!("{}@{}", self.key, now_ms.div_euclid(p) * p),
            _ => self.key.clone(),
        }
    }
}

/// `job_enqueue`: a job to create.
#[derive(Clone, Debug, PartialEq)]
pub struct JobEnqueue {
    /// The queue.
    pub queue: QueueName,
    /// The kind.
    pub kind: JobKind,
    /// The input (at most [`MAX_PAYLOAD_BYTES`] as JSON).
    pub payload: serde_json::Value,
    /// The owning principal, if any.
    pub owner: Option<Owner>,
    /// The key of its queue's per-key limits (within the tenant); `None`: the tenant's.
    pub limit_key: Option<LimitKey>,
    /// Lower runs first.
    pub priority: Priority,
    /// Not before this time (ms); `None`: now.
    pub run_at_ms: Option<i64>,
    /// Attempts before dead, 1 ..= [`MAX_ATTEMPTS`] (default 25).
    pub max_attempts: u32,
    /// Longest attempt (ms), 100 ms ..= 24 h (default 15 min).
    pub timeout_ms: i64,
    /// Lease length without a heartbeat (ms), 100 ms ..= 1 h (default 30 s).
    pub lease_ms: i64,
    /// The retry schedule (resolve per kind with [`crate::BackoffByKind`]).
    pub backoff: Backoff,
    /// Labels, at most [`MAX_TAGS`].
    pub tags: Vec<Tag>,
    /// The unique key, if any.
    pub unique: Option<UniqueSpec>,
}

impl JobEnqueue {
    /// A job of `kind` on `queue` with `payload` and the defaults.
    pub fn new(queue: QueueName, kind: JobKind, payload: serde_json::Value) -> Self {
        Self {
            queue,
            kind,
            payload,
            owner: None,
            limit_key: None,
            priority: Priority::DEFAULT,
            run_at_ms: None,
            max_attempts: 25,
            timeout_ms: 15 * 60_000,
            lease_ms: 30_000,
            backoff: Backoff::default(),
            tags: Vec::new(),
            unique: None,
        }
    }

    /// Checks the bounds the types do not: sizes, counts and durations, every field at once
    /// (a too-large payload is its own error, a 413).
    pub fn check(&self) -> Result<(), JobError> {
        check_size("payload", &self.payload, MAX_PAYLOAD_BYTES)?;
        let mut errs = self.backoff.check("backoff");
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            errs.push(FieldError::new("max_attempts", "an integer from 1 to 100"));
        }
        if !(MIN_LEASE_MS..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            errs.push(FieldError::new("timeout_ms", "from 100 to 86400000 (24 h)"));
        }
        if !(MIN_LEASE_MS..=MAX_LEASE_MS).contains(&self.lease_ms) {
            errs.push(FieldError::new("lease_ms", "from 100 to 3600000 (1 h)"));
        }
        if self.tags.len() > MAX_TAGS {
            errs.push(FieldError::new("tags", "at most 20 tags"));
        }
        if let Some(u) = &self.unique {
            if !name_ok(&u.key) {
                errs.push(FieldError::new(
                    "unique.key",
                    "1 to 200 characters without control characters",
                ));
            }
            if u.period_ms
                .is_some_and(|p| !(1_000..=MAX_PERIOD_MS).contains(&p))
            {
                errs.push(FieldError::new(
                    "unique.period_ms",
                    "from 1000 (1 s) to 31622400000 (366 days)",
                ));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(JobError::Invalid(errs))
        }
    }

    /// The job this enqueue creates at `now_ms` with id `id`.
    pub fn into_job(self, tenant: &TenantId, id: JobId, now_ms: i64) -> Job {
        let run_at = self.run_at_ms.unwrap_or(now_ms).max(now_ms);
        let state = if run_at > now_ms {
            JobState::Scheduled
        } else {
            JobState::Queued
        };
        Job {
            id,
            tenant: tenant.clone(),
            queue: self.queue,
            kind: self.kind,
            payload: self.payload,
            owner: self.owner,
            limit_key: self.limit_key,
            priority: self.priority,
            state,
            run_at_ms: run_at,
            attempt: 0,
            max_attempts: self.max_attempts,
            timeout_ms: self.timeout_ms,
            lease_ms: self.lease_ms,
            backoff: self.backoff,
            tags: self.tags,
            unique_key: self.unique.as_ref().map(|u| u.stored_key(now_ms)),
            unique_states: self.unique.map(|u| u.states).unwrap_or_default(),
            lease_token: 0,
            lease_expires_at_ms: None,
            worker: None,
            cancel_requested: false,
            checkpoint: None,
            progress: None,
            last_error: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            finished_at_ms: None,
            events: 0,
        }
    }
}

/// Checks a batch of enqueues: 1 ..= [`MAX_BATCH`] of them, each as [`JobEnqueue::check`]
/// does, every field error named under its index (`jobs[3].max_attempts`).
pub fn check_batch(reqs: &[JobEnqueue]) -> Result<(), JobError> {
    if reqs.is_empty() || reqs.len() > MAX_BATCH as usize {
        return Err(JobError::Invalid(vec![FieldError::new(
            "jobs",
            "1 to 1000 jobs",
        )]));
    }
    let mut errs = Vec::new();
    for (i, r) in reqs.iter().enumerate() {
        match r.check() {
            Ok(()) => {}
            Err(JobError::Invalid(e)) => errs.extend(batch_fields(i, e)),
            Err(other) => return Err(other),
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(JobError::Invalid(errs))
    }
}

/// The field errors of a batch's `i`-th job, named under its index (`jobs[3].max_attempts`).
pub fn batch_fields(i: usize, errs: Vec<FieldError>) -> impl Iterator<Item = FieldError> {
    errs.into_iter().map(move |mut e| {
        e.field = format!("jobs[{i}].{}", e.field);
        e
    })
}

/// Refuses `value` when its JSON is larger than `limit` bytes.
pub fn check_size(
    field: &'static str,
    value: &serde_json::Value,
    limit: usize,
) -> Result<(), JobError> {
    let len = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if len > limit {
        return Err(JobError::TooLarge { field, limit });
    }
    Ok(())
}

/// The answer of `job_enqueue`: the job, and whether it already existed (a duplicate of its
/// unique key, which created nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct Enqueued {
    /// The new job, or the existing one that holds the unique key.
    pub job: Job,
    /// True when the enqueue was a duplicate.
    pub duplicate: bool,
}

/// Whose jobs a lease takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseScope {
    /// One tenant's (an HTTP worker authenticated as that tenant).
    Tenant(TenantId),
    /// Every tenant's, fairly: an in-process worker serving the whole queue.
    AllTenants,
}

/// `job_lease`: claim up to `limit` due jobs of `queue`.
///
/// Fairness: among the due jobs, a tenant's `k`-th job (by priority, then run-at) ranks at
/// `k + r`, where `r` is how many of the tenant's jobs of this queue run now; jobs are taken
/// lowest rank first (then priority, run-at, id). So the tenant with the fewest running jobs is
/// served next and a tenant with 10,000 waiting jobs cannot hold back another tenant's one.
/// With `max_running_per_tenant`, no tenant gets more than that many running in this queue;
/// with `max_running_per_key`, no limit key of a tenant ([`Job::limit_key`]) more than that
/// many; with a `gate`, a job is leased only when the gate admits one more start of its key
/// (a rate limit shared by every instance).
#[derive(Clone, Debug)]
pub struct JobLease {
    /// Whose jobs.
    pub scope: LeaseScope,
    /// The queue.
    pub queue: QueueName,
    /// The worker taking the leases.
    pub worker: WorkerId,
    /// Most jobs to take, 1 ..= [`MAX_BATCH`].
    pub limit: u32,
    /// Most running jobs per tenant in this queue after the lease, if capped.
    pub max_running_per_tenant: Option<u32>,
    /// Most running jobs per limit key (of a tenant) in this queue after the lease, if capped.
    pub max_running_per_key: Option<u32>,
    /// Admits each start by its key's rate, if the queue has one.
    pub gate: Option<std::sync::Arc<dyn crate::limits::LeaseGate>>,
}

/// A leased job: the job (running, with its checkpoint) and the attempt's fencing token.
#[derive(Clone, Debug, PartialEq)]
pub struct Leased {
    /// The job as leased.
    pub job: Job,
    /// The attempt's fencing token: every later call for this attempt carries it.
    pub token: u64,
    /// When the job became due (its run-at before the lease), for the queue latency.
    pub due_at_ms: i64,
}

/// `job_heartbeat`: renews the lease for the job's lease length, and saves progress and a
/// checkpoint when given.
#[derive(Clone, Debug, PartialEq)]
pub struct JobHeartbeat {
    /// The job.
    pub id: JobId,
    /// The attempt's token.
    pub token: u64,
    /// Progress to record, if any.
    pub progress: Option<Progress>,
    /// A checkpoint to save, if any (handed to the next attempt).
    pub checkpoint: Option<serde_json::Value>,
}

impl JobHeartbeat {
    /// A bare heartbeat.
    pub fn new(id: JobId, token: u64) -> Self {
        Self {
            id,
            token,
            progress: None,
            checkpoint: None,
        }
    }

    /// Checks the sizes of the progress and checkpoint.
    pub fn check(&self) -> Result<(), JobError> {
        if let Some(c) = &self.checkpoint {
            check_size("checkpoint", c, MAX_CHECKPOINT_BYTES)?;
        }
        if let Some(p) = &self.progress {
            if let Some(d) = &p.data {
                check_size("progress.data", d, MAX_PROGRESS_BYTES)?;
            }
            let mut errs = Vec::new();
            if p.percent.is_some_and(|v| v > 100) {
                errs.push(FieldError::new("progress.percent", "from 0 to 100"));
            }
            if p.message
                .as_ref()
                .is_some_and(|m| m.chars().count() > MAX_MESSAGE_CHARS)
            {
                errs.push(FieldError::new(
                    "progress.message",
                    "at most 1000 characters",
                ));
            }
            if !errs.is_empty() {
                return Err(JobError::Invalid(errs));
            }
        }
        Ok(())
    }
}

/// The answer of a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    /// When the renewed lease ends (ms).
    pub lease_expires_at_ms: i64,
    /// True when a cancel was asked for: stop and report with `job_fail` (the job then ends
    /// cancelled).
    pub cancel_requested: bool,
}

/// `job_complete`: the attempt succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobComplete {
    /// The job.
    pub id: JobId,
    /// The attempt's token.
    pub token: u64,
}

/// What a failed attempt asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOutcome {
    /// Retry after the job's backoff (dead after the last attempt).
    Backoff,
    /// Retry at this time (ms) (dead after the last attempt).
    RetryAt(i64),
    /// No more attempts: dead now.
    GiveUp,
}

/// `job_fail`: the attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobFail {
    /// The job.
    pub id: JobId,
    /// The attempt's token.
    pub token: u64,
    /// What went wrong (cut at [`MAX_ERROR_CHARS`]); stored and shown to the tenant.
    pub error: String,
    /// What to do next.
    pub outcome: FailOutcome,
}

/// `job_release`: give the lease back without counting the attempt (graceful shutdown), so
/// another worker takes the job at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRelease {
    /// The job.
    pub id: JobId,
    /// The attempt's token.
    pub token: u64,
}

/// The answer of `job_cancel`.
#[derive(Clone, Debug, PartialEq)]
pub enum Cancelled {
    /// The job was waiting and is now cancelled.
    Done(Job),
    /// The job is running: its worker learns it from its next heartbeat answer.
    Requested(Job),
}

/// Which jobs a listing or a bulk re-drive takes; every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// The queue.
    pub queue: Option<QueueName>,
    /// The kind.
    pub kind: Option<JobKind>,
    /// The state.
    pub state: Option<JobState>,
    /// A tag the job carries.
    pub tag: Option<Tag>,
    /// Created at or after this time (ms).
    pub created_from_ms: Option<i64>,
    /// Created before this time (ms).
    pub created_before_ms: Option<i64>,
    /// The principal of the caller asking: jobs it may not see ([`Job::visible_to`]) are
    /// left out.
    pub viewer: Option<String>,
}

impl JobFilter {
    /// True when `job` matches every set field.
    pub fn matches(&self, job: &Job) -> bool {
        self.viewer.as_ref().is_none_or(|p| job.visible_to(p)) && self.matches_fields(job)
    }

    fn matches_fields(&self, job: &Job) -> bool {
        self.queue.as_ref().is_none_or(|q| &job.queue == q)
            && self.kind.as_ref().is_none_or(|k| &job.kind == k)
            && self.state.is_none_or(|s| job.state == s)
            && self.tag.as_ref().is_none_or(|t| job.tags.contains(t))
            && self.created_from_ms.is_none_or(|t| job.created_at_ms >= t)
            && self.created_before_ms.is_none_or(|t| job.created_at_ms < t)
    }
}

/// The recent windows of a queue's throughput: the last 1, 5 and 15 minutes (ms).
pub const THROUGHPUT_WINDOWS_MS: [i64; 3] = [60_000, 300_000, 900_000];

/// A queue's finished jobs in one recent window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throughput {
    /// The window: the last this many ms.
    pub window_ms: i64,
    /// Jobs that completed in it.
    pub completed: u64,
    /// Jobs that failed for good in it (went dead: out of attempts or gave up).
    pub failed: u64,
}

impl Throughput {
    /// The counts of finished jobs `(state, finished at)` within each of
    /// [`THROUGHPUT_WINDOWS_MS`] before `now_ms`.
    pub fn windows(finished: impl IntoIterator<Item = (JobState, i64)>, now_ms: i64) -> Vec<Self> {
        let mut out: Vec<Self> = THROUGHPUT_WINDOWS_MS
            .iter()
            .map(|w| Self {
                window_ms: *w,
                ..Self::default()
            })
            .collect();
        for (state, at) in finished {
            for t in out.iter_mut().filter(|t| at >= now_ms - t.window_ms) {
                match state {
                    JobState::Completed => t.completed += 1,
                    JobState::Dead => t.failed += 1,
                    _ => {}
                }
            }
        }
        out
    }

    /// Completed jobs per minute over the window.
    pub fn completed_per_minute(&self) -> f64 {
        self.completed as f64 * 60_000.0 / self.window_ms.max(1) as f64
    }

    /// Failed jobs per minute over the window.
    pub fn failed_per_minute(&self) -> f64 {
        self.failed as f64 * 60_000.0 / self.window_ms.max(1) as f64
    }
}

/// `job_stats`: one queue of a tenant at a glance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// How many of the tenant's jobs of the queue are in each state (every state listed).
    pub counts: Vec<(JobState, u64)>,
    /// When the longest-waiting due job became due (ms): its age is now minus this. `None`
    /// when no job is due.
    pub oldest_due_at_ms: Option<i64>,
    /// The store's time of the answer (ms).
    pub now_ms: i64,
    /// Jobs completed and failed for good in each of [`THROUGHPUT_WINDOWS_MS`] (finished
    /// jobs still kept: a retention shorter than 15 minutes lowers the counts).
    pub throughput: Vec<Throughput>,
}

impl QueueStats {
    /// The stats from per-state counts (missing states count 0).
    pub fn new(counts: &[(JobState, u64)], oldest_due_at_ms: Option<i64>, now_ms: i64) -> Self {
        let counts = JobState::ALL
            .into_iter()
            .map(|s| {
                let n = counts.iter().filter(|(c, _)| *c == s).map(|(_, n)| n).sum();
                (s, n)
            })
            .collect();
        Self {
            counts,
            oldest_due_at_ms,
            now_ms,
            throughput: Throughput::windows([], now_ms),
        }
    }

    /// The count of `state`.
    pub fn count(&self, state: JobState) -> u64 {
        self.counts
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    }
}

/// `job_retry`: re-drive dead (or cancelled) jobs: back to queued with attempts from zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobRetry {
    /// One job.
    One(JobId),
    /// Up to `limit` (1 ..= [`MAX_BATCH`]) dead jobs matching `filter` (its state is ignored).
    Dead {
        /// Which.
        filter: JobFilter,
        /// How many at most.
        limit: u32,
    },
}

/// `job_list`: a page of a tenant's jobs, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobList {
    /// Which jobs.
    pub filter: JobFilter,
    /// Which page.
    pub page: PageRequest,
}

/// `job_events`: a job's log from an offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobEvents {
    /// The job.
    pub id: JobId,
    /// The first offset wanted.
    pub from: u64,
    /// Most events, 1 ..= [`MAX_BATCH`].
    pub limit: u32,
}

/// `job_rescue`: take back up to `limit` jobs whose lease ended before `now_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobRescue {
    /// Now (ms).
    pub now_ms: i64,
    /// Most jobs per call, 1 ..= [`MAX_BATCH`].
    pub limit: u32,
}

/// What a rescue did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rescued {
    /// Scheduled to run again.
    pub retried: u64,
    /// Out of attempts: dead.
    pub dead: u64,
    /// Cancel requested while running: cancelled.
    pub cancelled: u64,
}

impl Rescued {
    /// Jobs taken back in all.
    pub fn total(&self) -> u64 {
        self.retried + self.dead + self.cancelled
    }
}

/// `job_prune`: delete finished jobs (with their logs) older than their state's retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobPrune {
    /// Now (ms).
    pub now_ms: i64,
    /// Keep completed jobs this long after they finished (ms); `None`: forever.
    pub completed_ms: Option<i64>,
    /// Keep dead jobs this long (ms); `None`: forever.
    pub dead_ms: Option<i64>,
    /// Keep cancelled jobs this long (ms); `None`: forever.
    pub cancelled_ms: Option<i64>,
    /// Most jobs per call, 1 ..= [`MAX_BATCH`].
    pub limit: u32,
}

impl JobPrune {
    /// The finish time before which a job in `state` is pruned, if any.
    pub fn cutoff(&self, state: JobState) -> Option<i64> {
        let keep = match state {
            JobState::Completed => self.completed_ms,
            JobState::Dead => self.dead_ms,
            JobState::Cancelled => self.cancelled_ms,
            _ => None,
        };
        keep.map(|k| self.now_ms - k.max(0))
    }
}

/// `limit` checked against 1 ..= [`MAX_BATCH`] (field `limit`).
pub fn check_limit(limit: u32) -> Result<(), JobError> {
    if (1..=MAX_BATCH).contains(&limit) {
        Ok(())
    } else {
        Err(JobError::Invalid(vec![FieldError::new(
            "limit",
            "an integer from 1 to 1000",
        )]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enq() -> JobEnqueue {
        JobEnqueue::new(
            QueueName::parse("q").unwrap(),
            JobKind::parse("k").unwrap(),
            serde_json::json!({"a": 1}),
        )
    }

    #[test]
    fn payload_cap_is_its_own_error() {
        let mut e = enq();
        e.payload = serde_json::Value::String("x".repeat(MAX_PAYLOAD_BYTES));
        match e.check() {
            Err(JobError::TooLarge { field, .. }) => assert_eq!(field, "payload"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn check_names_every_bad_field() {
        let mut e = enq();
        e.max_attempts = 0;
        e.lease_ms = 5;
        e.timeout_ms = 0;
        e.unique = Some(UniqueSpec {
            key: String::new(),
            states: UniqueStates::ALL,
            period_ms: Some(1),
        });
        let Err(JobError::Invalid(errs)) = e.check() else {
            panic!()
        };
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "max_attempts",
                "timeout_ms",
                "lease_ms",
                "unique.key",
                "unique.period_ms"
            ]
        );
        assert!(enq().check().is_ok());
    }

    #[test]
    fn period_slots_the_key() {
        let u = UniqueSpec {
            key: "k".into(),
            states: UniqueStates::ALL,
            period_ms: Some(60_000),
        };
        assert_eq!(u.stored_key(125_000), "k@120000");
        assert_eq!(u.stored_key(179_999), "k@120000");
        assert_eq!(u.stored_key(180_000), "k@180000");
    }

    #[test]
    fn delayed_job_is_scheduled() {
        let mut e = enq();
        e.run_at_ms = Some(2_000);
        let t = TenantId::generate();
        let j = e.clone().into_job(&t, JobId::generate(1_000), 1_000);
        assert_eq!((j.state, j.run_at_ms), (JobState::Scheduled, 2_000));
        e.run_at_ms = Some(10);
        let j = e.into_job(&t, JobId::generate(1_000), 1_000);
        assert_eq!((j.state, j.run_at_ms), (JobState::Queued, 1_000));
    }
}
