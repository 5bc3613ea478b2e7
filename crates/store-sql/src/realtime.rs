//! Realtime: topic history (a per-topic counter row, an event table pruned on publish) and
//! stream-token revocations.
//!
//! A publish is one write transaction ([`Dialect::BEGIN_WRITE`]): the counter upsert takes the
//! next id (on PostgreSQL it row-locks the topic until commit, on SQLite the transaction holds
//! the one write lock), so concurrent publishes get consecutive ids; the event is inserted and
//! the topic pruned in the same step. A read runs in one snapshot ([`Dialect::BEGIN_SNAPSHOT`]),
//! so the latest id and the kept events agree. Time is the store clock, passed as a bind.

use crate::{Dialect, SqlStore, Value};
use async_trait::async_trait;
use palisade_core::{StoreError, TenantId};
use palisade_realtime::{
    Claims, Event, HistoryBounds, RealtimeStore, Revocation, TopicName, TopicRead,
};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

const NEXT_SEQ: &str = "
INSERT INTO realtime_topics (tenant_id, topic, last_seq) VALUES ($1, $2, 1)
ON CONFLICT (tenant_id, topic) DO UPDATE SET last_seq = realtime_topics.last_seq + 1
RETURNING last_seq";

const INSERT_EVENT: &str =
    "INSERT INTO realtime_events (tenant_id, topic, seq, at_ms, data) VALUES ($1, $2, $3, $4, $5)";

const PRUNE_TOPIC: &str = "
DELETE FROM realtime_events
WHERE tenant_id = $1 AND topic = $2 AND (seq <= $3 OR at_ms < $4)";

const LAST_SEQ: &str = "SELECT last_seq FROM realtime_topics WHERE tenant_id = $1 AND topic = $2";

const READ: &str = "
SELECT seq, at_ms, data FROM realtime_events
WHERE tenant_id = $1 AND topic = $2 AND seq > $3 AND at_ms >= $4
ORDER BY seq LIMIT $5";

const DELETE_EVENTS: &str = "DELETE FROM realtime_events WHERE tenant_id = $1 AND topic = $2";

const REVOKE: &str = "
INSERT INTO realtime_revocations (tenant_id, kind, subject, revoked_at_ms, keep_until_ms)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, kind, subject) DO UPDATE SET
    revoked_at_ms = CASE WHEN excluded.revoked_at_ms > realtime_revocations.revoked_at_ms
                         THEN excluded.revoked_at_ms ELSE realtime_revocations.revoked_at_ms END,
    keep_until_ms = CASE WHEN excluded.keep_until_ms > realtime_revocations.keep_until_ms
                         THEN excluded.keep_until_ms ELSE realtime_revocations.keep_until_ms END";

const REVOKED: &str = "
SELECT COUNT(*) AS n FROM realtime_revocations
WHERE tenant_id = $1
  AND ((kind = 'token' AND subject = $2)
       OR (kind = 'key' AND subject = $5)
       OR (kind = 'principal' AND subject = $3 AND revoked_at_ms >= $4))";

const PRUNE_REVOCATIONS: &str = "DELETE FROM realtime_revocations WHERE keep_until_ms <= $1";

