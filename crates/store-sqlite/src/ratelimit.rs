//! SQLite implementation of the ratelimit stores.
//!
//! A decision is one `BEGIN IMMEDIATE` transaction: SQLite has one writer, so reading the
//! states, deciding them with [`decide_all`] and writing them back is atomic. Expired rows are
//! deleted by `ratelimit_purge_expired` (index `ratelimit_state_expiry`).
//!
//! The config (policies, overrides, change feed, snapshot) is the shared SQL of
//! `palisade_store_sql`, its writes `BEGIN IMMEDIATE` transactions too. Only pruning the feed is
//! SQLite's own: it deletes old changes and raises `ratelimit_feed.pruned_through` in one
//! transaction (migration 0005).

use crate::{map_err, SqliteStore};
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use palisade_ratelimit::algorithm::AlgoState;
use palisade_ratelimit::{
    decide_all, Check, ConfigChanges, ConfigSnapshot, Decision, KeyState, OverrideRecord, Policy,
    PolicyRecord, RateLimitStore, RateOverride, RatePolicyStore,
};
use sqlx::{Row, Sqlite, Transaction};

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

#[async_trait::async_trait]
impl RatePolicyStore for SqliteStore {
    async fn rate_policy_put(
        &self,
        tenant: &TenantId,
        policy: &Policy,
        now_ms: i64,
        max: u32,
    ) -> Result<PolicyRecord, StoreError> {
        self.sql.rate_policy_put(tenant, policy, now_ms, max).await
    }

    async fn rate_policy_get(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<PolicyRecord>, StoreError> {
        self.sql.rate_policy_get(tenant, name).await
    }

    async fn rate_policy_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<PolicyRecord>, StoreError> {
        self.sql.rate_policy_list(tenant, page).await
    }

    async fn rate_policy_delete(
        &self,
        tenant: &TenantId,
        name: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.sql.rate_policy_delete(tenant, name, now_ms).await
    }

    async fn rate_override_put(
        &self,
        tenant: &TenantId,
        o: &RateOverride,
        now_ms: i64,
        max: u32,
    ) -> Result<OverrideRecord, StoreError> {
        self.sql.rate_override_put(tenant, o, now_ms, max).await
    }

    async fn rate_override_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<OverrideRecord>, StoreError> {
        self.sql.rate_override_list(tenant, page).await
    }

    async fn rate_override_delete(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.sql
            .rate_override_delete(tenant, policy, key, now_ms)
            .await
    }

    async fn rate_config_changes(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<ConfigChanges, StoreError> {
        self.sql.rate_config_changes(after, limit).await
    }

    async fn rate_config_snapshot(&self) -> Result<ConfigSnapshot, StoreError> {
        self.sql.rate_config_snapshot().await
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
