//! Rate-limit config: policies, overrides, their change feed and snapshot.
//!
//! Each config write is one write transaction that first appends the change to the feed
//! ([`RateLimitConfigDialect::config_change_record`], which serialises config writers until commit), then
//! checks the per-tenant cap, then writes the row: concurrent creates cannot both pass the cap.
//! The decisions themselves differ per database and stay in the store crates.

use crate::{RateLimitConfigDialect, SqlStore, Value};
use async_trait::async_trait;
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use palisade_ratelimit::RateLimitPolicyStore;
use palisade_ratelimit::{
    ChangeKind, ConfigChange, ConfigChanges, ConfigSnapshot, OverrideRecord, Policy, PolicyRecord,
    RateLimitOverride,
};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Transaction, Type};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

const POLICY_CAP: &str = "SELECT EXISTS (SELECT 1 FROM ratelimit_policies
      WHERE tenant_id = $1 AND name = $2)
    OR (SELECT count(*) FROM (SELECT 1 FROM ratelimit_policies WHERE tenant_id = $1 LIMIT $3) x) < $3";

const OVERRIDE_CAP: &str = "SELECT EXISTS (SELECT 1 FROM ratelimit_overrides
      WHERE tenant_id = $1 AND policy = $2 AND key = $3)
    OR (SELECT count(*) FROM (SELECT 1 FROM ratelimit_overrides WHERE tenant_id = $1 LIMIT $4) x) < $4";

impl<D, B> SqlStore<D, B>
where
    D: RateLimitConfigDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    usize: ColumnIndex<D::Row>,
    i64: Value<D>,
    bool: Value<D>,
    String: Value<D>,
{
    fn policy_row(r: &D::Row) -> Result<PolicyRecord, StoreError> {
        Ok(PolicyRecord {
            policy: serde_json::from_str(&Self::col::<String>(r, "policy")?).map_err(corrupt)?,
            version: Self::col(r, "version")?,
            updated_at_ms: Self::col(r, "updated_at_ms")?,
        })
    }

    fn override_row(r: &D::Row) -> Result<OverrideRecord, StoreError> {
        Ok(OverrideRecord {
            rate_override: serde_json::from_str(&Self::col::<String>(r, "body")?)
                .map_err(corrupt)?,
            version: Self::col(r, "version")?,
            updated_at_ms: Self::col(r, "updated_at_ms")?,
        })
    }

    /// Appends `change` to the feed in `tx`; its version.
    async fn record_change(
        tx: &mut Transaction<'static, D>,
        tenant: &TenantId,
        change: &ChangeKind,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let body = serde_json::to_string(change).map_err(corrupt)?;
        D::config_change_record(tx, tenant.as_str(), &body, now_ms).await
    }

    /// Refuses a create past the tenant's cap: `sql` answers true when the row exists or the
    /// tenant has fewer than `max` (binds: tenant, then `ids`, then `max`). Runs after
    /// [`Self::record_change`] in the same transaction, so no other config write runs meanwhile.
    async fn within_cap(
        tx: &mut Transaction<'static, D>,
        sql: &str,
        tenant: &TenantId,
        ids: &[&str],
        what: &'static str,
        max: u32,
    ) -> Result<(), StoreError> {
        let mut q = sqlx::query_scalar::<_, bool>(sql).bind(tenant.as_str());
        for id in ids {
            q = q.bind(*id);
        }
        let ok = q
            .bind(i64::from(max))
            .fetch_one(&mut **tx)
            .await
            .map_err(D::map_err)?;
        if ok {
            Ok(())
        } else {
            Err(StoreError::LimitReached {
                what,
                limit: u64::from(max),
            })
        }
    }

    /// (tenant id, JSON document) rows of a config snapshot, read in its transaction.
    async fn snapshot_rows<T: serde::de::DeserializeOwned>(
        tx: &mut Transaction<'static, D>,
        sql: &str,
    ) -> Result<Vec<(TenantId, T)>, StoreError> {
        let rows = sqlx::query(sql)
            .fetch_all(&mut **tx)
            .await
            .map_err(D::map_err)?;
        rows.iter()
            .map(|r| {
                ConfigSnapshot::entry(
                    &Self::col::<String>(r, "tenant_id")?,
                    &Self::col::<String>(r, "doc")?,
                )
            })
            .collect()
    }
}

