//! Cron schedules: the `cron_schedules` table; [`CronStore`] implemented on [`SqlStore`].
//!
//! `cron_fire` is one write transaction: read the schedule, plan its due slots, insert one job
//! per fired slot (`INSERT … ON CONFLICT DO NOTHING` on the jobs' unique key
//! `cron:<name>@<slot>`) with its first event, then advance the cursor with
//! `UPDATE … WHERE cursor_ms = <the cursor read>`. When that compare-and-set matches no row,
//! another fire won the slot: the transaction rolls back and nothing was enqueued. On
//! PostgreSQL a racing insert of the same slot key waits for the winner and then does nothing;
//! on SQLite `BEGIN IMMEDIATE` serialises the fires.

use crate::JobDialect;
use crate::{SqlStore, Value};
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use palisade_jobs::cron::{
    plan, CronError, CronExpr, CronFire, CronStore, DueSchedule, Fired, MissedPolicy, Schedule,
    ScheduleName, ScheduleSpec, Zone,
};
use palisade_jobs::transition as tr;
use palisade_jobs::{JobId, JobKind, Priority, QueueName};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Transaction, Type};

const COLS: &str = "tenant_id, name, cron, timezone, queue, kind, payload, priority, enabled,
    missed, max_catch_up, cursor_ms, next_slot_ms, last_fired_slot_ms, created_at_ms,
    updated_at_ms";

const INSERT: &str = "INSERT INTO cron_schedules (tenant_id, name, cron, timezone, queue, kind,
    payload, priority, enabled, missed, max_catch_up, cursor_ms, next_slot_ms,
    last_fired_slot_ms, created_at_ms, updated_at_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
    ON CONFLICT DO NOTHING";

const UPDATE: &str = "UPDATE cron_schedules SET cron = $3, timezone = $4, queue = $5, kind = $6,
    payload = $7, priority = $8, enabled = $9, missed = $10, max_catch_up = $11,
    cursor_ms = $12, next_slot_ms = $13, last_fired_slot_ms = $14, updated_at_ms = $16
    WHERE tenant_id = $1 AND name = $2 AND created_at_ms = $15";

const ADVANCE: &str = "UPDATE cron_schedules SET cursor_ms = $3, next_slot_ms = $4,
    last_fired_slot_ms = $5 WHERE tenant_id = $1 AND name = $2 AND cursor_ms = $6";

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("cron: undecodable {what}"))
}

