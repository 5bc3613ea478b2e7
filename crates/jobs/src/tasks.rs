//! The rescuer and the pruner as [`Maintenance`] tasks for the process's supervisor.

use crate::error::JobError;
use crate::metrics;
use crate::settings::JobsSettings;
use crate::store::JobStore;
use crate::sweep::{prune_step, rescue_step, Retention};
use crate::wake::Wakeups;
use crate::waking::WakingStore;
use async_trait::async_trait;
use palisade_core::{Maintenance, SharedClock, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// A job error of a sweep as the supervisor's store error.
fn store_error(e: JobError) -> StoreError {
    match e {
        JobError::Store(s) => s,
        other => StoreError::Backend(format!("jobs sweep: {other}")),
    }
}

/// Every `every`, takes back running jobs whose lease ended (retrying, dead or cancelled),
/// counted in `palisade_jobs_rescued_total`. Several processes rescuing at once is harmless:
/// each job is re-checked under its row lock.
#[derive(Debug, Clone)]
pub struct Rescuer {
    store: Arc<dyn JobStore>,
    clock: SharedClock,
    every: Duration,
}

impl Rescuer {
    /// A rescuer of `store` every `every`, reading time from `clock`.
    pub fn new(store: Arc<dyn JobStore>, clock: SharedClock, every: Duration) -> Self {
        Self {
            store,
            clock,
            every,
        }
    }
}

#[async_trait]
impl Maintenance for Rescuer {
    fn name(&self) -> &'static str {
        "jobs_rescue"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    async fn step(&self) -> Result<u64, StoreError> {
        let r = rescue_step(self.store.as_ref(), self.clock.now_ms())
            .await
            .map_err(store_error)?;
        metrics::rescued(&r);
        Ok(r.total())
    }
}

/// Every `every`, deletes finished jobs past their state's retention (with their logs).
#[derive(Debug, Clone)]
pub struct Pruner {
    store: Arc<dyn JobStore>,
    clock: SharedClock,
    retention: Retention,
    every: Duration,
}

impl Pruner {
    /// A pruner of `store` keeping finished jobs per `retention`, every `every`.
    pub fn new(
        store: Arc<dyn JobStore>,
        clock: SharedClock,
        retention: Retention,
        every: Duration,
    ) -> Self {
        Self {
            store,
            clock,
            retention,
            every,
        }
    }
}

#[async_trait]
impl Maintenance for Pruner {
    fn name(&self) -> &'static str {
        "jobs_prune"
    }

    fn interval(&self) -> Duration {
        self.every
    }

    async fn step(&self) -> Result<u64, StoreError> {
        prune_step(self.store.as_ref(), &self.retention, self.clock.now_ms())
            .await
            .map_err(store_error)
    }
}

/// The jobs capability's runtime: its store, settings and clock; gives its maintenance tasks.
#[derive(Debug, Clone)]
pub struct Jobs {
    /// The store, waking [`Jobs::wakeups`] after its changes ([`WakingStore`]).
    pub store: Arc<dyn JobStore>,
    /// The wake-ups of waiting leases and cancels in this process.
    pub wakeups: Wakeups,
    /// The settings.
    pub settings: JobsSettings,
    /// The clock (the maintenance tasks' time).
    pub clock: SharedClock,
}

impl Jobs {
    /// The runtime over `store`, with wake-ups fed by this process's changes only.
    pub fn new(store: Arc<dyn JobStore>, settings: JobsSettings, clock: SharedClock) -> Self {
        Self::with_wakeups(store, settings, clock, Wakeups::new())
    }

    /// The runtime over `store` with `wakeups` (which a store notification listener may also
    /// feed, e.g. PostgreSQL's `LISTEN`).
    pub fn with_wakeups(
        store: Arc<dyn JobStore>,
        settings: JobsSettings,
        clock: SharedClock,
        wakeups: Wakeups,
    ) -> Self {
        Self {
            store: Arc::new(WakingStore::new(store, wakeups.clone())),
            wakeups,
            settings,
            clock,
        }
    }

    /// The rescuer and the pruner, on the settings' intervals.
    pub fn maintenance(&self) -> Vec<Arc<dyn Maintenance>> {
        let s = &self.settings;
        vec![
            Arc::new(Rescuer::new(
                self.store.clone(),
                self.clock.clone(),
                s.rescue_interval,
            )),
            Arc::new(Pruner::new(
                self.store.clone(),
                self.clock.clone(),
                s.retention,
                s.prune_interval,
            )),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryJobStore;
    use crate::model::{JobKind, JobState, QueueName, WorkerId};
    use crate::params::{JobEnqueue, JobLease, LeaseScope};
    use palisade_core::{ManualClock, TenantId};

    #[tokio::test]
    async fn rescuer_takes_back_an_expired_lease_and_pruner_deletes_past_retention() {
        let clock = ManualClock::new(1_000_000);
        let shared: SharedClock = clock.clone();
        let store: Arc<dyn JobStore> = Arc::new(MemoryJobStore::new(shared.clone()));
        let t = TenantId::generate();
        let q = QueueName::parse("q").unwrap();
        let mut e = JobEnqueue::new(
            q.clone(),
            JobKind::parse("k").unwrap(),
            serde_json::json!({}),
        );
        e.max_attempts = 1;
        e.lease_ms = 1_000;
        let id = store.job_enqueue(&t, e).await.unwrap().job.id;
        let lease = JobLease {
            scope: LeaseScope::Tenant(t.clone()),
            queue: q,
            worker: WorkerId::parse("w").unwrap(),
            limit: 1,
            max_running_per_tenant: None,
            max_running_per_key: None,
            gate: None,
        };
        assert_eq!(store.job_lease(&lease).await.unwrap().len(), 1);
        let mut settings = JobsSettings::default();
        settings.retention.dead = Some(Duration::from_secs(10));
        let tasks = Jobs::new(store.clone(), settings, shared).maintenance();
        assert_eq!(tasks[0].step().await.unwrap(), 0, "lease still live");
        clock.advance(Duration::from_millis(1_000));
        assert_eq!(tasks[0].step().await.unwrap(), 1);
        let j = store.job_get(&t, &id).await.unwrap().unwrap();
        assert_eq!(j.state, JobState::Dead);
        assert_eq!(tasks[1].step().await.unwrap(), 0, "inside retention");
        clock.advance(Duration::from_secs(11));
        assert_eq!(tasks[1].step().await.unwrap(), 1);
        assert!(store.job_get(&t, &id).await.unwrap().is_none());
    }
}
