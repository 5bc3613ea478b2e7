//! The change feed ([`ChangeFeed`]) on SQL: recorded inside the writer's transaction, read by version.

use crate::{Dialect, SqlStore, Value};
use async_trait::async_trait;
use palisade_core::{Change, ChangeFeed, ChangeRecord, StoreError, TenantId};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Postgres, Sqlite, Transaction, Type};
use std::future::Future;

/// What differs per database in the change feed: how a version is taken and the head read.
pub trait ChangeDialect: Dialect {
    /// Answers the newest version (0 when none).
    const CHANGE_HEAD: &'static str;

    /// Appends `rec` to the feed in `tx` (opened with [`Dialect::BEGIN_WRITE`]); its version.
    /// Writers of the feed are serialised from here to commit, so versions commit in order.
    fn change_record(
        tx: &mut Transaction<'static, Self>,
        rec: ChangeRecord<'_>,
        now_ms: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

/// SQLite: `BEGIN IMMEDIATE` serialises the writers; the version is the `AUTOINCREMENT` id
/// (never reused, even after pruning).
impl ChangeDialect for Sqlite {
    const CHANGE_HEAD: &'static str =
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)";

    async fn change_record(
        tx: &mut Transaction<'static, Self>,
        rec: ChangeRecord<'_>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO changes (topic, tenant_id, subject, at_ms) VALUES ($1, $2, $3, $4)
             RETURNING version",
        )
        .bind(rec.topic)
        .bind(rec.tenant.as_str())
        .bind(rec.subject)
        .bind(now_ms)
        .fetch_one(&mut **tx)
        .await
        .map_err(Self::map_err)
    }
}

/// PostgreSQL: writers take the one `change_version` row lock first and hold it to commit.
impl ChangeDialect for Postgres {
    const CHANGE_HEAD: &'static str = "SELECT v FROM change_version";

    async fn change_record(
        tx: &mut Transaction<'static, Self>,
        rec: ChangeRecord<'_>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let v: i64 = sqlx::query_scalar("UPDATE change_version SET v = v + 1 RETURNING v")
            .fetch_one(&mut **tx)
            .await
            .map_err(Self::map_err)?;
        sqlx::query(
            "INSERT INTO changes (version, topic, tenant_id, subject, at_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(v)
        .bind(rec.topic)
        .bind(rec.tenant.as_str())
        .bind(rec.subject)
        .bind(now_ms)
        .execute(&mut **tx)
        .await
        .map_err(Self::map_err)?;
        Ok(v)
    }
}

#[async_trait]
impl<D, B> ChangeFeed for SqlStore<D, B>
where
    D: ChangeDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    usize: ColumnIndex<D::Row>,
    i64: Value<D>,
    String: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    /// `ChangeFeed::change_head`.
    async fn change_head(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(D::CHANGE_HEAD)
            .fetch_one(self.pool())
            .await
            .map_err(D::map_err)
    }

    /// `ChangeFeed::change_read`: by version, after the cursor.
    async fn change_read(&self, after: i64, limit: u32) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, topic, tenant_id, subject FROM changes
             WHERE version > $1 ORDER BY version LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(D::map_err)?;
        rows.iter().map(Self::change_row).collect()
    }

    /// `ChangeFeed::change_prune`: one statement; the newest change is kept.
    async fn change_prune(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        let r = sqlx::query(
            "DELETE FROM changes WHERE version IN (SELECT version FROM changes
             WHERE at_ms < $1 AND version < (SELECT max(version) FROM changes)
             ORDER BY version LIMIT $2)",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .execute(self.pool())
        .await
        .map_err(D::map_err)?;
        Ok(D::rows_affected(&r))
    }
}

impl<D, B> SqlStore<D, B>
where
    D: ChangeDialect,
    for<'a> &'a str: ColumnIndex<D::Row>,
    i64: Value<D>,
    String: Value<D>,
{
    fn change_row(r: &D::Row) -> Result<Change, StoreError> {
        let tenant: String = Self::col(r, "tenant_id")?;
        Ok(Change {
            version: Self::col(r, "version")?,
            topic: Self::col(r, "topic")?,
            tenant: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            subject: Self::col(r, "subject")?,
        })
    }
}
