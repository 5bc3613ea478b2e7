//! PostgreSQL implementation of the ratelimit stores.
//!
//! Concurrent decisions are gathered into batches by a [`Batcher`] (no linger: a lone call
//! runs at once; under load calls queue while earlier batches are on the wire; at most
//! [`PgOptions::ratelimit_in_flight`](crate::PgOptions) batches of at most
//! `ratelimit_max_batch` decisions run at a time). A batch is ONE round trip:
//! `SELECT ratelimit_decide_batch(…)` (plpgsql, migration 0007) with the batch as arrays.
//! In its own implicit transaction the function locks (or creates) every row of the batch
//! in one statement, in (tenant, policy, key) byte order — the rows are sorted and
//! deduplicated here, byte order being the columns' `COLLATE "C"` — so concurrent batches,
//! and multi-check `ratelimit_decide` calls of older versions (0005: (policy, key) order in
//! one tenant), take row locks in one global order and cannot deadlock. It then takes the
//! decisions one after the other in queue order on the rows' state held in arrays — each
//! all or nothing over its checks, with the same arithmetic as
//! `palisade_ratelimit::decide_all`; a key in two decisions of a batch is decided
//! sequentially — and writes every changed row once. All or nothing holds within a decision,
//! never across the decisions of a batch. A batch aborted as a deadlock or serialization failure
//! is retried (it should not happen; see above). The conformance suite, `same_as_memory` and
//! this module's test (random batches against the memory store in batch order) hold the
//! function to the memory store's answers.
//!
//! Concurrent decisions on one key serialise on its row lock, so read-decide-write is atomic.
//! Time comes from the store's clock, read when the caller asks and passed per decision
//! (keep instance clocks NTP-synchronised).
//! The UPDATEs leave every indexed value as it was (but for the expiry minute, once a
//! minute), so they are HOT (migration 0006: fillfactor 70). `ratelimit_purge_expired`
//! deletes expired rows in batches (`LIMIT n FOR UPDATE SKIP LOCKED`: it never waits for a
//! row lock, so it cannot join a deadlock) found through the index on `expires_minute`
//! (migration 0009: a generated column `expires_at_ms / 60 000`).
//!
//! Config writes serialise on the one `ratelimit_version` row (bumped first in each put), so
//! a per-tenant cap counted after the bump (a fresh READ COMMITTED snapshot) sees every
//! committed create: concurrent creates cannot both pass it. Pruning deletes old changes and
//! raises `ratelimit_feed.pruned_through` in one statement (migration 0008).

use crate::{map_err, PgStore};
use palisade_core::{Page, PageRequest, StoreError, TenantId};
use palisade_ratelimit::{
    Algorithm, Batcher, ChangeKind, Check, ConfigChange, ConfigChanges, ConfigSnapshot, Decision,
    OverrideRecord, Policy, PolicyRecord, RateLimitStore, RateOverride, RatePolicyStore,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn algo(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Gcra => "g",
        Algorithm::FixedWindow => "f",
        Algorithm::SlidingWindow => "s",
    }
}

/// Values beyond `i64` never pass validation (quotas ≤ 10⁹, windows ≤ 30 d).
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Extra attempts of a batch that PostgreSQL aborted as a deadlock or serialization failure.
const RETRIES: u32 = 3;

/// One caller's decision waiting for its batch.
pub(crate) struct Pending {
    tenant: TenantId,
    checks: Vec<Check>,
    now: i64,
}

/// The queue gathering concurrent callers' decisions into batches.
pub(crate) type DecisionBatcher = Batcher<Pending, Vec<Decision>>;

/// A batcher deciding on `pool` with at most `in_flight` batches of at most `max_batch`
/// decisions at a time. It holds the pool only, never the store (see [`Batcher`]).
pub(crate) fn batcher(pool: sqlx::PgPool, max_batch: usize, in_flight: usize) -> DecisionBatcher {
    Batcher::new(max_batch, in_flight, move |batch: Vec<Pending>| {
        let pool = pool.clone();
        Box::pin(async move { decide_batch(&pool, &batch).await })
    })
}

/// A batch's arguments to `ratelimit_decide_batch` (migration 0007), as arrays.
#[derive(Default)]
struct BatchArgs<'a> {
    /// The distinct (tenant, policy, key) rows, sorted byte-wise (= `COLLATE "C"`).
    rows: Vec<(&'a str, &'a str, &'a str)>,
    now: Vec<i64>,
    len: Vec<i32>,
    row: Vec<i32>,
    algo: Vec<&'static str>,
    quota: Vec<i64>,
    window: Vec<i64>,
    burst: Vec<i64>,
    block: Vec<i64>,
    shadow: Vec<bool>,
    cost: Vec<i64>,
}

