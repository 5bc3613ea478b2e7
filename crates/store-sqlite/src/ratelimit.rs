//! SQLite implementation of the ratelimit stores.
//!
//! A decision is one `BEGIN IMMEDIATE` transaction: SQLite has one writer, so reading the
//! states, deciding them with [`decide_all`] and writing them back is atomic. Expired rows are
//! deleted by `ratelimit_purge_expired` (index `ratelimit_state_expiry`).
//!
//! Config writes are `BEGIN IMMEDIATE` transactions too, so a per-tenant cap is counted and
//! the row inserted under SQLite's one write lock: concurrent creates cannot both pass it.
//! Pruning deletes old changes and raises `ratelimit_feed.pruned_through` in one transaction
//! (migration 0005).

use crate::{map_err, SqliteStore};
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use palisade_ratelimit::algorithm::AlgoState;
use palisade_ratelimit::{
    decide_all, ChangeKind, Check, ConfigChange, ConfigChanges, ConfigSnapshot, Decision, KeyState,
    OverrideRecord, Policy, PolicyRecord, RateLimitStore, RateOverride, RatePolicyStore,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

async fn load(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    c: &Check,
) -> Result<Option<KeyState>, StoreError> {
    let row = sqlx::query(
        "SELECT state, blocked_until_ms FROM ratelimit_state
         WHERE tenant_id = ? AND policy = ? AND key = ?",
    )
    .bind(tenant.as_str())
    .bind(&c.policy)
    .bind(&c.key)
    .fetch_optional(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(row.map(|r| KeyState {
        algo: r
            .get::<Option<String>, _>("state")
            .and_then(|s| AlgoState::decode(&s)),
        blocked_until_ms: r.get("blocked_until_ms"),
    }))
}

async fn save(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    c: &Check,
    s: &KeyState,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ratelimit_state (tenant_id, policy, key, state, blocked_until_ms, expires_at_ms)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, policy, key) DO UPDATE SET state = excluded.state,
           blocked_until_ms = excluded.blocked_until_ms, expires_at_ms = excluded.expires_at_ms",
    )
    .bind(tenant.as_str())
    .bind(&c.policy)
    .bind(&c.key)
    .bind(s.algo.map(|a| a.encode()))
    .bind(s.blocked_until_ms)
    .bind(s.expires_at_ms(&c.limit))
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[async_trait::async_trait]
impl RateLimitStore for SqliteStore {
    async fn ratelimit_check(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        let mut tx = self.begin_immediate().await?;
        let now = self.now_ms();
        let mut states = Vec::with_capacity(checks.len());
        for c in checks {
            states.push(load(&mut tx, tenant, c).await?);
        }
        let (decisions, writes) = decide_all(checks, &states, now);
        for (c, w) in checks.iter().zip(&writes) {
            if let Some(s) = w {
                save(&mut tx, tenant, c, s).await?;
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(decisions)
    }

    async fn ratelimit_reset(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "DELETE FROM ratelimit_state WHERE tenant_id = ? AND policy = ? AND key = ?",
        )
        .bind(tenant.as_str())
        .bind(policy)
        .bind(key)
        .execute(self.pool())
        .await
        .map_err(map_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn ratelimit_purge_expired(&self, limit: u32) -> Result<u64, StoreError> {
        let n = sqlx::query(
            "DELETE FROM ratelimit_state WHERE (tenant_id, policy, key) IN
             (SELECT tenant_id, policy, key FROM ratelimit_state WHERE expires_at_ms <= ? LIMIT ?)",
        )
        .bind(self.now_ms())
        .bind(i64::from(limit))
        .execute(self.pool())
        .await
        .map_err(map_err)?
        .rows_affected();
        Ok(n)
    }
}

async fn record_change(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    change: &ChangeKind,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let body = serde_json::to_string(change).map_err(corrupt)?;
    let v: i64 = sqlx::query_scalar(
        "INSERT INTO ratelimit_changes (tenant_id, change, at_ms) VALUES (?, ?, ?)
         RETURNING version",
    )
    .bind(tenant.as_str())
    .bind(body)
    .bind(now_ms)
    .fetch_one(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(v)
}

/// Refuses a create past the tenant's cap: `sql` answers true when the row exists or the
/// tenant has fewer than `max` (binds: tenant, then `ids`, then `max`). Runs inside the
/// write transaction, so the count cannot change before the insert.
async fn within_cap(
    tx: &mut Transaction<'_, Sqlite>,
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
        .map_err(map_err)?;
    if ok {
        Ok(())
    } else {
        Err(StoreError::LimitReached {
            what,
            limit: u64::from(max),
        })
    }
}

const POLICY_CAP: &str = "SELECT EXISTS (SELECT 1 FROM ratelimit_policies
      WHERE tenant_id = ?1 AND name = ?2)
    OR (SELECT count(*) FROM (SELECT 1 FROM ratelimit_policies WHERE tenant_id = ?1 LIMIT ?3)) < ?3";

const OVERRIDE_CAP: &str = "SELECT EXISTS (SELECT 1 FROM ratelimit_overrides
      WHERE tenant_id = ?1 AND policy = ?2 AND key = ?3)
    OR (SELECT count(*) FROM (SELECT 1 FROM ratelimit_overrides WHERE tenant_id = ?1 LIMIT ?4)) < ?4";

fn policy_row(r: &SqliteRow) -> Result<PolicyRecord, StoreError> {
    Ok(PolicyRecord {
        policy: serde_json::from_str(r.get("policy")).map_err(corrupt)?,
        version: r.get("version"),
        updated_at_ms: r.get("updated_at_ms"),
    })
}

fn override_row(r: &SqliteRow) -> Result<OverrideRecord, StoreError> {
    Ok(OverrideRecord {
        rate_override: serde_json::from_str(r.get("body")).map_err(corrupt)?,
        version: r.get("version"),
        updated_at_ms: r.get("updated_at_ms"),
    })
}

#[async_trait::async_trait]
impl RatePolicyStore for SqliteStore {
    async fn rate_policy_put(
        &self,
        tenant: &TenantId,
        policy: &Policy,
        now_ms: i64,
        max: u32,
    ) -> Result<PolicyRecord, StoreError> {
        let mut tx = self.begin_immediate().await?;
        let ids = [policy.name.as_str()];
        within_cap(&mut tx, POLICY_CAP, tenant, &ids, "policies", max).await?;
        let change = ChangeKind::PolicyPut {
            policy: policy.clone(),
        };
        let version = record_change(&mut tx, tenant, &change, now_ms).await?;
        sqlx::query(
            "INSERT INTO ratelimit_policies (tenant_id, name, policy, version, updated_at_ms)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, name) DO UPDATE SET
             policy = excluded.policy, version = excluded.version, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(tenant.as_str())
        .bind(&policy.name)
        .bind(serde_json::to_string(policy).map_err(corrupt)?)
        .bind(version)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(PolicyRecord {
            policy: policy.clone(),
            version,
            updated_at_ms: now_ms,
        })
    }

    async fn rate_policy_get(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<PolicyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM ratelimit_policies WHERE tenant_id = ? AND name = ?")
            .bind(tenant.as_str())
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        row.as_ref().map(policy_row).transpose()
    }

    async fn rate_policy_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<PolicyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM ratelimit_policies WHERE tenant_id = ? AND name > ? ORDER BY name LIMIT ?",
        )
        .bind(tenant.as_str())
        .bind(page.after.as_deref().unwrap_or(""))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        let items = rows.iter().map(policy_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |r| {
            r.policy.name.clone()
        }))
    }

    async fn rate_policy_delete(
        &self,
        tenant: &TenantId,
        name: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_immediate().await?;
        let n = sqlx::query("DELETE FROM ratelimit_policies WHERE tenant_id = ? AND name = ?")
            .bind(tenant.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        if n > 0 {
            let change = ChangeKind::PolicyDeleted {
                name: name.to_owned(),
            };
            record_change(&mut tx, tenant, &change, now_ms).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(n > 0)
    }

    async fn rate_override_put(
        &self,
        tenant: &TenantId,
        o: &RateOverride,
        now_ms: i64,
        max: u32,
    ) -> Result<OverrideRecord, StoreError> {
        let mut tx = self.begin_immediate().await?;
        let ids = [o.policy.as_str(), o.key.as_deref().unwrap_or("")];
        within_cap(&mut tx, OVERRIDE_CAP, tenant, &ids, "overrides", max).await?;
        let change = ChangeKind::OverridePut {
            rate_override: o.clone(),
        };
        let version = record_change(&mut tx, tenant, &change, now_ms).await?;
        sqlx::query(
            "INSERT INTO ratelimit_overrides (tenant_id, policy, key, body, version, updated_at_ms)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, policy, key) DO UPDATE SET
             body = excluded.body, version = excluded.version, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(tenant.as_str())
        .bind(&o.policy)
        .bind(o.key.as_deref().unwrap_or(""))
        .bind(serde_json::to_string(o).map_err(corrupt)?)
        .bind(version)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(OverrideRecord {
            rate_override: o.clone(),
            version,
            updated_at_ms: now_ms,
        })
    }

    async fn rate_override_list(
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
            "SELECT * FROM ratelimit_overrides WHERE tenant_id = ? AND (policy > ? OR (policy = ? AND key > ?))
             ORDER BY policy, key LIMIT ?",
        )
        .bind(tenant.as_str())
        .bind(&p)
        .bind(&p)
        .bind(&k)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        let items = rows
            .iter()
            .map(override_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |r| {
            let o = &r.rate_override;
            serde_json::to_string(&(&o.policy, o.key.as_deref().unwrap_or(""))).unwrap_or_default()
        }))
    }

    async fn rate_override_delete(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_immediate().await?;
        let n = sqlx::query(
            "DELETE FROM ratelimit_overrides WHERE tenant_id = ? AND policy = ? AND key = ?",
        )
        .bind(tenant.as_str())
        .bind(policy)
        .bind(key.unwrap_or(""))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        if n > 0 {
            let change = ChangeKind::OverrideDeleted {
                policy: policy.to_owned(),
                key: key.map(str::to_owned),
            };
            record_change(&mut tx, tenant, &change, now_ms).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(n > 0)
    }

    async fn rate_config_changes(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<ConfigChanges, StoreError> {
        let rows = sqlx::query(
            "SELECT version, tenant_id, change FROM ratelimit_changes WHERE version > ?
             ORDER BY version LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        let changes = rows
            .iter()
            .map(|r| {
                Ok(ConfigChange {
                    tenant: TenantId::parse(r.get("tenant_id")).map_err(corrupt)?,
                    version: r.get("version"),
                    change: serde_json::from_str(r.get("change")).map_err(corrupt)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        // Read after the changes: pruning raises it in the transaction that deletes, so a
        // value at or below `after` proves none of the changes above was missing.
        let pruned_through = sqlx::query_scalar("SELECT pruned_through FROM ratelimit_feed")
            .fetch_one(self.pool())
            .await
            .map_err(map_err)?;
        Ok(ConfigChanges {
            changes,
            pruned_through,
        })
    }

    async fn rate_config_snapshot(&self) -> Result<ConfigSnapshot, StoreError> {
        // One read transaction: WAL gives it one snapshot for the three reads.
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let version: i64 = sqlx::query_scalar(
            "SELECT max(coalesce((SELECT max(version) FROM ratelimit_changes), 0),
                        (SELECT pruned_through FROM ratelimit_feed))",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        let policies =
            snapshot_rows(&mut tx, "SELECT tenant_id, policy FROM ratelimit_policies").await?;
        let overrides =
            snapshot_rows(&mut tx, "SELECT tenant_id, body FROM ratelimit_overrides").await?;
        tx.commit().await.map_err(map_err)?;
        Ok(ConfigSnapshot {
            version,
            policies,
            overrides,
        })
    }

    async fn rate_config_prune(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError> {
        let mut tx = self.begin_immediate().await?;
        let gone: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM ratelimit_changes WHERE version IN (SELECT version FROM ratelimit_changes
             WHERE at_ms < ? ORDER BY at_ms LIMIT ?) RETURNING version",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(top) = gone.iter().max() {
            sqlx::query("UPDATE ratelimit_feed SET pruned_through = max(pruned_through, ?)")
                .bind(top)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(gone.len() as u64)
    }
}

/// (tenant id, JSON document) rows of a config snapshot, read in its transaction.
async fn snapshot_rows<T: serde::de::DeserializeOwned>(
    tx: &mut Transaction<'_, Sqlite>,
    sql: &str,
) -> Result<Vec<(TenantId, T)>, StoreError> {
    let rows = sqlx::query(sql)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_err)?;
    rows.iter()
        .map(|r| ConfigSnapshot::entry(r.get(0), r.get(1)))
        .collect()
}
