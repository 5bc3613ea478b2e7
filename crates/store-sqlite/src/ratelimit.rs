//! SQLite's rate-limit decisions ([`RateLimitDecisions`] of [`SqliteBackend`]).
//!
//! A decision is one `BEGIN IMMEDIATE` transaction: SQLite has one writer, so reading the
//! states, deciding them with [`decide_all`] and writing them back is atomic. Expired rows are
//! deleted by `ratelimit_purge_expired` (index `ratelimit_state_expiry`).
//!
//! The config (policies, overrides, change feed, snapshot) is the shared SQL of
//! `palisade_store_sql`, its writes `BEGIN IMMEDIATE` transactions too. Only pruning the feed is
//! SQLite's own: it deletes old changes and raises `ratelimit_feed.pruned_through` in one
//! transaction.

use crate::{map_err, SqliteBackend, SqliteStore};
use palisade_core::{StoreError, TenantId};
use palisade_ratelimit::algorithm::AlgoState;
use palisade_ratelimit::{decide_all, Check, Decision, KeyState};
use palisade_store_sql::{Dialect, RateLimitDecisions};
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
    row.map(|r| {
        let state: Option<String> = r.try_get("state").map_err(map_err)?;
        Ok(KeyState {
            algo: state.and_then(|s| AlgoState::decode(&s)),
            blocked_until_ms: r.try_get("blocked_until_ms").map_err(map_err)?,
        })
    })
    .transpose()
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

/// Decides in Rust inside one `BEGIN IMMEDIATE` transaction.
impl RateLimitDecisions<Sqlite> for SqliteBackend {
    async fn check(
        store: &SqliteStore,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        let mut tx = store.begin(Sqlite::BEGIN_WRITE).await?;
        let now = store.now_ms();
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

    async fn reset(
        store: &SqliteStore,
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
        .execute(store.pool())
        .await
        .map_err(map_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn purge_expired(store: &SqliteStore, limit: u32) -> Result<u64, StoreError> {
        let n = sqlx::query(
            "DELETE FROM ratelimit_state WHERE (tenant_id, policy, key) IN
             (SELECT tenant_id, policy, key FROM ratelimit_state WHERE expires_at_ms <= ? LIMIT ?)",
        )
        .bind(store.now_ms())
        .bind(i64::from(limit))
        .execute(store.pool())
        .await
        .map_err(map_err)?
        .rows_affected();
        Ok(n)
    }
}
