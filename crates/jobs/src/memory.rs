//! An in-memory jobs store, for tests and single-process embedding.

use crate::error::JobError;
use crate::limits::{admitted, gated_pick};
use crate::model::{Job, JobEvent, JobId, JobState, QueueName};
use crate::params::{
    check_limit, Cancelled, Enqueued, HeartbeatAnswer, JobComplete, JobEnqueue, JobEvents, JobFail,
    JobFilter, JobHeartbeat, JobLease, JobList, JobPrune, JobRelease, JobRescue, JobRetry,
    LeaseScope, Leased, QueueStats, Rescued, Throughput,
};
use crate::store::{fair_order, JobStore};
use crate::transition as tr;
use palisade_core::{Page, SharedClock, SystemClock, TenantId};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};

/// Jobs in process memory; lost on restart. One mutex makes every operation atomic.
#[derive(Debug)]
pub struct MemoryJobStore {
    clock: SharedClock,
    inner: Mutex<Inner>,
    /// Held through a lease, so a gated lease's pick, gate and take are one step.
    leases: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Every job by id (ids sort by creation time).
    jobs: BTreeMap<JobId, Job>,
    /// Every job's log.
    events: HashMap<JobId, Vec<JobEvent>>,
}

impl Default for MemoryJobStore {
    fn default() -> Self {
        Self::new(SystemClock::shared())
    }
}

impl MemoryJobStore {
    /// The ids of up to `limit` due jobs a lease would take now, fairly and within the caps.
    fn job_pick(&self, req: &JobLease, limit: u32, now: i64) -> Vec<JobId> {
        let g = self.inner.lock();
        let in_scope = |j: &Job| match &req.scope {
            LeaseScope::Tenant(t) => &j.tenant == t,
            LeaseScope::AllTenants => true,
        };
        let mut running: HashMap<&TenantId, u64> = HashMap::new();
        let mut running_key: HashMap<(&TenantId, &str), u64> = HashMap::new();
        for j in g.jobs.values() {
            if j.queue == req.queue && j.state == JobState::Running {
                *running.entry(&j.tenant).or_default() += 1;
                *running_key
                    .entry((&j.tenant, j.limit_key_str()))
                    .or_default() += 1;
            }
        }
        let due = g
            .jobs
            .values()
            .filter(|j| j.queue == req.queue && j.is_due(now) && in_scope(j))
            .map(|j| {
                let r = running.get(&j.tenant).copied().unwrap_or(0);
                let rk = running_key.get(&(&j.tenant, j.limit_key_str()));
                (r, rk.copied().unwrap_or(0), j)
            });
        let (cap, key_cap) = (req.max_running_per_tenant, req.max_running_per_key);
        fair_order(due, limit as usize, cap, key_cap)
            .into_iter()
            .map(|j| j.id.clone())
            .collect()
    }

    /// Leases the jobs of `ids` that are still due, in order.
    fn job_take(&self, req: &JobLease, ids: &[JobId], now: i64) -> Vec<Leased> {
        let mut g = self.inner.lock();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(job) = g.jobs.get_mut(id).filter(|j| j.is_due(now)) else {
                continue;
            };
            let due_at_ms = job.run_at_ms;
            let e = tr::lease(job, &req.worker, now);
            let leased = Leased {
                token: job.lease_token,
                due_at_ms,
                job: job.clone(),
            };
            g.log(id, [e]);
            out.push(leased);
        }
        out
    }

    /// An empty store on `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            inner: Mutex::new(Inner::default()),
            leases: tokio::sync::Mutex::new(()),
        }
    }
}

impl Inner {
    fn job_mut(&mut self, tenant: &TenantId, id: &JobId) -> Result<&mut Job, JobError> {
        self.jobs
            .get_mut(id)
            .filter(|j| &j.tenant == tenant)
            .ok_or(JobError::NotFound)
    }

    fn log(&mut self, id: &JobId, events: impl IntoIterator<Item = JobEvent>) {
        self.events.entry(id.clone()).or_default().extend(events);
    }

    /// The live job holding `job`'s unique key in one of its states, if any.
    fn unique_holder(&self, job: &Job) -> Option<&Job> {
        let key = job.unique_key.as_ref()?;
        if !job.unique_states.contains(job.state) {
            return None;
        }
        self.jobs.values().find(|o| {
            o.id != job.id
                && o.tenant == job.tenant
                && o.unique_key.as_ref() == Some(key)
                && o.unique_states.contains(o.state)
        })
    }

