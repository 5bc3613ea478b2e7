//! Webhook sources and the inbox: the `webhook_sources` and `webhook_events` tables;
//! [`InboxStore`] implemented on [`SqlStore`].
//!
//! The replay guard is the unique constraint `(tenant_id, source, event_key)`: an insert is
//! `INSERT … ON CONFLICT DO NOTHING RETURNING seq` in autocommit; a pushed event is stored with
//! `dispatch` set, and the dispatch makes the jobs of marked events in batches (multi-row
//! inserts into the jobs tables) while clearing their marks, in one transaction; a grouped
//! insert (SQLite) makes its pushed events' jobs in its own transaction. A claim locks its
//! source row (`FOR UPDATE` on PostgreSQL; SQLite's
//! `BEGIN IMMEDIATE` serialises every writer) before it counts the source's attempts in
//! flight and its earlier pending events, so concurrency, order and rate hold across
//! instances. Source updates compare and set `version`.

use crate::JobDialect;
use crate::{SqlStore, Value};
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use palisade_jobs::JobId;
use palisade_webhooks::params::{
    claim_apply, claim_decide, replay_apply, resume_pick, settle_apply, ClaimView, MAX_REPLAY,
};
use palisade_webhooks::{
    delivery_job, Claim, Event, EventClaim, EventId, EventList, EventResume, EventSettle,
    EventStatus, InboxStats, InboxStore, Inserted, Source, SourceName, WebhookError,
};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Transaction, Type};

const SOURCE_COLS: &str = "tenant_id, name, provider, secrets, tolerance_secs, max_body_bytes,
    event_id, target, delivery_secret, last_claim_ms, created_at_ms, updated_at_ms, version";

const SOURCE_INSERT: &str = "INSERT INTO webhook_sources (tenant_id, name, provider, secrets,
    tolerance_secs, max_body_bytes, event_id, target, delivery_secret, created_at_ms,
    updated_at_ms, version)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING";

const SOURCE_UPDATE: &str = "UPDATE webhook_sources SET provider = $3, secrets = $4,
    tolerance_secs = $5, max_body_bytes = $6, event_id = $7, target = $8,
    delivery_secret = $9, created_at_ms = $10, updated_at_ms = $11, version = $12 + 1
    WHERE tenant_id = $1 AND name = $2 AND version = $12";

const EVENT_COLS: &str = "seq, id, tenant_id, source, event_key, content_type, body, status,
    attempts, next_attempt_at_ms, last_error, last_status, claim_token, claimed_until_ms,
    received_at_ms, delivered_at_ms";

const EVENT_INSERT: &str = "INSERT INTO webhook_events (id, tenant_id, source, event_key,
    content_type, body, status, attempts, next_attempt_at_ms, received_at_ms, dispatch)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (tenant_id, source, event_key) DO NOTHING RETURNING seq";