impl<'a> BatchArgs<'a> {
    fn new(batch: &'a [Pending]) -> Self {
        let mut a = Self::default();
        for p in batch {
            let t = p.tenant.as_str();
            a.rows.extend(
                p.checks
                    .iter()
                    .map(|c| (t, c.policy.as_str(), c.key.as_str())),
            );
            a.now.push(p.now);
            a.len.push(p.checks.len() as i32);
            for c in &p.checks {
                let l = &c.limit;
                a.algo.push(algo(l.algorithm));
                a.quota.push(int(l.quota));
                a.window.push(int(l.window_ms));
                a.burst.push(int(l.burst));
                a.block.push(int(l.block_ms));
                a.shadow.push(l.shadow);
                a.cost.push(int(c.cost));
            }
        }
        a.rows.sort_unstable();
        a.rows.dedup();
        for p in batch {
            let t = p.tenant.as_str();
            for c in &p.checks {
                let r = a
                    .rows
                    .binary_search(&(t, c.policy.as_str(), c.key.as_str()));
                a.row.push(r.map_or(0, |i| i as i32 + 1));
            }
        }
        a
    }

    async fn run(&self, pool: &sqlx::PgPool) -> Result<Vec<i64>, sqlx::Error> {
        let col = |f: fn(&(&'a str, &'a str, &'a str)) -> &'a str| -> Vec<&'a str> {
            self.rows.iter().map(f).collect()
        };
        sqlx::query_scalar(
            "SELECT ratelimit_decide_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(col(|r| r.0))
        .bind(col(|r| r.1))
        .bind(col(|r| r.2))
        .bind(&self.now)
        .bind(&self.len)
        .bind(&self.row)
        .bind(&self.algo)
        .bind(&self.quota)
        .bind(&self.window)
        .bind(&self.burst)
        .bind(&self.block)
        .bind(&self.shadow)
        .bind(&self.cost)
        .fetch_one(pool)
        .await
    }
}

/// A deadlock or serialization failure: the transaction was rolled back and may be retried.
fn retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// One batch: one `SELECT ratelimit_decide_batch(…)` (migration 0007), one round trip.
async fn decide_batch(
    pool: &sqlx::PgPool,
    batch: &[Pending],
) -> Result<Vec<Vec<Decision>>, StoreError> {
    let args = BatchArgs::new(batch);
    let mut attempt = 0;
    let out = loop {
        match args.run(pool).await {
            Ok(out) => break out,
            Err(e) if attempt < RETRIES && retryable(&e) => attempt += 1,
            Err(e) => return Err(map_err(e)),
        }
    };
    if out.len() != args.row.len() * 5 {
        return Err(corrupt("ratelimit_decide_batch reply length"));
    }
    let mut values = out.chunks(5);
    batch
        .iter()
        .map(|p| {
            p.checks
                .iter()
                .zip(values.by_ref())
                .map(|(c, v)| decision(c, v))
                .collect()
        })
        .collect()
}

fn decision(c: &Check, v: &[i64]) -> Result<Decision, StoreError> {
    let v: &[i64; 5] = v.try_into().map_err(corrupt)?;
    Decision::from_reply(c.limit.quota, v).ok_or_else(|| corrupt("ratelimit_decide outcome"))
}

#[async_trait::async_trait]
impl RateLimitStore for PgStore {
    async fn ratelimit_check(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        let pending = Pending {
            tenant: tenant.clone(),
            checks: checks.to_vec(),
            now: self.now_ms(),
        };
        self.decisions().call(pending).await
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
             WHERE expires_minute <= $1 / 60000 AND expires_at_ms <= $1
             LIMIT $2 FOR UPDATE SKIP LOCKED)
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
    now_ms: i64,
) -> Result<i64, StoreError> {
    let v: i64 = sqlx::query_scalar("UPDATE ratelimit_version SET v = v + 1 RETURNING v")
        .fetch_one(&mut **tx)
        .await
        .map_err(map_err)?;
    sqlx::query(
        "INSERT INTO ratelimit_changes (version, tenant_id, change, at_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(v)
    .bind(tenant.as_str())
    .bind(serde_json::to_string(change).map_err(corrupt)?)
    .bind(now_ms)
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(v)
}

/// Refuses a create past the tenant's cap: `sql` answers true when the row exists or the
/// tenant has fewer than `max` (binds: tenant, then `ids`, then `max`). Runs after
/// [`record_change`] locked the version row, so no other config write runs meanwhile.
async fn within_cap(
    tx: &mut Transaction<'_, Postgres>,
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
      WHERE tenant_id = $1 AND name = $2)
    OR (SELECT count(*) FROM (SELECT 1 FROM ratelimit_policies WHERE tenant_id = $1 LIMIT $3) x) < $3";

const OVERRIDE_CAP: &str = "SELECT EXISTS (SELECT 1 FROM ratelimit_overrides
      WHERE tenant_id = $1 AND policy = $2 AND key = $3)
    OR (SELECT count(*) FROM (SELECT 1 FROM ratelimit_overrides WHERE tenant_id = $1 LIMIT $4) x) < $4";

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
        max: u32,
    ) -> Result<PolicyRecord, StoreError> {
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let change = ChangeKind::PolicyPut {
            policy: policy.clone(),
        };
        let version = record_change(&mut tx, tenant, &change, now_ms).await?;
        let ids = [policy.name.as_str()];
        within_cap(&mut tx, POLICY_CAP, tenant, &ids, "policies", max).await?;
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
        now_ms: i64,
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
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let change = ChangeKind::OverridePut {
            rate_override: o.clone(),
        };
        let version = record_change(&mut tx, tenant, &change, now_ms).await?;
        let ids = [o.policy.as_str(), o.key.as_deref().unwrap_or("")];
        within_cap(&mut tx, OVERRIDE_CAP, tenant, &ids, "overrides", max).await?;
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
        now_ms: i64,
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
            "SELECT version, tenant_id, change FROM ratelimit_changes WHERE version > $1
             ORDER BY version LIMIT $2",
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
        // Read after the changes (a later snapshot): pruning raises it in the statement that
        // deletes, so a value at or below `after` proves none of the changes above was missing.
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
        // One REPEATABLE READ snapshot: writers bump ratelimit_version in the transaction that
        // writes, so `v` is exactly the last change the rows reflect.
        let mut tx = self
            .pool()
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(map_err)?;
        let version: i64 = sqlx::query_scalar("SELECT v FROM ratelimit_version")
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
        let n: i64 = sqlx::query_scalar(
            "WITH gone AS (
               DELETE FROM ratelimit_changes WHERE version IN (SELECT version FROM ratelimit_changes
                 WHERE at_ms < $1 ORDER BY at_ms LIMIT $2 FOR UPDATE SKIP LOCKED)
               RETURNING version),
             raised AS (
               UPDATE ratelimit_feed
               SET pruned_through = GREATEST(pruned_through, (SELECT max(version) FROM gone))
               WHERE EXISTS (SELECT 1 FROM gone))
             SELECT count(*) FROM gone",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_one(self.pool())
        .await
        .map_err(map_err)?;
        Ok(n as u64)
    }
}