    /// Applies `f` to one tenant's job and logs its events; `f` changes nothing on error.
    fn change<T>(
        &mut self,
        tenant: &TenantId,
        id: &JobId,
        f: impl FnOnce(&mut Job) -> Result<(T, Vec<JobEvent>), JobError>,
    ) -> Result<T, JobError> {
        let job = self.job_mut(tenant, id)?;
        let mut copy = job.clone();
        let (out, events) = f(&mut copy)?;
        *job = copy;
        self.log(id, events);
        Ok(out)
    }
}

fn matches(job: &Job, f: &JobFilter) -> bool {
    f.matches(job)
}

#[async_trait::async_trait]
impl JobStore for MemoryJobStore {
    async fn job_enqueue(&self, tenant: &TenantId, req: JobEnqueue) -> Result<Enqueued, JobError> {
        req.check()?;
        let now = self.clock.now_ms();
        let mut job = req.into_job(tenant, JobId::generate(now), now);
        let mut g = self.inner.lock();
        if let Some(existing) = g.unique_holder(&job) {
            return Ok(Enqueued {
                job: existing.clone(),
                duplicate: true,
            });
        }
        let e = tr::enqueued(&mut job);
        g.log(&job.id, [e]);
        g.jobs.insert(job.id.clone(), job.clone());
        Ok(Enqueued {
            job,
            duplicate: false,
        })
    }

    async fn job_lease(&self, req: &JobLease) -> Result<Vec<Leased>, JobError> {
        check_limit(req.limit)?;
        let _one_at_a_time = self.leases.lock().await;
        let now = self.clock.now_ms();
        let Some(gate) = &req.gate else {
            let picked = self.job_pick(req, req.limit, now);
            return Ok(self.job_take(req, &picked, now));
        };
        // The gate is asked outside the lock; the jobs it admits are taken if still due.
        let picked = self.job_pick(req, gated_pick(req.limit), now);
        let jobs: Vec<Job> = {
            let g = self.inner.lock();
            picked
                .iter()
                .filter_map(|id| g.jobs.get(id).cloned())
                .collect()
        };
        let ids: Vec<JobId> = admitted(gate.as_ref(), &jobs, req.limit as usize)
            .await
            .into_iter()
            .map(|j| j.id.clone())
            .collect();
        Ok(self.job_take(req, &ids, now))
    }

    async fn job_heartbeat(
        &self,
        tenant: &TenantId,
        req: &JobHeartbeat,
    ) -> Result<HeartbeatAnswer, JobError> {
        req.check()?;
        let now = self.clock.now_ms();
        self.inner
            .lock()
            .change(tenant, &req.id, |j| tr::heartbeat(j, req, now))
    }

    async fn job_complete(&self, tenant: &TenantId, req: &JobComplete) -> Result<Job, JobError> {
        let now = self.clock.now_ms();
        self.inner.lock().change(tenant, &req.id, |j| {
            let e = tr::complete(j, req.token, now)?;
            Ok((j.clone(), vec![e]))
        })
    }

    async fn job_fail(&self, tenant: &TenantId, req: &JobFail) -> Result<Job, JobError> {
        let now = self.clock.now_ms();
        let unit = rand::random::<f64>();
        self.inner.lock().change(tenant, &req.id, |j| {
            let e = tr::fail(j, req, now, unit)?;
            Ok((j.clone(), vec![e]))
        })
    }

    async fn job_release(&self, tenant: &TenantId, req: &JobRelease) -> Result<Job, JobError> {
        let now = self.clock.now_ms();
        self.inner.lock().change(tenant, &req.id, |j| {
            let e = tr::release(j, req.token, now)?;
            Ok((j.clone(), vec![e]))
        })
    }

    async fn job_cancel(&self, tenant: &TenantId, id: &JobId) -> Result<Cancelled, JobError> {
        let now = self.clock.now_ms();
        self.inner.lock().change(tenant, id, |j| {
            let (c, e) = tr::cancel(j, now)?;
            Ok((c, e.into_iter().collect()))
        })
    }

    async fn job_retry(&self, tenant: &TenantId, req: &JobRetry) -> Result<Vec<Job>, JobError> {
        let now = self.clock.now_ms();
        let mut g = self.inner.lock();
        let ids: Vec<JobId> = match req {
            JobRetry::One(id) => vec![id.clone()],
            JobRetry::Dead { filter, limit } => {
                check_limit(*limit)?;
                let f = JobFilter {
                    state: Some(JobState::Dead),
                    ..filter.clone()
                };
                g.jobs
                    .values()
                    .filter(|j| &j.tenant == tenant && matches(j, &f))
                    .take(*limit as usize)
                    .map(|j| j.id.clone())
                    .collect()
            }
        };
        let mut out = Vec::new();
        for id in ids {
            let mut job = g.job_mut(tenant, &id)?.clone();
            let e = tr::redrive(&mut job, now)?;
            if g.unique_holder(&job).is_some() {
                if matches!(req, JobRetry::One(_)) {
                    return Err(JobError::UniqueConflict);
                }
                continue;
            }
            g.log(&id, [e]);
            g.jobs.insert(id, job.clone());
            out.push(job);
        }
        Ok(out)
    }