const EVENT_WRITE: &str = "UPDATE webhook_events SET status = $3, attempts = $4,
    next_attempt_at_ms = $5, last_error = $6, last_status = $7, claim_token = $8,
    claimed_until_ms = $9, delivered_at_ms = $10 WHERE tenant_id = $1 AND id = $2";

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("webhooks: undecodable {what}"))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|_| corrupt(what))
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
    Vec<u8>: Value<D>,
    Option<String>: Value<D>,
    Option<i64>: Value<D>,
{
    fn source_row(r: &D::Row) -> Result<(Source, Option<i64>), StoreError> {
        let text = |name: &str| Self::col::<String>(r, name);
        let int = |name: &str| Self::col::<i64>(r, name);
        let target: Option<String> = Self::col(r, "target")?;
        let s = Source {
            tenant: TenantId::parse(&text("tenant_id")?).map_err(|_| corrupt("tenant_id"))?,
            name: SourceName::parse(&text("name")?).map_err(|_| corrupt("name"))?,
            provider: from_json(&text("provider")?, "provider")?,
            secrets: from_json(&text("secrets")?, "secrets")?,
            tolerance_secs: u32::try_from(int("tolerance_secs")?)
                .map_err(|_| corrupt("tolerance_secs"))?,
            max_body_bytes: u32::try_from(int("max_body_bytes")?)
                .map_err(|_| corrupt("max_body_bytes"))?,
            event_id: from_json(&text("event_id")?, "event_id")?,
            target: target.map(|t| from_json(&t, "target")).transpose()?,
            delivery_secret: from_json(&text("delivery_secret")?, "delivery_secret")?,
            created_at_ms: int("created_at_ms")?,
            updated_at_ms: int("updated_at_ms")?,
            version: int("version")?,
        };
        Ok((s, Self::col(r, "last_claim_ms")?))
    }

    fn event_row(r: &D::Row) -> Result<Event, StoreError> {
        let text = |name: &str| Self::col::<String>(r, name);
        let int = |name: &str| Self::col::<i64>(r, name);
        let last_status: Option<i64> = Self::col(r, "last_status")?;
        Ok(Event {
            id: EventId::parse(&text("id")?).map_err(|_| corrupt("id"))?,
            seq: int("seq")?,
            tenant: TenantId::parse(&text("tenant_id")?).map_err(|_| corrupt("tenant_id"))?,
            source: SourceName::parse(&text("source")?).map_err(|_| corrupt("source"))?,
            key: text("event_key")?,
            content_type: Self::col(r, "content_type")?,
            body: Self::col(r, "body")?,
            status: EventStatus::parse(&text("status")?).map_err(|_| corrupt("status"))?,
            attempts: u32::try_from(int("attempts")?).map_err(|_| corrupt("attempts"))?,
            next_attempt_at_ms: int("next_attempt_at_ms")?,
            last_error: Self::col(r, "last_error")?,
            last_status: last_status.and_then(|s| u16::try_from(s).ok()),
            claim_token: Self::col(r, "claim_token")?,
            claimed_until_ms: Self::col(r, "claimed_until_ms")?,
            received_at_ms: int("received_at_ms")?,
            delivered_at_ms: Self::col(r, "delivered_at_ms")?,
        })
    }

    async fn source_write(&self, sql: &str, s: &Source) -> Result<u64, StoreError> {
        let done = sqlx::query(sql)
            .bind(s.tenant.as_str())
            .bind(s.name.as_str())
            .bind(to_json(&s.provider))
            .bind(to_json(&s.secrets))
            .bind(i64::from(s.tolerance_secs))
            .bind(i64::from(s.max_body_bytes))
            .bind(to_json(&s.event_id))
            .bind(s.target.as_ref().map(to_json))
            .bind(to_json(&s.delivery_secret))
            .bind(s.created_at_ms)
            .bind(s.updated_at_ms)
            .bind(s.version)
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }

    /// The source, read under its row lock in `tx`.
    async fn source_locked(
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        name: &SourceName,
    ) -> Result<Option<(Source, Option<i64>)>, StoreError> {
        let sql = format!(
            "SELECT {SOURCE_COLS} FROM webhook_sources WHERE tenant_id = $1 AND name = $2{}",
            D::JOB_LOCK
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(name.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(D::map_err)?;
        row.as_ref().map(Self::source_row).transpose()
    }

    async fn event_in(
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        id: &EventId,
    ) -> Result<Option<Event>, StoreError> {
        let sql =
            format!("SELECT {EVENT_COLS} FROM webhook_events WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(D::map_err)?;
        row.as_ref().map(Self::event_row).transpose()
    }

    /// Writes `e`'s mutable columns in `tx`.
    async fn event_write(tx: &mut Transaction<'static, D>, e: &Event) -> Result<(), StoreError> {
        sqlx::query(EVENT_WRITE)
            .bind(e.tenant.as_str())
            .bind(e.id.as_str())
            .bind(e.status.as_str())
            .bind(i64::from(e.attempts))
            .bind(e.next_attempt_at_ms)
            .bind(e.last_error.clone())
            .bind(e.last_status.map(i64::from))
            .bind(e.claim_token.clone())
            .bind(e.claimed_until_ms)
            .bind(e.delivered_at_ms)
            .execute(&mut **tx)
            .await
            .map_err(D::map_err)?;
        Ok(())
    }

    /// Inserts `id`'s delivery job in `tx`; true when it made one (none when a live job of
    /// the event holds its unique key). Like cron's enqueue, it sends no PostgreSQL `NOTIFY`:
    /// notifying transactions serialise at commit (one global queue lock), which would cap
    /// ingress at one commit at a time; the delivery runner is woken in process and polls.
    async fn event_job(
        &self,
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        id: &EventId,
    ) -> Result<bool, WebhookError> {
        let now = self.now_ms();
        let mut job = delivery_job(id).into_job(tenant, JobId::generate(now), now);
        let e = palisade_jobs::transition::enqueued(&mut job);
        if Self::job_insert(tx, &job).await? {
            Self::job_log(tx, &job, &[e]).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The oldest pending, due, unheld event of `source` other than `except`, when the
    /// source pushes.
    async fn event_next_due(
        tx: &mut Transaction<'static, D>,
        source: &Source,
        except: &EventId,
        now: i64,
    ) -> Result<Option<EventId>, StoreError> {
        if !source.pushes() {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id FROM webhook_events WHERE tenant_id = $1 AND source = $2
             AND status = 'pending' AND id <> $3 AND next_attempt_at_ms <= $4
             AND (claimed_until_ms IS NULL OR claimed_until_ms <= $4) ORDER BY seq LIMIT 1",
        )
        .bind(source.tenant.as_str())
        .bind(source.name.as_str())
        .bind(except.as_str())
        .bind(now)
        .fetch_optional(&mut **tx)
        .await
        .map_err(D::map_err)?;
        row.map(|r| {
            let id: String = Self::col(&r, "id")?;
            EventId::parse(&id).map_err(|_| corrupt("id"))
        })
        .transpose()
    }

    async fn claim_in(
        &self,
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        req: &EventClaim,
    ) -> Result<Claim, WebhookError> {
        let Some(first) = Self::event_in(tx, tenant, &req.id).await? else {
            return Ok(Claim::Settled);
        };
        let Some((source, last)) = Self::source_locked(tx, tenant, &first.source).await? else {
            return Ok(Claim::Settled);
        };
        // Read again under the source's lock: another claim may have come first.
        let Some(mut event) = Self::event_in(tx, tenant, &req.id).await? else {
            return Ok(Claim::Settled);
        };
        let now = req.now_ms;
        let in_flight: i64 = {
            let r = sqlx::query(
                "SELECT count(*) AS n FROM webhook_events WHERE tenant_id = $1 AND source = $2
                 AND status = 'pending' AND claimed_until_ms > $3 AND id <> $4",
            )
            .bind(tenant.as_str())
            .bind(source.name.as_str())
            .bind(now)
            .bind(event.id.as_str())
            .fetch_one(&mut **tx)
            .await
            .map_err(D::map_err)?;
            Self::col(&r, "n")?
        };
        let earlier = sqlx::query(
            "SELECT seq FROM webhook_events WHERE tenant_id = $1 AND source = $2
             AND status = 'pending' AND seq < $3 LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(source.name.as_str())
        .bind(event.seq)
        .fetch_optional(&mut **tx)
        .await
        .map_err(D::map_err)?;
        let view = ClaimView {
            source: &source,
            event: &event,
            in_flight: in_flight.max(0) as u32,
            earlier_pending: earlier.is_some(),
            last_claim_ms: last,
        };
        if let Some(refused) = claim_decide(view, now) {
            return Ok(refused);
        }
        claim_apply(&mut event, req);
        Self::event_write(tx, &event).await?;
        sqlx::query(
            "UPDATE webhook_sources SET last_claim_ms = $3 WHERE tenant_id = $1 AND name = $2",
        )
        .bind(tenant.as_str())
        .bind(source.name.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(D::map_err)?;
        Ok(Claim::Granted {
            event: Box::new(event),
            source: Box::new(source),
        })
    }

    async fn settle_in(
        &self,
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        req: &EventSettle,
    ) -> Result<Option<Event>, WebhookError> {
        let Some(first) = Self::event_in(tx, tenant, &req.id).await? else {
            return Ok(None);
        };
        let locked = Self::source_locked(tx, tenant, &first.source).await?;
        let Some(mut e) = Self::event_in(tx, tenant, &req.id).await? else {
            return Ok(None);
        };
        let holder = e
            .claim_token
            .as_deref()
            .is_some_and(|t| palisade_core::secret::secret_eq(t.as_bytes(), req.token.as_bytes()));
        if e.status != EventStatus::Pending || !holder {
            return Ok(None);
        }
        let disable = settle_apply(&mut e, req);
        Self::event_write(tx, &e).await?;
        let Some((mut source, _)) = locked else {
            return Ok(Some(e));
        };
        if disable {
            if let Some(t) = source.target.as_mut() {
                t.disabled = true;
            }
            sqlx::query(
                "UPDATE webhook_sources SET target = $3, version = version + 1, updated_at_ms = $4
                 WHERE tenant_id = $1 AND name = $2",
            )
            .bind(tenant.as_str())
            .bind(source.name.as_str())
            .bind(source.target.as_ref().map(to_json))
            .bind(req.now_ms)
            .execute(&mut **tx)
            .await
            .map_err(D::map_err)?;
        }
        if let Some(next) = Self::event_next_due(tx, &source, &e.id, req.now_ms).await? {
            self.event_job(tx, tenant, &next).await?;
        }
        Ok(Some(e))
    }

    async fn replay_in(
        &self,
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        ids: &[EventId],
        now_ms: i64,
    ) -> Result<Vec<Event>, WebhookError> {
        let mut out = Vec::new();
        for id in ids.iter().take(MAX_REPLAY) {
            let Some(mut e) = Self::event_in(tx, tenant, id).await? else {
                continue;
            };
            replay_apply(&mut e, now_ms);
            Self::event_write(tx, &e).await?;
            let source = Self::source_locked(tx, tenant, &e.source).await?;
            if source.is_some_and(|(s, _)| s.pushes()) {
                self.event_job(tx, tenant, &e.id).await?;
            }
            out.push(e);
        }
        Ok(out)
    }

    async fn delete_in(
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        name: &SourceName,
    ) -> Result<(), WebhookError> {
        sqlx::query("DELETE FROM webhook_events WHERE tenant_id = $1 AND source = $2")
            .bind(tenant.as_str())
            .bind(name.as_str())
            .execute(&mut **tx)
            .await
            .map_err(D::map_err)?;
        let done = sqlx::query("DELETE FROM webhook_sources WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.as_str())
            .bind(name.as_str())
            .execute(&mut **tx)
            .await
            .map_err(D::map_err)?;
        match D::rows_affected(&done) {
            0 => Err(WebhookError::NotFound),
            _ => Ok(()),
        }
    }

    async fn insert_in(
        tx: &mut Transaction<'static, D>,
        mut event: Event,
        push: bool,
    ) -> Result<Inserted, WebhookError> {
        let row = Self::event_insert_query(&event, push)
            .fetch_optional(&mut **tx)
            .await
            .map_err(D::map_err)?;
        if let Some(r) = row {
            event.seq = Self::col(&r, "seq")?;
            return Ok(Inserted {
                event,
                duplicate: false,
            });
        }
        let sql = format!(
            "SELECT {EVENT_COLS} FROM webhook_events
             WHERE tenant_id = $1 AND source = $2 AND event_key = $3"
        );
        let r = sqlx::query(&sql)
            .bind(event.tenant.as_str())
            .bind(event.source.as_str())
            .bind(event.key.as_str())
            .fetch_one(&mut **tx)
            .await
            .map_err(D::map_err)?;
        Ok(Inserted {
            event: Self::event_row(&r)?,
            duplicate: true,
        })
    }

    /// The insert of `e` (marked for dispatch when `push`), answering its `seq` when new.
    fn event_insert_query(
        e: &Event,
        push: bool,
    ) -> sqlx::query::Query<'_, D, <D as sqlx::Database>::Arguments<'_>> {
        sqlx::query(EVENT_INSERT)
            .bind(e.id.as_str())
            .bind(e.tenant.as_str())
            .bind(e.source.as_str())
            .bind(e.key.as_str())
            .bind(e.content_type.clone())
            .bind(e.body.clone())
            .bind(e.status.as_str())
            .bind(i64::from(e.attempts))
            .bind(e.next_attempt_at_ms)
            .bind(e.received_at_ms)
            .bind(push)
    }

    /// The insert of an event in autocommit: `INSERT … ON CONFLICT DO NOTHING RETURNING`
    /// alone, then the existing event for a duplicate (tried again when retention deleted it
    /// in between).
    async fn insert_alone(&self, mut event: Event, push: bool) -> Result<Inserted, WebhookError> {
        let sql = format!(
            "SELECT {EVENT_COLS} FROM webhook_events
             WHERE tenant_id = $1 AND source = $2 AND event_key = $3"
        );
        for _ in 0..3 {
            let row = Self::event_insert_query(&event, push)
                .fetch_optional(self.pool())
                .await
                .map_err(D::map_err)?;
            if let Some(r) = row {
                event.seq = Self::col(&r, "seq")?;
                return Ok(Inserted {
                    event,
                    duplicate: false,
                });
            }
            let first = sqlx::query(&sql)
                .bind(event.tenant.as_str())
                .bind(event.source.as_str())
                .bind(event.key.as_str())
                .fetch_optional(self.pool())
                .await
                .map_err(D::map_err)?;
            if let Some(r) = first {
                return Ok(Inserted {
                    event: Self::event_row(&r)?,
                    duplicate: true,
                });
            }
        }
        Err(StoreError::Conflict("webhooks: event key kept changing hands".into()).into())
    }

    /// [`InboxStore::event_insert_many`] in `tx`: the events unmarked, and the new pushed
    /// ones' jobs in the same write.
    async fn insert_many_in(
        &self,
        tx: &mut Transaction<'static, D>,
        events: Vec<(Event, bool)>,
    ) -> Result<Vec<Inserted>, WebhookError> {
        let mut out = Vec::with_capacity(events.len());
        let mut pushed = Vec::new();
        for (event, push) in events {
            let i = Self::insert_in(tx, event, false).await?;
            if push && !i.duplicate {
                pushed.push((i.event.tenant.clone(), i.event.id.clone()));
            }
            out.push(i);
        }
        self.jobs_make(tx, &pushed).await?;
        Ok(out)
    }

    /// The delivery jobs of `events` and their first log rows, in multi-row inserts in `tx`
    /// (none for an event a live job holds the unique key of).
    async fn jobs_make(
        &self,
        tx: &mut Transaction<'static, D>,
        events: &[(TenantId, EventId)],
    ) -> Result<(), WebhookError> {
        if events.is_empty() {
            return Ok(());
        }
        let now = self.now_ms();
        let (mut jobs, mut logs) = (Vec::new(), Vec::new());
        for (tenant, id) in events {
            let mut job = delivery_job(id).into_job(tenant, JobId::generate(now), now);
            logs.push(palisade_jobs::transition::enqueued(&mut job));
            jobs.push(job);
        }
        let made = Self::job_insert_many(tx, &jobs).await?;
        let logged: Vec<_> = jobs
            .iter()
            .zip(&logs)
            .filter(|(j, _)| made.contains(j.id.as_str()))
            .map(|(j, e)| (j, std::slice::from_ref(e)))
            .collect();
        Self::job_log_many(tx, &logged).await?;
        Ok(())
    }

    /// [`InboxStore::event_dispatch`] in `tx`: the marked events (PostgreSQL: locked, skipping
    /// those another dispatch holds), their jobs and event-log rows in multi-row inserts, their
    /// marks cleared.
    async fn dispatch_in(
        &self,
        tx: &mut Transaction<'static, D>,
        limit: u32,
    ) -> Result<u64, WebhookError> {
        let lock = if D::SINGLE_WRITER {
            ""
        } else {
            " FOR UPDATE SKIP LOCKED"
        };
        let sql = format!(
            "SELECT seq, tenant_id, id FROM webhook_events WHERE dispatch
             ORDER BY seq LIMIT $1{lock}"
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(&mut **tx)
            .await
            .map_err(D::map_err)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let (mut seqs, mut events) = (Vec::new(), Vec::new());
        for r in &rows {
            let tenant = TenantId::parse(&Self::col::<String>(r, "tenant_id")?)
                .map_err(|_| corrupt("tenant_id"))?;
            let id = EventId::parse(&Self::col::<String>(r, "id")?).map_err(|_| corrupt("id"))?;
            events.push((tenant, id));
            seqs.push(Self::col::<i64>(r, "seq")?);
        }
        self.jobs_make(tx, &events).await?;
        let sql = format!(
            "UPDATE webhook_events SET dispatch = FALSE WHERE seq IN ({})",
            (1..=seqs.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = sqlx::query(&sql);
        for seq in &seqs {
            q = q.bind(*seq);
        }
        q.execute(&mut **tx).await.map_err(D::map_err)?;
        Ok(seqs.len() as u64)
    }

    async fn ack_in(
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        id: &EventId,
        now_ms: i64,
    ) -> Result<Event, WebhookError> {
        let mut e = Self::event_in(tx, tenant, id)
            .await?
            .ok_or(WebhookError::NotFound)?;
        if e.status == EventStatus::Pending {
            e.status = EventStatus::Delivered;
            e.delivered_at_ms = Some(now_ms);
            e.claim_token = None;
            e.claimed_until_ms = None;
            Self::event_write(tx, &e).await?;
        }
        Ok(e)
    }
}

#[async_trait::async_trait]
impl<D, B> InboxStore for SqlStore<D, B>
where
    D: JobDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    bool: Value<D>,
    String: Value<D>,
    Vec<u8>: Value<D>,
    Option<String>: Value<D>,
    Option<i64>: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    async fn source_create(&self, source: &Source) -> Result<Source, WebhookError> {
        match self.source_write(SOURCE_INSERT, source).await? {
            1 => Ok(source.clone()),
            _ => Err(WebhookError::SourceExists),
        }
    }

    async fn source_get(
        &self,
        tenant: &TenantId,
        name: &SourceName,
    ) -> Result<Option<Source>, WebhookError> {
        let sql =
            format!("SELECT {SOURCE_COLS} FROM webhook_sources WHERE tenant_id = $1 AND name = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(row
            .as_ref()
            .map(Self::source_row)
            .transpose()?
            .map(|(s, _)| s))
    }

    async fn source_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Source>, WebhookError> {
        let sql = format!(
            "SELECT {SOURCE_COLS} FROM webhook_sources WHERE tenant_id = $1 AND name > $2
             ORDER BY name LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(page.after.clone().unwrap_or_default())
            .bind(i64::from(page.limit) + 1)
            .fetch_all(self.pool())
            .await
            .map_err(D::map_err)?;
        let rows = rows
            .iter()
            .map(|r| Self::source_row(r).map(|(s, _)| s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, page.limit, |s| s.name.to_string()))
    }

    async fn source_update(&self, source: &Source) -> Result<Source, WebhookError> {
        if self.source_write(SOURCE_UPDATE, source).await? == 1 {
            let mut s = source.clone();
            s.version += 1;
            return Ok(s);
        }
        match self.source_get(&source.tenant, &source.name).await? {
            Some(_) => Err(WebhookError::SourceChanged),
            None => Err(WebhookError::NotFound),
        }
    }

    async fn source_delete(
        &self,
        tenant: &TenantId,
        name: &SourceName,
    ) -> Result<(), WebhookError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let r = Self::delete_in(&mut tx, tenant, name).await;
        Self::end(tx, r).await
    }

    async fn event_insert(&self, event: Event, push: bool) -> Result<Inserted, WebhookError> {
        // one autocommit statement (and a read for a duplicate); a pushed event's job comes
        // with the dispatch
        self.insert_alone(event, push).await
    }

    async fn event_dispatch(&self, limit: u32) -> Result<u64, WebhookError> {
        // a read first: an idle dispatch takes no write lock (SQLite's one writer is ingress's)
        let marked = sqlx::query("SELECT seq FROM webhook_events WHERE dispatch LIMIT 1")
            .fetch_optional(self.pool())
            .await
            .map_err(D::map_err)?;
        if marked.is_none() {
            return Ok(0);
        }
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let r = self.dispatch_in(&mut tx, limit).await;
        Self::end(tx, r).await
    }

    fn event_insert_grouped(&self) -> bool {
        D::SINGLE_WRITER
    }

    async fn event_insert_many(
        &self,
        events: Vec<(Event, bool)>,
    ) -> Result<Vec<Inserted>, WebhookError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let r = self.insert_many_in(&mut tx, events).await;
        Self::end(tx, r).await
    }

    async fn event_get(
        &self,
        tenant: &TenantId,
        id: &EventId,
    ) -> Result<Option<Event>, WebhookError> {
        let sql =
            format!("SELECT {EVENT_COLS} FROM webhook_events WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(row.as_ref().map(Self::event_row).transpose()?)
    }

    async fn event_list(
        &self,
        tenant: &TenantId,
        req: &EventList,
    ) -> Result<Page<Event>, WebhookError> {
        let sql = format!(
            "SELECT {EVENT_COLS} FROM webhook_events WHERE tenant_id = $1 AND seq < $2
             AND ($3 IS NULL OR source = $3) AND ($4 IS NULL OR status = $4)
             AND ($5 IS NULL OR received_at_ms >= $5) AND ($6 IS NULL OR received_at_ms < $6)
             ORDER BY seq DESC LIMIT $7"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(req.after_seq())
            .bind(req.source.as_ref().map(|s| s.to_string()))
            .bind(req.status.map(|s| s.as_str().to_owned()))
            .bind(req.since_ms)
            .bind(req.until_ms)
            .bind(i64::from(req.page.limit) + 1)
            .fetch_all(self.pool())
            .await
            .map_err(D::map_err)?;
        let rows = rows
            .iter()
            .map(Self::event_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, req.page.limit, |e| e.seq.to_string()))
    }

    async fn event_claim(
        &self,
        tenant: &TenantId,
        req: &EventClaim,
    ) -> Result<Claim, WebhookError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let r = self.claim_in(&mut tx, tenant, req).await;
        Self::end(tx, r).await
    }

    async fn event_settle(
        &self,
        tenant: &TenantId,
        req: &EventSettle,
    ) -> Result<Option<Event>, WebhookError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let r = self.settle_in(&mut tx, tenant, req).await;
        Self::end(tx, r).await
    }

    async fn event_replay(
        &self,
        tenant: &TenantId,
        ids: &[EventId],
        now_ms: i64,
    ) -> Result<Vec<Event>, WebhookError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let r = self.replay_in(&mut tx, tenant, ids, now_ms).await;
        Self::end(tx, r).await
    }

    async fn event_ack(
        &self,
        tenant: &TenantId,
        id: &EventId,
        now_ms: i64,
    ) -> Result<Event, WebhookError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let r = Self::ack_in(&mut tx, tenant, id, now_ms).await;
        Self::end(tx, r).await
    }

    async fn event_stats(
        &self,
        tenant: &TenantId,
        source: Option<&SourceName>,
    ) -> Result<InboxStats, WebhookError> {
        let rows = sqlx::query(
            "SELECT status, count(*) AS n, min(received_at_ms) AS oldest FROM webhook_events
             WHERE tenant_id = $1 AND ($2 IS NULL OR source = $2) GROUP BY status",
        )
        .bind(tenant.as_str())
        .bind(source.map(|s| s.to_string()))
        .fetch_all(self.pool())
        .await
        .map_err(D::map_err)?;
        let mut s = InboxStats::default();
        for r in &rows {
            let status: String = Self::col(r, "status")?;
            let n: i64 = Self::col(r, "n")?;
            let n = n.max(0) as u64;
            match EventStatus::parse(&status).map_err(|_| corrupt("status"))? {
                EventStatus::Pending => {
                    s.pending = n;
                    s.oldest_pending_at_ms = Self::col(r, "oldest")?;
                }
                EventStatus::Delivered => s.delivered = n,
                EventStatus::Failed => s.failed = n,
            }
        }
        Ok(s)
    }

    async fn event_resume(&self, req: &EventResume) -> Result<u64, WebhookError> {
        let rows = sqlx::query(
            "SELECT e.tenant_id, e.id, e.source FROM webhook_events e JOIN webhook_sources s
               ON s.tenant_id = e.tenant_id AND s.name = e.source
             WHERE e.status = 'pending' AND e.next_attempt_at_ms <= $1
               AND (e.claimed_until_ms IS NULL OR e.claimed_until_ms <= $2)
               AND s.target IS NOT NULL
             ORDER BY e.seq LIMIT $3",
        )
        .bind(req.now_ms - req.grace_ms)
        .bind(req.now_ms)
        .bind(i64::from(req.limit))
        .fetch_all(self.pool())
        .await
        .map_err(D::map_err)?;
        let mut due = Vec::with_capacity(rows.len());
        let mut sources: std::collections::HashMap<(String, String), Option<Source>> =
            Default::default();
        for r in &rows {
            let (t, id, src): (String, String, String) = (
                Self::col(r, "tenant_id")?,
                Self::col(r, "id")?,
                Self::col(r, "source")?,
            );
            let tenant = TenantId::parse(&t).map_err(|_| corrupt("tenant_id"))?;
            let name = SourceName::parse(&src).map_err(|_| corrupt("source"))?;
            let key = (t, src);
            if !sources.contains_key(&key) {
                let s = self.source_get(&tenant, &name).await?;
                sources.insert(key.clone(), s);
            }
            let Some(source) = sources[&key].clone() else {
                continue;
            };
            let id = EventId::parse(&id).map_err(|_| corrupt("id"))?;
            let Some(event) = self.event_get(&tenant, &id).await? else {
                continue;
            };
            due.push((event, source));
        }
        let mut made = 0;
        for e in resume_pick(&due) {
            let mut tx = self.begin(D::BEGIN_WRITE).await?;
            let r = self.event_job(&mut tx, &e.tenant, &e.id).await;
            made += u64::from(Self::end(tx, r).await?);
        }
        Ok(made)
    }

    async fn event_prune(&self, before_ms: i64, limit: u32) -> Result<u64, WebhookError> {
        let done = sqlx::query(
            "DELETE FROM webhook_events WHERE seq IN (SELECT seq FROM webhook_events
             WHERE status <> 'pending' AND received_at_ms < $1 LIMIT $2)",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .execute(self.pool())
        .await
        .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }
}
