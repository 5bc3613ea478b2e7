//! PostgreSQL implementation of the ratelimit stores.
//!
//! A decision is one short transaction with row locks, all checks at once:
//! 1. one `INSERT … SELECT FROM unnest(…) ORDER BY policy, key ON CONFLICT … DO UPDATE …
//!    RETURNING` creates missing rows, locks every row of the decision (in key order, so
//!    concurrent decisions cannot deadlock) and returns the current states;
//! 2. [`decide_all`] decides them all or nothing (the same code as every other store);
//! 3. one `UPDATE … FROM unnest(…)` writes the changed states; commit.
//!
//! Concurrent decisions on one key serialise on its row lock, so read-decide-write is atomic.
//! Time comes from the store's clock (keep instance clocks NTP-synchronised).
//! `ratelimit_purge_expired` deletes expired rows in batches (index `ratelimit_state_expiry`).

use crate::{map_err, PgStore};
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use palisade_ratelimit::algorithm::AlgoState;
use palisade_ratelimit::{
    decide_all, ChangeKind, Check, ConfigChange, Decision, KeyState, OverrideRecord, Policy,
    PolicyRecord, RateLimitStore, RateOverride, RatePolicyStore,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use std::collections::HashMap;

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

async fn lock_states(
    tx: &mut Transaction<'_, Postgres>,
    tenant: &TenantId,
    checks: &[Check],
    now: i64,
) -> Result<Vec<Option<KeyState>>, StoreError> {
    let policies: Vec<&str> = checks.iter().map(|c| c.policy.as_str()).collect();
    let keys: Vec<&str> = checks.iter().map(|c| c.key.as_str()).collect();
    let rows = sqlx::query(
        "INSERT INTO ratelimit_state (tenant_id, policy, key, expires_at_ms)
         SELECT $1, p, k, $4 FROM unnest($2::text[], $3::text[]) AS u(p, k) ORDER BY p, k
         ON CONFLICT (tenant_id, policy, key) DO UPDATE SET tenant_id = excluded.tenant_id
         RETURNING policy, key, state, blocked_until_ms",
    )
    .bind(tenant.as_str())
    .bind(&policies)
    .bind(&keys)
    .bind(now)
    .fetch_all(&mut **tx)
    .await
    .map_err(map_err)?;
    let mut found: HashMap<(String, String), KeyState> = HashMap::with_capacity(rows.len());
    for r in rows {
        let state = KeyState {
            algo: r
                .get::<Option<String>, _>("state")
                .and_then(|s| AlgoState::decode(&s)),
            blocked_until_ms: r.get("blocked_until_ms"),
        };
        found.insert((r.get("policy"), r.get("key")), state);
    }
    Ok(checks
        .iter()
        .map(|c| found.get(&(c.policy.clone(), c.key.clone())).copied())
        .collect())
}

async fn write_states(
    tx: &mut Transaction<'_, Postgres>,
    tenant: &TenantId,
    checks: &[Check],
    writes: &[Option<KeyState>],
) -> Result<(), StoreError> {
    let (mut p, mut k, mut st, mut b, mut e) = (vec![], vec![], vec![], vec![], vec![]);
    for (c, w) in checks.iter().zip(writes) {
        let Some(s) = w else { continue };
        p.push(c.policy.as_str());
        k.push(c.key.as_str());
        st.push(s.algo.map(|a| a.encode()));
        b.push(s.blocked_until_ms);
        e.push(s.expires_at_ms(&c.limit));
    }
    if p.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE ratelimit_state AS s SET state = u.st, blocked_until_ms = u.b, expires_at_ms = u.e
         FROM unnest($2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[]) AS u(p, k, st, b, e)
         WHERE s.tenant_id = $1 AND s.policy = u.p AND s.key = u.k",
    )
    .bind(tenant.as_str())
    .bind(&p)
    .bind(&k)
    .bind(&st)
    .bind(&b)
    .bind(&e)
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

#[async_trait::async_trait]
impl RateLimitStore for PgStore {
    async fn ratelimit_check(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let now = self.now_ms();
        let states = lock_states(&mut tx, tenant, checks, now).await?;
        let (decisions, writes) = decide_all(checks, &states, now);
        write_states(&mut tx, tenant, checks, &writes).await?;
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
            "DELETE FROM ratelimit_state WHERE tenant_id = $1 AND policy = $2 AND key = $3
             AND (state IS NOT NULL OR blocked_until_ms > 0)",
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
            "DELETE FROM ratelimit_state WHERE ctid IN (SELECT ctid FROM ratelimit_state
             WHERE expires_at_ms <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
             AND expires_at_ms <= $1",
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
    tx: &mut Transaction<'_, Postgres>,
    tenant: &TenantId,
    change: &ChangeKind,
) -> Result<i64, StoreError> {
    let v: i64 = sqlx::query_scalar("UPDATE ratelimit_version SET v = v + 1 RETURNING v")
        .fetch_one(&mut **tx)
        .await
        .map_err(map_err)?;
    sqlx::query("INSERT INTO ratelimit_changes (version, tenant_id, change) VALUES ($1, $2, $3)")
        .bind(v)
        .bind(tenant.as_str())
        .bind(serde_json::to_string(change).map_err(corrupt)?)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    Ok(v)
}

fn policy_row(r: &PgRow) -> Result<PolicyRecord, StoreError> {
    Ok(PolicyRecord {
        policy: serde_json::from_str(r.get("policy")).map_err(corrupt)?,
        version: r.get("version"),
        updated_at_ms: r.get("updated_at_ms"),
    })
}

fn override_row(r: &PgRow) -> Result<OverrideRecord, StoreError> {
    Ok(OverrideRecord {
        rate_override: serde_json::from_str(r.get("body")).map_err(corrupt)?,
        version: r.get("version"),
        updated_at_ms: r.get("updated_at_ms"),
    })
}

#[async_trait::async_trait]
impl RatePolicyStore for PgStore {
    async fn rate_policy_put(
        &self,
        tenant: &TenantId,
        policy: &Policy,
        now_ms: i64,
    ) -> Result<PolicyRecord, StoreError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let change = ChangeKind::PolicyPut {
            policy: policy.clone(),
        };
        let version = record_change(&mut tx, tenant, &change).await?;
        sqlx::query(
            "INSERT INTO ratelimit_policies (tenant_id, name, policy, version, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, name) DO UPDATE SET
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
        let row =
            sqlx::query("SELECT * FROM ratelimit_policies WHERE tenant_id = $1 AND name = $2")
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
            "SELECT * FROM ratelimit_policies WHERE tenant_id = $1 AND name > $2
             ORDER BY name LIMIT $3",
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
        _now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let n = sqlx::query("DELETE FROM ratelimit_policies WHERE tenant_id = $1 AND name = $2")
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
            record_change(&mut tx, tenant, &change).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(n > 0)
    }

    async fn rate_override_put(
        &self,
        tenant: &TenantId,
        o: &RateOverride,
        now_ms: i64,
    ) -> Result<OverrideRecord, StoreError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let change = ChangeKind::OverridePut {
            rate_override: o.clone(),
        };
        let version = record_change(&mut tx, tenant, &change).await?;
        sqlx::query(
            "INSERT INTO ratelimit_overrides (tenant_id, policy, key, body, version, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, policy, key) DO UPDATE SET
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
            "SELECT * FROM ratelimit_overrides WHERE tenant_id = $1 AND (policy, key) > ($2, $3)
             ORDER BY policy, key LIMIT $4",
        )
        .bind(tenant.as_str())
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
        _now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let n = sqlx::query(
            "DELETE FROM ratelimit_overrides WHERE tenant_id = $1 AND policy = $2 AND key = $3",
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
            record_change(&mut tx, tenant, &change).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(n > 0)
    }

    async fn rate_config_changes(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ConfigChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, tenant_id, change FROM ratelimit_changes WHERE version > $1
             ORDER BY version LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(ConfigChange {
                    tenant: TenantId::parse(r.get("tenant_id")).map_err(corrupt)?,
                    version: r.get("version"),
                    change: serde_json::from_str(r.get("change")).map_err(corrupt)?,
                })
            })
            .collect()
    }
}
