//! Durable jobs: tenant-scoped jobs with unique keys, fenced heartbeat leases, retries with
//! backoff, dead jobs and re-drive, cancel, progress, checkpoints and an event log.
//!
//! # Guarantees
//!
//! - **Fenced leases.** [`JobStore::job_lease`] hands each attempt a fresh token, greater than
//!   every earlier attempt's of that job. Heartbeat, progress, checkpoint, complete, fail and
//!   release carry it; any other token is refused with [`JobError::LeaseLost`] and changes
//!   nothing, so a worker whose lease was rescued can neither complete the job nor overwrite
//!   its successor's state.
//! - **Rescue.** A running job whose lease ended (no heartbeat within its lease length) is
//!   taken back by [`JobStore::job_rescue`]: the attempt counts as failed and the job retries
//!   by its backoff, or is dead after its last attempt.
//! - **Unique jobs.** An enqueue with a unique key answers the existing job (with a duplicate
//!   marker) while a job of the tenant holds the key in one of the key's states; atomic in the
//!   store, also for concurrent enqueues.
//! - **Fair leases.** A lease across tenants serves the tenant with the fewest running jobs
//!   of the queue first, so one tenant's flood cannot starve another's jobs ([`JobLease`]).
//! - **Cron exactly once.** [`cron::CronStore::cron_fire`] enqueues a schedule's due slots
//!   (one job per slot, by a unique key) and advances the schedule with a compare-and-set in
//!   one store transaction, so each slot fires once across any number of instances.
//! - **Event log.** Every state change, attempt, progress report and checkpoint is appended
//!   to the job's log in the same atomic step, readable from an offset.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backoff;
pub mod burst;
pub mod cron;
pub mod error;
pub mod handler;
pub mod limits;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod params;
pub mod settings;
pub mod store;
pub mod sweep;
pub mod tasks;
pub mod transition;
pub mod wake;
pub mod waking;
pub mod worker;

pub use backoff::{Backoff, BackoffByKind};
pub use burst::Burst;
pub use error::JobError;
pub use handler::{HandlerError, JobContext, JobHandler};
pub use limits::{LeaseGate, QueueLimits};
pub use memory::MemoryJobStore;
pub use model::{
    Job, JobEvent, JobEventKind, JobId, JobKind, JobState, LimitKey, Owner, Priority, Progress,
    QueueName, Tag, UniqueStates, WorkerId,
};
pub use params::{
    Cancelled, Enqueued, FailOutcome, HeartbeatAnswer, JobComplete, JobEnqueue, JobEvents, JobFail,
    JobFilter, JobHeartbeat, JobLease, JobList, JobPrune, JobRelease, JobRescue, JobRetry,
    LeaseScope, Leased, QueueStats, Rescued, Throughput, UniqueSpec,
};
pub use settings::JobsSettings;
pub use store::JobStore;
pub use sweep::{prune_step, rescue_step, Retention};
pub use tasks::{Jobs, Pruner, Rescuer};
pub use wake::{Topic, Waiter, Wakeups, WeakWakeups};
pub use waking::WakingStore;
pub use worker::{AttemptEnd, Observer, Shutdown, Worker, WorkerConfig};