#[async_trait]
impl<D, B> RealtimeStore for SqlStore<D, B>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    String: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    async fn topic_publish(
        &self,
        tenant: &TenantId,
        topic: &TopicName,
        data: &str,
        bounds: HistoryBounds,
    ) -> Result<Event, StoreError> {
        let now = self.now_ms();
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let result = async {
            let row = sqlx::query(NEXT_SEQ)
                .bind(tenant.as_str())
                .bind(topic.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(D::map_err)?;
            let seq: i64 = Self::col(&row, "last_seq")?;
            sqlx::query(INSERT_EVENT)
                .bind(tenant.as_str())
                .bind(topic.as_str())
                .bind(seq)
                .bind(now)
                .bind(data)
                .execute(&mut *tx)
                .await
                .map_err(D::map_err)?;
            sqlx::query(PRUNE_TOPIC)
                .bind(tenant.as_str())
                .bind(topic.as_str())
                .bind(seq - bounds.max_events as i64)
                .bind(bounds.oldest_kept_ms(now))
                .execute(&mut *tx)
                .await
                .map_err(D::map_err)?;
            Ok::<_, StoreError>(Event {
                seq: seq as u64,
                at_ms: now,
                data: data.to_owned(),
            })
        }
        .await;
        Self::end(tx, result).await
    }

    async fn topic_read(
        &self,
        tenant: &TenantId,
        topic: &TopicName,
        after: u64,
        limit: u32,
        bounds: HistoryBounds,
    ) -> Result<TopicRead, StoreError> {
        let oldest = bounds.oldest_kept_ms(self.now_ms());
        let mut tx = self.begin(D::BEGIN_SNAPSHOT).await?;
        let result = async {
            let row = sqlx::query(LAST_SEQ)
                .bind(tenant.as_str())
                .bind(topic.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(D::map_err)?;
            let last: Option<i64> = row.map(|r| Self::col(&r, "last_seq")).transpose()?;
            let rows = sqlx::query(READ)
                .bind(tenant.as_str())
                .bind(topic.as_str())
                .bind(after.min(i64::MAX as u64) as i64)
                .bind(oldest)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(D::map_err)?;
            let events = rows
                .iter()
                .map(|r| {
                    let seq: i64 = Self::col(r, "seq")?;
                    Ok(Event {
                        seq: seq as u64,
                        at_ms: Self::col(r, "at_ms")?,
                        data: Self::col(r, "data")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok::<_, StoreError>(TopicRead::new(after, events, last.unwrap_or(0) as u64))
        }
        .await;
        Self::end(tx, result).await
    }

    async fn topic_delete(&self, tenant: &TenantId, topic: &TopicName) -> Result<bool, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let result = async {
            let row = sqlx::query(LAST_SEQ)
                .bind(tenant.as_str())
                .bind(topic.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(D::map_err)?;
            sqlx::query(DELETE_EVENTS)
                .bind(tenant.as_str())
                .bind(topic.as_str())
                .execute(&mut *tx)
                .await
                .map_err(D::map_err)?;
            Ok::<_, StoreError>(row.is_some())
        }
        .await;
        Self::end(tx, result).await
    }

    async fn revocation_add(&self, rev: &Revocation, keep_until_ms: i64) -> Result<(), StoreError> {
        let (kind, subject, at) = match rev {
            Revocation::Token { token_id, .. } => ("token", token_id.as_str(), self.now_ms()),
            Revocation::Key { key_id, .. } => ("key", key_id.as_str(), self.now_ms()),
            Revocation::Principal {
                principal, at_ms, ..
            } => ("principal", principal.as_str(), *at_ms),
        };
        sqlx::query(REVOKE)
            .bind(rev.tenant().as_str())
            .bind(kind)
            .bind(subject)
            .bind(at)
            .bind(keep_until_ms)
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(())
    }

    async fn revocation_check(&self, c: &Claims) -> Result<bool, StoreError> {
        // Key ids are never empty: a token minted without one matches no key revocation.
        let row = sqlx::query(REVOKED)
            .bind(c.tenant.as_str())
            .bind(c.token_id.as_str())
            .bind(c.principal.as_str())
            .bind(c.iat_ms)
            .bind(c.key_id.as_deref().unwrap_or(""))
            .fetch_one(self.pool())
            .await
            .map_err(D::map_err)?;
        let n: i64 = Self::col(&row, "n")?;
        Ok(n > 0)
    }

    async fn revocation_prune(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(PRUNE_REVOCATIONS)
            .bind(self.now_ms())
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(D::rows_affected(&done))
    }

    fn realtime_now_ms(&self) -> i64 {
        self.now_ms()
    }
}
