//! An in-memory schedule store over a [`MemoryJobStore`], for tests and single-process embedding.

use super::error::CronError;
use super::model::{CronFire, DueSchedule, Fired, Schedule, ScheduleName, ScheduleSpec};
use super::plan::plan;
use super::store::CronStore;
use crate::{JobStore, MemoryJobStore};
use palisade_core::{Page, PageRequest, SharedClock, TenantId};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;

type Key = (TenantId, ScheduleName);

/// Schedules in process memory, enqueueing into `jobs`. One async mutex, held across a fire's
/// enqueues, makes each fire atomic against every other operation of this store.
#[derive(Debug)]
pub struct MemoryCronStore {
    clock: SharedClock,
    jobs: Arc<MemoryJobStore>,
    schedules: Mutex<BTreeMap<Key, Schedule>>,
}

impl MemoryCronStore {
    /// An empty store on `clock` enqueueing into `jobs`.
    pub fn new(clock: SharedClock, jobs: Arc<MemoryJobStore>) -> Self {
        Self {
            clock,
            jobs,
            schedules: Mutex::new(BTreeMap::new()),
        }
    }
}

fn key(tenant: &TenantId, name: &ScheduleName) -> Key {
    (tenant.clone(), name.clone())
}

#[async_trait::async_trait]
impl CronStore for MemoryCronStore {
    async fn schedule_create(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
        spec: ScheduleSpec,
    ) -> Result<Schedule, CronError> {
        spec.check()?;
        let mut g = self.schedules.lock().await;
        if g.contains_key(&key(tenant, name)) {
            return Err(CronError::Exists);
        }
        let s = Schedule::new(tenant, name.clone(), spec, self.clock.now_ms());
        g.insert(key(tenant, name), s.clone());
        Ok(s)
    }

    async fn schedule_update(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
        spec: ScheduleSpec,
    ) -> Result<Schedule, CronError> {
        spec.check()?;
        let mut g = self.schedules.lock().await;
        let s = g.get_mut(&key(tenant, name)).ok_or(CronError::NotFound)?;
        s.update(spec, self.clock.now_ms());
        Ok(s.clone())
    }

    async fn schedule_get(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
    ) -> Result<Option<Schedule>, CronError> {
        Ok(self.schedules.lock().await.get(&key(tenant, name)).cloned())
    }

    async fn schedule_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, CronError> {
        let limit = page.limit.clamp(1, palisade_core::page::MAX_PAGE);
        let g = self.schedules.lock().await;
        let rows: Vec<Schedule> = g
            .values()
            .filter(|s| &s.tenant == tenant)
            .filter(|s| page.after.as_deref().is_none_or(|a| s.name.as_str() > a))
            .take(limit as usize + 1)
            .cloned()
            .collect();
        Ok(Page::from_rows(rows, limit, |s| s.name.to_string()))
    }

    async fn schedule_delete(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
    ) -> Result<bool, CronError> {
        Ok(self
            .schedules
            .lock()
            .await
            .remove(&key(tenant, name))
            .is_some())
    }

    async fn cron_due(&self, now_ms: i64, limit: u32) -> Result<Vec<DueSchedule>, CronError> {
        let g = self.schedules.lock().await;
        let mut due: Vec<&Schedule> = g.values().filter(|s| s.is_due(now_ms)).collect();
        due.sort_by_key(|s| s.next_slot_ms);
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|s| DueSchedule {
                tenant: s.tenant.clone(),
                name: s.name.clone(),
            })
            .collect())
    }

    async fn cron_fire(&self, tenant: &TenantId, req: &CronFire) -> Result<Fired, CronError> {
        let mut g = self.schedules.lock().await;
        let s = g
            .get_mut(&key(tenant, &req.name))
            .ok_or(CronError::NotFound)?;
        let Some(p) = plan(s, req.now_ms, req.grace_ms) else {
            return Ok(Fired::default());
        };
        let mut jobs = Vec::with_capacity(p.fire.len());
        for slot in &p.fire {
            let done = self.jobs.job_enqueue(tenant, s.job_for(*slot)).await?;
            jobs.push((*slot, done.job.id));
        }
        s.cursor_ms = p.cursor_ms;
        s.next_slot_ms = p.next_slot_ms;
        s.last_fired_slot_ms = p.fire.last().copied().or(s.last_fired_slot_ms);
        Ok(Fired {
            jobs,
            skipped: p.skipped,
            raced: false,
        })
    }
}
