//! The `cron` maintenance task: each tick, fire every due schedule through the store; and
//! the start-up sync of the schedules declared in the configuration.

use super::error::CronError;
use super::model::{CronFire, DueSchedule};
use super::settings::CronSettings;
use super::store::CronStore;
use async_trait::async_trait;
use palisade_core::{Maintenance, SharedClock, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Fires due schedules (every tenant's) every `interval`. Any number of instances may run it
/// at once: the store fires each slot once ([`CronStore::cron_fire`]). Counts slots in
/// `palisade_cron_slots_total{result="fired"|"skipped"}`.
#[derive(Debug, Clone)]
pub struct CronTask {
    store: Arc<dyn CronStore>,
    clock: SharedClock,
    interval: Duration,
    grace_ms: i64,
    batch: u32,
}

impl CronTask {
    /// The task over `store` with `settings`, timed by `clock`.
    pub fn new(store: Arc<dyn CronStore>, settings: &CronSettings, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            interval: settings.interval,
            grace_ms: settings.grace_ms(),
            batch: settings.batch,
        }
    }

    /// Fires one due schedule; the slots fired.
    async fn fire(&self, due: DueSchedule, now_ms: i64) -> Result<u64, CronError> {
        let req = CronFire {
            name: due.name,
            now_ms,
            grace_ms: self.grace_ms,
        };
        let fired = match self.store.cron_fire(&due.tenant, &req).await {
            Err(CronError::NotFound) => return Ok(0),
            r => r?,
        };
        let n = fired.jobs.len() as u64;
        metrics::counter!("palisade_cron_slots_total", "result" => "fired").increment(n);
        metrics::counter!("palisade_cron_slots_total", "result" => "skipped")
            .increment(fired.skipped);
        if fired.raced {
            metrics::counter!("palisade_cron_fire_races_total").increment(1);
        }
        Ok(n)
    }
}

#[async_trait]
impl Maintenance for CronTask {
    fn name(&self) -> &'static str {
        "cron"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn step(&self) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        let due = self
            .store
            .cron_due(now, self.batch)
            .await
            .map_err(store_err)?;
        let mut fired = 0;
        let mut first_err = None;
        for d in due {
            match self.fire(d, now).await {
                Ok(n) => fired += n,
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        match first_err {
            Some(e) => Err(store_err(e)),
            None => Ok(fired),
        }
    }
}

fn store_err(e: CronError) -> StoreError {
    match e {
        CronError::Store(s) => s,
        other => StoreError::Backend(format!("cron: {other}")),
    }
}

/// Creates or updates the schedules `settings` declares (validated by
/// [`CronSettings::errors`]); how many changed.
pub async fn sync_declared(
    store: &dyn CronStore,
    settings: &CronSettings,
) -> Result<u64, CronError> {
    let mut changed = 0;
    for declared in &settings.schedules {
        let (tenant, name, spec) = declared.parse().map_err(CronError::Invalid)?;
        match store.schedule_get(&tenant, &name).await? {
            Some(s) if s.spec == spec => continue,
            Some(_) => store.schedule_update(&tenant, &name, spec).await?,
            None => match store.schedule_create(&tenant, &name, spec.clone()).await {
                Err(CronError::Exists) => store.schedule_update(&tenant, &name, spec).await?,
                r => r?,
            },
        };
        changed += 1;
    }
    Ok(changed)
}
