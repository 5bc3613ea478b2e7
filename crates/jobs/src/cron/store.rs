//! [`CronStore`]: schedule CRUD and the atomic fire of a due slot, on every backend.

use super::error::CronError;
use super::model::{CronFire, DueSchedule, Fired, Schedule, ScheduleName, ScheduleSpec};
use palisade_core::{Page, PageRequest, TenantId};

/// Durable schedules of every tenant. Every method but [`CronStore::cron_due`] takes the
/// tenant; another tenant's schedule is [`CronError::NotFound`] like a missing one.
///
/// **Exactly once.** [`CronStore::cron_fire`] reads the schedule, plans the due slots
/// ([`super::plan`]), enqueues one job per fired slot with the unique key
/// [`Schedule::slot_key`] and advances the schedule's cursor with a compare-and-set on the
/// cursor it read — all in one store transaction. A concurrent fire of the same slot either
/// loses the compare-and-set (and enqueues nothing: its transaction rolls back) or finds the
/// cursor already past the slot, so each slot fires once whatever the number of instances.
#[async_trait::async_trait]
pub trait CronStore: Send + Sync + std::fmt::Debug {
    /// Creates a schedule ([`CronError::Exists`] when the name is taken in the tenant).
    async fn schedule_create(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
        spec: ScheduleSpec,
    ) -> Result<Schedule, CronError>;

    /// Replaces what a schedule does ([`Schedule::update`]).
    async fn schedule_update(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
        spec: ScheduleSpec,
    ) -> Result<Schedule, CronError>;

    /// One schedule of the tenant.
    async fn schedule_get(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
    ) -> Result<Option<Schedule>, CronError>;

    /// A page of the tenant's schedules by name.
    async fn schedule_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, CronError>;

    /// Deletes a schedule; false when there was none. Jobs it enqueued stay.
    async fn schedule_delete(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
    ) -> Result<bool, CronError>;

    /// Enabled schedules (every tenant's) with a slot due at `now_ms`, most overdue first,
    /// at most `limit`.
    async fn cron_due(&self, now_ms: i64, limit: u32) -> Result<Vec<DueSchedule>, CronError>;

    /// Fires the due slots of one schedule, atomically (see the trait's doc).
    async fn cron_fire(&self, tenant: &TenantId, req: &CronFire) -> Result<Fired, CronError>;
}