#[async_trait]
impl<D, B> RateLimitPolicyStore for SqlStore<D, B>
where
    D: RateLimitConfigDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    usize: ColumnIndex<D::Row>,
    i64: Value<D>,
    bool: Value<D>,
    String: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    /// `RateLimitPolicyStore::ratelimit_policy_put`: creates (within `max` per tenant) or replaces.
    async fn ratelimit_policy_put(
        &self,
        tenant: &TenantId,
        policy: &Policy,
        now_ms: i64,
        max: u32,
    ) -> Result<PolicyRecord, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let change = ChangeKind::PolicyPut {
            policy: policy.clone(),
        };
        let version = Self::record_change(&mut tx, tenant, &change, now_ms).await?;
        let ids = [policy.name.as_str()];
        Self::within_cap(&mut tx, POLICY_CAP, tenant, &ids, "policies", max).await?;
        sqlx::query(
            "INSERT INTO ratelimit_policies (tenant_id, name, policy, version, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, name) DO UPDATE SET
             policy = excluded.policy, version = excluded.version, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(tenant.as_str())
        .bind(policy.name.as_str())
        .bind(serde_json::to_string(policy).map_err(corrupt)?)
        .bind(version)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(D::map_err)?;
        tx.commit().await.map_err(D::map_err)?;
        Ok(PolicyRecord {
            policy: policy.clone(),
            version,
            updated_at_ms: now_ms,
        })
    }

    /// `RateLimitPolicyStore::ratelimit_policy_get`.
    async fn ratelimit_policy_get(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<PolicyRecord>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM ratelimit_policies WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .fetch_optional(self.pool())
                .await
                .map_err(D::map_err)?;
        row.as_ref().map(Self::policy_row).transpose()
    }

    /// `RateLimitPolicyStore::ratelimit_policy_list`: by name, after the page cursor.
    async fn ratelimit_policy_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<PolicyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM ratelimit_policies WHERE tenant_id = $1 AND name > $2
             ORDER BY name LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(page.after.as_deref().unwrap_or(""))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.pool())
        .await
        .map_err(D::map_err)?;
        let items = rows
            .iter()
            .map(Self::policy_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |r| {
            r.policy.name.clone()
        }))
    }

    /// `RateLimitPolicyStore::ratelimit_policy_delete`: a deletion is recorded in the feed.
    async fn ratelimit_policy_delete(
        &self,
        tenant: &TenantId,
        name: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let done = sqlx::query("DELETE FROM ratelimit_policies WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(D::map_err)?;
        let deleted = D::rows_affected(&done) > 0;
        if deleted {
            let change = ChangeKind::PolicyDeleted {
                name: name.to_owned(),
            };
            Self::record_change(&mut tx, tenant, &change, now_ms).await?;
        }
        tx.commit().await.map_err(D::map_err)?;
        Ok(deleted)
    }

    /// `RateLimitPolicyStore::ratelimit_override_put`: creates (within `max` per tenant) or replaces.
    async fn ratelimit_override_put(
        &self,
        tenant: &TenantId,
        o: &RateLimitOverride,
        now_ms: i64,
        max: u32,
    ) -> Result<OverrideRecord, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let change = ChangeKind::OverridePut {
            rate_override: o.clone(),
        };
        let version = Self::record_change(&mut tx, tenant, &change, now_ms).await?;
        let ids = [o.policy.as_str(), o.key.as_deref().unwrap_or("")];
        Self::within_cap(&mut tx, OVERRIDE_CAP, tenant, &ids, "overrides", max).await?;
        sqlx::query(
            "INSERT INTO ratelimit_overrides (tenant_id, policy, key, body, version, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, policy, key) DO UPDATE SET
             body = excluded.body, version = excluded.version, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(tenant.as_str())
        .bind(o.policy.as_str())
        .bind(o.key.as_deref().unwrap_or(""))
        .bind(serde_json::to_string(o).map_err(corrupt)?)
        .bind(version)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(D::map_err)?;
        tx.commit().await.map_err(D::map_err)?;
        Ok(OverrideRecord {
            rate_override: o.clone(),
            version,
            updated_at_ms: now_ms,
        })
    }

    /// `RateLimitPolicyStore::ratelimit_override_list`: by (policy, key), after the page cursor.
    async fn ratelimit_override_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<OverrideRecord>, StoreError> {
        let (p, k): (String, String) = page
            .after
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let rows = sqlx::query(
            "SELECT * FROM ratelimit_overrides WHERE tenant_id = $1 AND (policy, key) > ($2, $3)
             ORDER BY policy, key LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(p.as_str())
        .bind(k.as_str())
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.pool())
        .await
        .map_err(D::map_err)?;
        let items = rows
            .iter()
            .map(Self::override_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |r| {
            let o = &r.rate_override;
            serde_json::to_string(&(&o.policy, o.key.as_deref().unwrap_or(""))).unwrap_or_default()
        }))
    }

    /// `RateLimitPolicyStore::ratelimit_override_delete`: a deletion is recorded in the feed.
    async fn ratelimit_override_delete(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let done = sqlx::query(
            "DELETE FROM ratelimit_overrides WHERE tenant_id = $1 AND policy = $2 AND key = $3",
        )
        .bind(tenant.as_str())
        .bind(policy)
        .bind(key.unwrap_or(""))
        .execute(&mut *tx)
        .await
        .map_err(D::map_err)?;
        let deleted = D::rows_affected(&done) > 0;
        if deleted {
            let change = ChangeKind::OverrideDeleted {
                policy: policy.to_owned(),
                key: key.map(str::to_owned),
            };
            Self::record_change(&mut tx, tenant, &change, now_ms).await?;
        }
        tx.commit().await.map_err(D::map_err)?;
        Ok(deleted)
    }

    /// `RateLimitPolicyStore::ratelimit_feed_changes`: up to `limit` changes after version `after`.
    async fn ratelimit_feed_changes(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<ConfigChanges, StoreError> {
        let rows = sqlx::query(
            "SELECT version, tenant_id, change FROM ratelimit_changes WHERE version > $1
             ORDER BY version LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(D::map_err)?;
        let changes = rows
            .iter()
            .map(|r| {
                Ok(ConfigChange {
                    tenant: TenantId::parse(&Self::col::<String>(r, "tenant_id")?)
                        .map_err(corrupt)?,
                    version: Self::col(r, "version")?,
                    change: serde_json::from_str(&Self::col::<String>(r, "change")?)
                        .map_err(corrupt)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        // Read after the changes (a later snapshot): pruning raises it in the transaction that
        // deletes, so a value at or below `after` proves none of the changes above was missing.
        let pruned_through = sqlx::query_scalar("SELECT pruned_through FROM ratelimit_feed")
            .fetch_one(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(ConfigChanges {
            changes,
            pruned_through,
        })
    }

    /// `RateLimitPolicyStore::ratelimit_feed_snapshot`: every policy and override and the version they
    /// reflect ([`RateLimitConfigDialect::CONFIG_VERSION`]), read in one snapshot
    /// ([`Dialect::BEGIN_SNAPSHOT`]).
    async fn ratelimit_feed_snapshot(&self) -> Result<ConfigSnapshot, StoreError> {
        let mut tx = self.begin(D::BEGIN_SNAPSHOT).await?;
        let version: i64 = sqlx::query_scalar(D::CONFIG_VERSION)
            .fetch_one(&mut *tx)
            .await
            .map_err(D::map_err)?;
        let policies = Self::snapshot_rows(
            &mut tx,
            "SELECT tenant_id, policy AS doc FROM ratelimit_policies",
        )
        .await?;
        let overrides = Self::snapshot_rows(
            &mut tx,
            "SELECT tenant_id, body AS doc FROM ratelimit_overrides",
        )
        .await?;
        tx.commit().await.map_err(D::map_err)?;
        Ok(ConfigSnapshot {
            version,
            policies,
            overrides,
        })
    }

    /// `RateLimitPolicyStore::ratelimit_feed_prune_changes`: [`RateLimitConfigDialect::config_prune`].
    async fn ratelimit_feed_prune_changes(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        D::config_prune(self.pool(), before_ms, limit).await
    }
}