    async fn job_get(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, JobError> {
        let g = self.inner.lock();
        Ok(g.jobs.get(id).filter(|j| &j.tenant == tenant).cloned())
    }

    async fn job_list(&self, tenant: &TenantId, req: &JobList) -> Result<Page<Job>, JobError> {
        let limit = req.page.limit.clamp(1, palisade_core::page::MAX_PAGE);
        let g = self.inner.lock();
        let rows: Vec<Job> = g
            .jobs
            .values()
            .rev()
            .filter(|j| req.page.after.as_deref().is_none_or(|a| j.id.as_str() < a))
            .filter(|j| &j.tenant == tenant && matches(j, &req.filter))
            .take(limit as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_rows(rows, limit, |j| j.id.to_string()))
    }

    async fn job_events(
        &self,
        tenant: &TenantId,
        req: &JobEvents,
    ) -> Result<Vec<JobEvent>, JobError> {
        check_limit(req.limit)?;
        let g = self.inner.lock();
        g.jobs
            .get(&req.id)
            .filter(|j| &j.tenant == tenant)
            .ok_or(JobError::NotFound)?;
        Ok(g.events
            .get(&req.id)
            .map(|es| {
                es.iter()
                    .filter(|e| e.seq >= req.from)
                    .take(req.limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn job_delete(&self, tenant: &TenantId, id: &JobId) -> Result<Job, JobError> {
        let mut g = self.inner.lock();
        let job = g.job_mut(tenant, id)?;
        if job.state == JobState::Running {
            return Err(JobError::Running);
        }
        g.events.remove(id);
        Ok(g.jobs.remove(id).expect("found above"))
    }

    async fn job_stats(
        &self,
        tenant: &TenantId,
        queue: &QueueName,
    ) -> Result<QueueStats, JobError> {
        let now = self.clock.now_ms();
        let g = self.inner.lock();
        let mine = || {
            g.jobs
                .values()
                .filter(|j| &j.tenant == tenant && &j.queue == queue)
        };
        let counts: Vec<(JobState, u64)> = mine().map(|j| (j.state, 1)).collect();
        let oldest = mine().filter(|j| j.is_due(now)).map(|j| j.run_at_ms).min();
        let finished = mine().filter_map(|j| Some((j.state, j.finished_at_ms?)));
        let mut stats = QueueStats::new(&counts, oldest, now);
        stats.throughput = Throughput::windows(finished, now);
        Ok(stats)
    }

    async fn job_rescue(&self, req: &JobRescue) -> Result<Rescued, JobError> {
        check_limit(req.limit)?;
        let mut g = self.inner.lock();
        let mut report = Rescued::default();
        let expired: Vec<JobId> = g
            .jobs
            .values()
            .filter(|j| {
                j.state == JobState::Running
                    && j.lease_expires_at_ms.is_some_and(|at| at <= req.now_ms)
            })
            .take(req.limit as usize)
            .map(|j| j.id.clone())
            .collect();
        for id in expired {
            let job = g.jobs.get_mut(&id).expect("listed from the map");
            let events = tr::rescue(job, req.now_ms, rand::random::<f64>());
            count(&mut report, job.state);
            g.log(&id, events);
        }
        Ok(report)
    }

    async fn job_prune(&self, req: &JobPrune) -> Result<u64, JobError> {
        check_limit(req.limit)?;
        let mut g = self.inner.lock();
        let gone: Vec<JobId> = g
            .jobs
            .values()
            .filter(|j| {
                let cutoff = req.cutoff(j.state);
                j.state.is_final()
                    && cutoff.is_some_and(|c| j.finished_at_ms.is_some_and(|f| f < c))
            })
            .take(req.limit as usize)
            .map(|j| j.id.clone())
            .collect();
        for id in &gone {
            g.jobs.remove(id);
            g.events.remove(id);
        }
        Ok(gone.len() as u64)
    }
}

/// Counts a rescued job by the state it went to.
pub fn count(report: &mut Rescued, state: JobState) {
    match state {
        JobState::Dead => report.dead += 1,
        JobState::Cancelled => report.cancelled += 1,
        _ => report.retried += 1,
    }
}
