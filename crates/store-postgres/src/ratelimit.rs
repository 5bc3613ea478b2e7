//! PostgreSQL's rate-limit decisions ([`RateLimitDecisions`] of [`PgBackend`]).
//!
//! Concurrent decisions are gathered into batches by a [`Batcher`] (no linger: a lone call
//! runs at once; under load calls queue while earlier batches are on the wire; at most
//! [`PgOptions::ratelimit_in_flight`](crate::PgOptions) batches of at most
//! `ratelimit_max_batch` decisions run at a time). A decision, once sent, is awaited for its
//! answer, and its time in the queue is not store slowness: the fallback deadline does not cut
//! it short (a batch still running 2 s past the pool's acquire timeout fails instead, so a hung
//! server cannot hold the queue). A batch is ONE round trip on a connection the batches keep
//! (no pool checks around it): `SELECT ratelimit_decide_batch(…)` (plpgsql, migration 0004)
//! with the batch as arrays.
//! In its own implicit transaction the function locks (or creates) every row of the batch
//! in one statement, in (tenant, policy, key) byte order — the rows are sorted and
//! deduplicated here, byte order being the columns' `COLLATE "C"` — so concurrent batches,
//! and multi-check `ratelimit_decide` calls ((policy, key) order in
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
//! minute), so they are HOT (fillfactor 70). `ratelimit_purge_expired`
//! deletes expired rows in batches (`LIMIT n FOR UPDATE SKIP LOCKED`: it never waits for a
//! row lock, so it cannot join a deadlock) found through the index on `expires_minute`
//! (a generated column `expires_at_ms / 60 000`).
//!
//! The config (policies, overrides, change feed, snapshot) is the shared SQL of
//! `palisade_store_sql`; its writes serialise on the one `ratelimit_version` row (bumped first
//! in each write). Only pruning the feed is PostgreSQL's own: it deletes old changes and raises
//! `ratelimit_feed.pruned_through` in one statement.

use crate::{map_err, PgBackend, PgStore};
use palisade_core::{StoreError, TenantId};
use palisade_ratelimit::{Algorithm, Batcher, Check, Decision};
use palisade_store_sql::RateLimitDecisions;
use sqlx::pool::PoolConnection;
use sqlx::Postgres;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
/// A batch running longer than `run_timeout` fails (so a hung server cannot hold the queue).
pub(crate) fn batcher(
    pool: sqlx::PgPool,
    max_batch: usize,
    in_flight: usize,
    run_timeout: Duration,
) -> DecisionBatcher {
    let held = Arc::new(Held {
        pool,
        idle: Mutex::new(Vec::with_capacity(in_flight)),
    });
    held.release_on_close();
    Batcher::new(max_batch, in_flight, move |batch: Vec<Pending>| {
        let held = held.clone();
        Box::pin(async move { decide_batch(&held, &batch).await })
    })
    .with_run_timeout(run_timeout)
}

/// The batches' own connections, kept between batches (at most one per batch in flight): a
/// batch is then exactly one round trip, without the pool's checks on acquire and release.
/// A connection whose batch failed goes back to the pool (which tests it and drops it if it
/// is broken) and a new one is taken for the next batch. Closing the pool releases them:
/// its close waits for every connection handed out, so a kept one would hang it.
struct Held {
    pool: sqlx::PgPool,
    idle: Mutex<Vec<PoolConnection<Postgres>>>,
}

impl Held {
    async fn take(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let kept = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match kept {
            Some(c) => Ok(c),
            None => self.pool.acquire().await,
        }
    }

    /// Keeps `c` for the next batch, unless the pool is closing (checked under the lock, so
    /// a connection kept concurrently with the close is released with the others).
    fn keep(&self, c: PoolConnection<Postgres>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if !self.pool.is_closed() {
            idle.push(c);
        }
    }

    /// Drops the kept connections once the pool starts closing. The task holds the batches'
    /// state weakly, so it never keeps a dropped store's pool alive.
    fn release_on_close(self: &Arc<Self>) {
        let closed = self.pool.close_event();
        let held = Arc::downgrade(self);
        tokio::spawn(async move {
            closed.await;
            if let Some(held) = held.upgrade() {
                held.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
            }
        });
    }
}

/// A batch's arguments to `ratelimit_decide_batch` , as arrays.
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

    async fn run(&self, conn: &mut sqlx::PgConnection) -> Result<Vec<i64>, sqlx::Error> {
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
        .fetch_one(conn)
        .await
    }

    /// [`Self::run`] on one of `held`'s connections, kept for the next batch if it answered.
    async fn run_held(&self, held: &Held) -> Result<Vec<i64>, sqlx::Error> {
        let mut conn = held.take().await?;
        let out = self.run(&mut conn).await;
        if out.is_ok() {
            held.keep(conn);
        }
        out
    }
}

/// A deadlock or serialization failure: the transaction was rolled back and may be retried.
fn retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// One batch: one `SELECT ratelimit_decide_batch(…)` , one round trip.
async fn decide_batch(held: &Held, batch: &[Pending]) -> Result<Vec<Vec<Decision>>, StoreError> {
    let args = BatchArgs::new(batch);
    let mut attempt = 0;
    let out = loop {
        match args.run_held(held).await {
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

/// Decides in the `ratelimit_decide` function, over batches of concurrent checks. A decision
/// that was sent is awaited for its answer (bounded by the batch timeout), never abandoned at
/// the fallback deadline: abandoning it could let the store count it while the caller falls
/// back. Time queued in this process never counts as store slowness.
impl RateLimitDecisions<Postgres> for PgBackend {
    const AWAITS_SENT: bool = true;

    async fn check(
        store: &PgStore,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError> {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        let pending = Pending {
            tenant: tenant.clone(),
            checks: checks.to_vec(),
            now: store.now_ms(),
        };
        store.backend().decisions.call(pending).await
    }

    async fn reset(
        store: &PgStore,
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
        .execute(store.pool())
        .await
        .map_err(map_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn purge_expired(store: &PgStore, limit: u32) -> Result<u64, StoreError> {
        let n = sqlx::query(
            "DELETE FROM ratelimit_state WHERE ctid IN (SELECT ctid FROM ratelimit_state
             WHERE expires_minute <= $1 / 60000 AND expires_at_ms <= $1
             LIMIT $2 FOR UPDATE SKIP LOCKED)
             AND expires_at_ms <= $1",
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

#[cfg(test)]
mod tests {
    //! Batches of several decisions decide exactly like the memory store deciding them one
    //! after the other in batch order (the conformance suite's calls mostly run alone).

    use super::*;
    use crate::PgOptions;
    use palisade_core::ManualClock;
    use palisade_ratelimit::{MemoryRateLimitStore, RateLimitStore};
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
        let held = Held {
            pool: store.pool().clone(),
            idle: Mutex::new(Vec::new()),
        };
        for step in 0..400 {
            let mut batch = Vec::new();
            for _ in 0..1 + r.below(8) {
                now += [0, 0, 1, 7, 300, 5_000][r.below(6) as usize];
                batch.push(random_decision(&mut r, &tenants, now));
            }
            let got = decide_batch(&held, &batch).await.unwrap();
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