/// (tenant id, JSON document) rows of a config snapshot, read in its transaction.
async fn snapshot_rows<T: serde::de::DeserializeOwned>(
    tx: &mut Transaction<'_, Postgres>,
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

#[cfg(test)]
mod tests {
    //! Batches of several decisions decide exactly like the memory store deciding them one
    //! after the other in batch order (the conformance suite's calls mostly run alone).

    use super::*;
    use crate::PgOptions;
    use palisade_core::ManualClock;
    use palisade_ratelimit::MemoryRateLimitStore;
    use palisade_testkit::ratelimit::{random_checks, Rng};

    fn random_decision(r: &mut Rng, tenants: &[TenantId], now: i64) -> Pending {
        Pending {
            tenant: tenants[r.below(2) as usize].clone(),
            checks: random_checks(r),
            now,
        }
    }

    #[tokio::test]
    async fn batches_decide_like_the_memory_store_in_batch_order() {
        let Some(url) = palisade_testkit::backends::postgres_or_skip("batches_decide").await else {
            return;
        };
        let mut opts = PgOptions::new(url);
        opts.schema = Some(palisade_testkit::backends::unique("t"));
        opts.max_connections = Some(2);
        let store = PgStore::connect(&opts).await.unwrap();
        store.migrate().await.unwrap();
        let clock = ManualClock::new(1_700_000_000_000);
        let reference = MemoryRateLimitStore::default().with_clock(clock.clone());
        let tenants = [TenantId::generate(), TenantId::generate()];
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let mut now = 1_700_000_000_123;
        for step in 0..400 {
            let mut batch = Vec::new();
            for _ in 0..1 + r.below(8) {
                now += [0, 0, 1, 7, 300, 5_000][r.below(6) as usize];
                batch.push(random_decision(&mut r, &tenants, now));
            }
            let got = decide_batch(store.pool(), &batch).await.unwrap();
            for (p, got) in batch.iter().zip(got) {
                clock.set(p.now);
                let want = reference
                    .ratelimit_check(&p.tenant, &p.checks)
                    .await
                    .unwrap();
                assert_eq!(got, want, "step {step}: {:?}", p.checks);
            }
        }
    }
}