impl<D, B> SqlStore<D, B>
where
    D: JobDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    bool: Value<D>,
    String: Value<D>,
    Option<String>: Value<D>,
    Option<i64>: Value<D>,
{
    fn schedule_row(r: &D::Row) -> Result<Schedule, StoreError> {
        let text = |name: &str| Self::col::<String>(r, name);
        let int = |name: &str| Self::col::<i64>(r, name);
        let spec = ScheduleSpec {
            cron: CronExpr::parse(&text("cron")?).map_err(|_| corrupt("cron"))?,
            timezone: Zone::parse(&text("timezone")?).map_err(|_| corrupt("timezone"))?,
            queue: QueueName::parse(&text("queue")?).map_err(|_| corrupt("queue"))?,
            kind: JobKind::parse(&text("kind")?).map_err(|_| corrupt("kind"))?,
            payload: serde_json::from_str(&text("payload")?).map_err(|_| corrupt("payload"))?,
            priority: Priority::new(int("priority")?).map_err(|_| corrupt("priority"))?,
            enabled: Self::col(r, "enabled")?,
            missed: MissedPolicy::parse(&text("missed")?).map_err(|_| corrupt("missed"))?,
            max_catch_up: u32::try_from(int("max_catch_up")?)
                .map_err(|_| corrupt("max_catch_up"))?,
        };
        Ok(Schedule {
            tenant: TenantId::parse(&text("tenant_id")?).map_err(|_| corrupt("tenant_id"))?,
            name: ScheduleName::parse(&text("name")?).map_err(|_| corrupt("name"))?,
            spec,
            cursor_ms: int("cursor_ms")?,
            next_slot_ms: Self::col(r, "next_slot_ms")?,
            last_fired_slot_ms: Self::col(r, "last_fired_slot_ms")?,
            created_at_ms: int("created_at_ms")?,
            updated_at_ms: int("updated_at_ms")?,
        })
    }

    /// Runs `sql` (INSERT or UPDATE) with every column of `s` bound as `$1 ..= $16`; rows.
    async fn schedule_write(&self, sql: &str, s: &Schedule) -> Result<u64, StoreError> {
        let done = sqlx::query(sql)
            .bind(s.tenant.as_str())
            .bind(s.name.as_str())
            .bind(s.spec.cron.as_str())
            .bind(s.spec.timezone.name())
            .bind(s.spec.queue.as_str())
            .bind(s.spec.kind.as_str())
            .bind(serde_json::to_string(&s.spec.payload).unwrap_or_else(|_| "null".into()))
            .bind(i64::from(s.spec.priority))
            .bind(s.spec.enabled)
            .bind(s.spec.missed.as_str())
            .bind(i64::from(s.spec.max_catch_up))
            .bind(s.cursor_ms)
            .bind(s.next_slot_ms)
            .bind(s.last_fired_slot_ms)
            .bind(s.created_at_ms)
            .bind(s.updated_at_ms)
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }

    /// Inserts the job of each slot of `fire` in `tx`; the slots with their jobs (the job
    /// already holding a slot's key when one does).
    async fn cron_enqueue(
        &self,
        tx: &mut Transaction<'static, D>,
        s: &Schedule,
        fire: &[i64],
    ) -> Result<Vec<(i64, JobId)>, CronError> {
        let now = self.now_ms();
        let mut out = Vec::with_capacity(fire.len());
        for slot in fire {
            let req = s.job_for(*slot);
            req.check()?;
            let mut job = req.into_job(&s.tenant, JobId::generate(now), now);
            let e = tr::enqueued(&mut job);
            if Self::job_insert(tx, &job).await? {
                Self::job_log(tx, &job, &[e]).await?;
            }
            out.push((*slot, job.id));
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl<D, B> CronStore for SqlStore<D, B>
where
    D: JobDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    bool: Value<D>,
    String: Value<D>,
    Option<String>: Value<D>,
    Option<i64>: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    async fn schedule_create(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
        spec: ScheduleSpec,
    ) -> Result<Schedule, CronError> {
        spec.check()?;
        let s = Schedule::new(tenant, name.clone(), spec, self.now_ms());
        match self.schedule_write(INSERT, &s).await? {
            1 => Ok(s),
            _ => Err(CronError::Exists),
        }
    }

    async fn schedule_update(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
        spec: ScheduleSpec,
    ) -> Result<Schedule, CronError> {
        spec.check()?;
        for _ in 0..5 {
            let mut s = self
                .schedule_get(tenant, name)
                .await?
                .ok_or(CronError::NotFound)?;
            let read_cursor = s.cursor_ms;
            s.update(spec.clone(), self.now_ms());
            // The write matches the row read only while no fire moved its cursor.
            let sql = format!("{UPDATE} AND cursor_ms = {read_cursor}");
            if self.schedule_write(&sql, &s).await? == 1 {
                return Ok(s);
            }
        }
        Err(StoreError::Conflict("cron: schedule kept changing".into()).into())
    }

    async fn schedule_get(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
    ) -> Result<Option<Schedule>, CronError> {
        let sql = format!("SELECT {COLS} FROM cron_schedules WHERE tenant_id = $1 AND name = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(row.as_ref().map(Self::schedule_row).transpose()?)
    }

    async fn schedule_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, CronError> {
        let limit = page.limit.clamp(1, palisade_core::page::MAX_PAGE);
        let sql = format!(
            "SELECT {COLS} FROM cron_schedules WHERE tenant_id = $1 AND name > $2
             ORDER BY name LIMIT {}",
            limit + 1
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(page.after.clone().unwrap_or_default())
            .fetch_all(self.pool())
            .await
            .map_err(D::map_err)?;
        let items = rows
            .iter()
            .map(Self::schedule_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, limit, |s| s.name.to_string()))
    }

    async fn schedule_delete(
        &self,
        tenant: &TenantId,
        name: &ScheduleName,
    ) -> Result<bool, CronError> {
        let done = sqlx::query("DELETE FROM cron_schedules WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.as_str())
            .bind(name.as_str())
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(D::rows_affected(&done) == 1)
    }

    async fn cron_due(&self, now_ms: i64, limit: u32) -> Result<Vec<DueSchedule>, CronError> {
        let rows = sqlx::query(
            "SELECT tenant_id, name FROM cron_schedules
             WHERE enabled = TRUE AND next_slot_ms <= $1 ORDER BY next_slot_ms LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(D::map_err)?;
        let due = |r: &D::Row| -> Result<DueSchedule, StoreError> {
            let t = Self::col::<String>(r, "tenant_id")?;
            let n = Self::col::<String>(r, "name")?;
            Ok(DueSchedule {
                tenant: TenantId::parse(&t).map_err(|_| corrupt("tenant_id"))?,
                name: ScheduleName::parse(&n).map_err(|_| corrupt("name"))?,
            })
        };
        Ok(rows.iter().map(due).collect::<Result<Vec<_>, _>>()?)
    }

    async fn cron_fire(&self, tenant: &TenantId, req: &CronFire) -> Result<Fired, CronError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let sql = format!("SELECT {COLS} FROM cron_schedules WHERE tenant_id = $1 AND name = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(req.name.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(D::map_err)?;
        let s = row
            .as_ref()
            .map(Self::schedule_row)
            .transpose()?
            .ok_or(CronError::NotFound)?;
        let Some(p) = plan(&s, req.now_ms, req.grace_ms) else {
            return Ok(Fired::default());
        };
        let jobs = self.cron_enqueue(&mut tx, &s, &p.fire).await?;
        let done = sqlx::query(ADVANCE)
            .bind(tenant.as_str())
            .bind(req.name.as_str())
            .bind(p.cursor_ms)
            .bind(p.next_slot_ms)
            .bind(p.fire.last().copied().or(s.last_fired_slot_ms))
            .bind(s.cursor_ms)
            .execute(&mut *tx)
            .await
            .map_err(D::map_err)?;
        if D::rows_affected(&done) != 1 {
            tx.rollback().await.map_err(D::map_err)?;
            return Ok(Fired {
                raced: true,
                ..Fired::default()
            });
        }
        tx.commit().await.map_err(D::map_err)?;
        Ok(Fired {
            jobs,
            skipped: p.skipped,
            raced: false,
        })
    }
}
