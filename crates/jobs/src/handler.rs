//! [`JobHandler`]: the trait an in-process worker runs for a job kind, and what it is given.

use crate::error::JobError;
use crate::model::{Job, Progress};
use crate::params::{FailOutcome, JobHeartbeat};
use crate::store::JobStore;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Runs jobs of one or more kinds. `Ok` completes the attempt; `Err` fails it as the
/// [`HandlerError`] asks.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one attempt of `ctx.job()`. Stop soon after [`JobContext::cancelled`] fires
    /// (cancel asked, lease lost, timeout or shutdown): the result is then ignored or the job
    /// is handed back.
    async fn run(&self, ctx: JobContext) -> Result<(), HandlerError>;
}

/// A failed attempt: what went wrong and what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// Stored on the job and shown to its tenant: keep secrets and personal data out.
    pub message: String,
    /// Retry by backoff, at a time, or give up.
    pub outcome: FailOutcome,
}

impl HandlerError {
    /// Retry by the job's backoff.
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            outcome: FailOutcome::Backoff,
        }
    }

    /// No more attempts: dead now.
    pub fn give_up(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            outcome: FailOutcome::GiveUp,
        }
    }
}

/// What a handler gets: the job as leased (payload, attempt, last checkpoint), its attempt's
/// fencing token, a cancellation signal, and progress/checkpoint reporting.
#[derive(Clone, Debug)]
pub struct JobContext {
    pub(crate) job: Arc<Job>,
    pub(crate) token: u64,
    pub(crate) store: Arc<dyn JobStore>,
    pub(crate) cancel: CancellationToken,
}

impl JobContext {
    /// The job as leased.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The input.
    pub fn payload(&self) -> &serde_json::Value {
        &self.job.payload
    }

    /// The last checkpoint saved by an earlier attempt: resume from it.
    pub fn checkpoint(&self) -> Option<&serde_json::Value> {
        self.job.checkpoint.as_ref()
    }

    /// The attempt's fencing token: pass it to every resource the handler writes.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Completes when the attempt should stop.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// True once the attempt should stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Saves a checkpoint (and renews the lease); the next attempt receives it.
    pub async fn checkpoint_save(&self, checkpoint: serde_json::Value) -> Result<(), JobError> {
        let mut hb = JobHeartbeat::new(self.job.id.clone(), self.token);
        hb.checkpoint = Some(checkpoint);
        self.beat(hb).await
    }

    /// Reports progress (and renews the lease).
    pub async fn progress(&self, progress: Progress) -> Result<(), JobError> {
        let mut hb = JobHeartbeat::new(self.job.id.clone(), self.token);
        hb.progress = Some(progress);
        self.beat(hb).await
    }

    async fn beat(&self, hb: JobHeartbeat) -> Result<(), JobError> {
        match self.store.job_heartbeat(&self.job.tenant, &hb).await {
            Ok(a) => {
                if a.cancel_requested {
                    self.cancel.cancel();
                }
                Ok(())
            }
            Err(e) => {
                if e.is_lease_lost() || e.is_not_found() {
                    self.cancel.cancel();
                }
                Err(e)
            }
        }
    }
}
