//! [`WakingStore`]: a [`JobStore`] that wakes this process's waiting leases and cancels after
//! the changes it makes (other processes learn them from the store's notifications).

use crate::error::JobError;
use crate::model::{Job, JobEvent, JobId, JobState, QueueName};
use crate::params::{
    Cancelled, Enqueued, HeartbeatAnswer, JobComplete, JobEnqueue, JobEvents, JobFail,
    JobHeartbeat, JobLease, JobList, JobPrune, JobRelease, JobRescue, JobRetry, Leased, QueueStats,
    Rescued,
};
use crate::store::JobStore;
use crate::wake::{Topic, Wakeups};
use palisade_core::{Page, TenantId};
use std::sync::Arc;

/// Delegates every operation to the inner store; after an enqueue of a due job, a re-drive or
/// a release it wakes the queue's waiting leases, and after a running job stops (complete,
/// fail, release) the cancels waiting for it.
#[derive(Debug, Clone)]
pub struct WakingStore {
    inner: Arc<dyn JobStore>,
    wakeups: Wakeups,
}

impl WakingStore {
    /// `inner`, waking `wakeups`.
    pub fn new(inner: Arc<dyn JobStore>, wakeups: Wakeups) -> Self {
        Self { inner, wakeups }
    }

    fn due(&self, queue: &QueueName) {
        self.wakeups.wake(&Topic::Due(queue.to_string()));
    }

    fn stopped(&self, job: &Job) {
        self.wakeups.wake(&Topic::Stopped(job.id.to_string()));
    }
}

#[async_trait::async_trait]
impl JobStore for WakingStore {
    async fn job_enqueue(&self, tenant: &TenantId, req: JobEnqueue) -> Result<Enqueued, JobError> {
        let done = self.inner.job_enqueue(tenant, req).await?;
        if !done.duplicate && done.job.state == JobState::Queued {
            self.due(&done.job.queue);
        }
        Ok(done)
    }

    async fn job_enqueue_many(
        &self,
        tenant: &TenantId,
        reqs: Vec<JobEnqueue>,
    ) -> Result<Vec<Enqueued>, JobError> {
        let done = self.inner.job_enqueue_many(tenant, reqs).await?;
        let mut due: Vec<&QueueName> = done
            .iter()
            .filter(|d| !d.duplicate && d.job.state == JobState::Queued)
            .map(|d| &d.job.queue)
            .collect();
        due.sort();
        due.dedup();
        due.into_iter().for_each(|q| self.due(q));
        Ok(done)
    }

    async fn job_lease(&self, req: &JobLease) -> Result<Vec<Leased>, JobError> {
        self.inner.job_lease(req).await
    }

    async fn job_heartbeat(
        &self,
        tenant: &TenantId,
        req: &JobHeartbeat,
    ) -> Result<HeartbeatAnswer, JobError> {
        self.inner.job_heartbeat(tenant, req).await
    }

    async fn job_complete(&self, tenant: &TenantId, req: &JobComplete) -> Result<Job, JobError> {
        let job = self.inner.job_complete(tenant, req).await?;
        self.stopped(&job);
        Ok(job)
    }

    async fn job_complete_many(
        &self,
        reqs: &[(TenantId, JobComplete)],
    ) -> Vec<Result<Job, JobError>> {
        let done = self.inner.job_complete_many(reqs).await;
        done.iter().flatten().for_each(|job| self.stopped(job));
        done
    }

    async fn job_fail(&self, tenant: &TenantId, req: &JobFail) -> Result<Job, JobError> {
        let job = self.inner.job_fail(tenant, req).await?;
        self.stopped(&job);
        Ok(job)
    }

    async fn job_release(&self, tenant: &TenantId, req: &JobRelease) -> Result<Job, JobError> {
        let job = self.inner.job_release(tenant, req).await?;
        self.stopped(&job);
        self.due(&job.queue);
        Ok(job)
    }

    async fn job_cancel(&self, tenant: &TenantId, id: &JobId) -> Result<Cancelled, JobError> {
        self.inner.job_cancel(tenant, id).await
    }

    async fn job_retry(&self, tenant: &TenantId, req: &JobRetry) -> Result<Vec<Job>, JobError> {
        let jobs = self.inner.job_retry(tenant, req).await?;
        let mut queues: Vec<&QueueName> = jobs.iter().map(|j| &j.queue).collect();
        queues.sort();
        queues.dedup();
        queues.into_iter().for_each(|q| self.due(q));
        Ok(jobs)
    }

    async fn job_get(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, JobError> {
        self.inner.job_get(tenant, id).await
    }

    async fn job_list(&self, tenant: &TenantId, req: &JobList) -> Result<Page<Job>, JobError> {
        self.inner.job_list(tenant, req).await
    }

    async fn job_events(
        &self,
        tenant: &TenantId,
        req: &JobEvents,
    ) -> Result<Vec<JobEvent>, JobError> {
        self.inner.job_events(tenant, req).await
    }

    async fn job_delete(&self, tenant: &TenantId, id: &JobId) -> Result<Job, JobError> {
        self.inner.job_delete(tenant, id).await
    }

    async fn job_stats(
        &self,
        tenant: &TenantId,
        queue: &QueueName,
    ) -> Result<QueueStats, JobError> {
        self.inner.job_stats(tenant, queue).await
    }

    async fn job_rescue(&self, req: &JobRescue) -> Result<Rescued, JobError> {
        self.inner.job_rescue(req).await
    }

    async fn job_prune(&self, req: &JobPrune) -> Result<u64, JobError> {
        self.inner.job_prune(req).await
    }
}
