//! [`JobStore`]: the operations every jobs backend provides, each one atomic in the store.

use crate::error::JobError;
use crate::model::{Job, JobEvent, JobId, QueueName};
use crate::params::{
    Cancelled, Enqueued, HeartbeatAnswer, JobComplete, JobEnqueue, JobEvents, JobFail,
    JobHeartbeat, JobLease, JobList, JobPrune, JobRelease, JobRescue, JobRetry, Leased, QueueStats,
    Rescued,
};
use palisade_core::{Page, TenantId};

/// Durable jobs of every tenant. Every method takes the tenant (except the cross-tenant lease
/// scope and the maintenance sweeps) and decides in one atomic step of the store: a job's
/// changes and their events are written together or not at all, and a call carrying a lease
/// token that is not the job's current lease changes nothing ([`JobError::LeaseLost`]).
/// Time is the store's clock, except where the params carry `now_ms`.
#[async_trait::async_trait]
pub trait JobStore: Send + Sync + std::fmt::Debug {
    /// Creates a job, or — when a job of the tenant holds the same unique key in one of the
    /// key's states — answers that job with `duplicate: true` and creates nothing. Atomic
    /// also under concurrent enqueues of one key.
    async fn job_enqueue(&self, tenant: &TenantId, req: JobEnqueue) -> Result<Enqueued, JobError>;

    /// Enqueues many jobs of the tenant: one answer per request, in order, each as
    /// [`JobStore::job_enqueue`] answers it (a request whose unique key an existing job — or
    /// an earlier request of the batch — holds answers that job as a duplicate). The requests
    /// are checked first ([`crate::params::check_batch`]: 1 ..= 1,000); a refused one
    /// enqueues nothing. SQL stores enqueue the batch in one transaction (all or nothing, one
    /// commit); this default, the memory store's, enqueues one by one.
    async fn job_enqueue_many(
        &self,
        tenant: &TenantId,
        reqs: Vec<JobEnqueue>,
    ) -> Result<Vec<Enqueued>, JobError> {
        crate::params::check_batch(&reqs)?;
        let mut out = Vec::with_capacity(reqs.len());
        for r in reqs {
            out.push(self.job_enqueue(tenant, r).await?);
        }
        Ok(out)
    }

    /// Leases up to `req.limit` due jobs of the queue, fairly across tenants
    /// ([`JobLease`]); each lease gets a fresh fencing token.
    async fn job_lease(&self, req: &JobLease) -> Result<Vec<Leased>, JobError>;

    /// Renews the lease; saves progress and checkpoint; tells whether a cancel was asked.
    async fn job_heartbeat(
        &self,
        tenant: &TenantId,
        req: &JobHeartbeat,
    ) -> Result<HeartbeatAnswer, JobError>;

    /// Ends the attempt as completed.
    async fn job_complete(&self, tenant: &TenantId, req: &JobComplete) -> Result<Job, JobError>;

    /// Ends many attempts as completed, each checked against its own token as
    /// [`JobStore::job_complete`] does; one answer per request, in order. A store may do it
    /// in one transaction (one commit for the batch); this default completes one by one.
    async fn job_complete_many(
        &self,
        reqs: &[(TenantId, JobComplete)],
    ) -> Vec<Result<Job, JobError>> {
        let mut out = Vec::with_capacity(reqs.len());
        for (tenant, req) in reqs {
            out.push(self.job_complete(tenant, req).await);
        }
        out
    }

    /// Ends the attempt as failed: retrying, dead, or cancelled when a cancel was asked.
    async fn job_fail(&self, tenant: &TenantId, req: &JobFail) -> Result<Job, JobError>;

    /// Gives the lease back without counting the attempt.
    async fn job_release(&self, tenant: &TenantId, req: &JobRelease) -> Result<Job, JobError>;

    /// Cancels a waiting job; flags a running one (its worker learns it by heartbeat).
    /// A finished job is [`JobError::Finished`].
    async fn job_cancel(&self, tenant: &TenantId, id: &JobId) -> Result<Cancelled, JobError>;

    /// Re-drives dead (or cancelled) jobs: one ([`JobError::NotDead`] when it is not), or
    /// those matching a filter. The jobs re-driven.
    async fn job_retry(&self, tenant: &TenantId, req: &JobRetry) -> Result<Vec<Job>, JobError>;

    /// One job of the tenant.
    async fn job_get(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, JobError>;

    /// A page of the tenant's jobs, newest first.
    async fn job_list(&self, tenant: &TenantId, req: &JobList) -> Result<Page<Job>, JobError>;

    /// A job's log from `req.from`, oldest first ([`JobError::NotFound`] for no such job).
    async fn job_events(
        &self,
        tenant: &TenantId,
        req: &JobEvents,
    ) -> Result<Vec<JobEvent>, JobError>;

    /// Deletes a waiting or finished job with its log and answers it as it was; a running
    /// one is [`JobError::Running`] (cancel it first).
    async fn job_delete(&self, tenant: &TenantId, id: &JobId) -> Result<Job, JobError>;

    /// One queue of the tenant: jobs per state and the longest-waiting due job.
    async fn job_stats(&self, tenant: &TenantId, queue: &QueueName)
        -> Result<QueueStats, JobError>;

    /// Takes back running jobs (every tenant's) whose lease ended: retrying or dead by their
    /// attempts, cancelled when a cancel was asked.
    async fn job_rescue(&self, req: &JobRescue) -> Result<Rescued, JobError>;

    /// Deletes finished jobs (every tenant's) past their state's retention, with their logs.
    async fn job_prune(&self, req: &JobPrune) -> Result<u64, JobError>;
}

/// Orders due jobs for a lease ([`JobLease`]'s fairness): `due` holds (tenant's running
/// count, its limit key's running count, job) triples; answers the jobs to take, at most
/// `limit`, none that would put a tenant over `cap` or a limit key over `key_cap` running
/// jobs. The SQL stores compute the same order in their lease statement; the memory store
/// uses this.
pub fn fair_order<'a>(
    due: impl IntoIterator<Item = (u64, u64, &'a Job)>,
    limit: usize,
    cap: Option<u32>,
    key_cap: Option<u32>,
) -> Vec<&'a Job> {
    let mut due: Vec<(u64, u64, &Job)> = due.into_iter().collect();
    due.sort_by(|a, b| {
        (&a.2.tenant, a.2.priority, a.2.run_at_ms, &a.2.id).cmp(&(
            &b.2.tenant,
            b.2.priority,
            b.2.run_at_ms,
            &b.2.id,
        ))
    });
    let mut ranked: Vec<(u64, &Job)> = Vec::with_capacity(due.len());
    let mut per_key: std::collections::HashMap<(&str, &str), u64> = Default::default();
    let mut k = 0;
    for (i, (running, key_running, job)) in due.iter().enumerate() {
        k = if i > 0 && due[i - 1].2.tenant == job.tenant {
            k + 1
        } else {
            1
        };
        let kk = per_key
            .entry((job.tenant.as_str(), job.limit_key_str()))
            .or_default();
        *kk += 1;
        let rank = running + k;
        let within = cap.is_none_or(|c| rank <= u64::from(c))
            && key_cap.is_none_or(|c| key_running + *kk <= u64::from(c));
        if within {
            ranked.push((rank, job));
        }
    }
    ranked.sort_by(|a, b| {
        (a.0, a.1.priority, a.1.run_at_ms, &a.1.id).cmp(&(
            b.0,
            b.1.priority,
            b.1.run_at_ms,
            &b.1.id,
        ))
    });
    ranked.into_iter().take(limit).map(|(_, j)| j).collect()
}
