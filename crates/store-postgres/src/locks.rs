//! PostgreSQL implementation of the locks store: a lease table, one upsert per grant.
//!
//! Why a table and not advisory locks: a session-level advisory lock belongs to a connection,
//! so behind PgBouncer in transaction mode it stays with whichever server connection ran the
//! statement (held by nobody, or released by a stranger), and it has no TTL or fencing token.
//! Leases are rows instead: a grant is one `INSERT … ON CONFLICT … DO UPDATE … WHERE expired
//! RETURNING`, renew and release are conditional `UPDATE`s on holder and token, and the row is
//! kept after release so tokens never go back. A grant is one statement; only a refused grant
//! repeats it in a short transaction to report the holder consistently. Nothing spans
//! transactions, so the store works through any pooler. Time is the store clock, passed as a
//! bind.

use crate::{map_err, PgStore};
use palisade_core::{StoreError, TenantId};
use palisade_locks::store::refusal;
use palisade_locks::{
    Acquired, FencingToken, HolderId, Lease, LeaseCheck, LockAcquire, LockName, LockRelease,
    LockRenew, LockStore,
};
use sqlx::postgres::{PgExecutor, PgRow};
use sqlx::Row;

const ACQUIRE: &str = "
INSERT INTO locks (tenant_id, name, holder, token, expires_at_ms, took_over_expired)
VALUES ($1, $2, $3, 1, $4 + $5, FALSE)
ON CONFLICT (tenant_id, name) DO UPDATE SET
    holder = EXCLUDED.holder,
    token = locks.token + 1,
    expires_at_ms = EXCLUDED.expires_at_ms,
    took_over_expired = (locks.holder IS NOT NULL)
WHERE locks.holder IS NULL OR locks.expires_at_ms <= $4
RETURNING holder, token, expires_at_ms, took_over_expired";

const RENEW: &str = "
UPDATE locks SET expires_at_ms = $1 + $2
WHERE tenant_id = $3 AND name = $4 AND holder = $5 AND token = $6 AND expires_at_ms > $1
RETURNING holder, token, expires_at_ms";

const RELEASE: &str = "
UPDATE locks SET holder = NULL, expires_at_ms = $1, took_over_expired = FALSE
WHERE tenant_id = $2 AND name = $3 AND holder = $4 AND token = $5 AND expires_at_ms > $1";

const LATEST: &str =
    "SELECT holder, token, expires_at_ms FROM locks WHERE tenant_id = $1 AND name = $2";

/// The grant upsert: the new lease, or `None` when a live lease refused it.
async fn upsert(
    db: impl PgExecutor<'_>,
    tenant: &TenantId,
    req: &LockAcquire,
    now: i64,
) -> Result<Option<Acquired>, StoreError> {
    let row = sqlx::query(ACQUIRE)
        .bind(tenant.as_str())
        .bind(req.name.as_str())
        .bind(req.holder.as_str())
        .bind(now)
        .bind(req.ttl.as_ms())
        .fetch_optional(db)
        .await
        .map_err(map_err)?;
    row.map(|r| {
        Ok(Acquired::Granted {
            lease: lease(&req.name, &r)?,
            took_over_expired: r.try_get("took_over_expired").map_err(map_err)?,
        })
    })
    .transpose()
}

fn lease(name: &LockName, r: &PgRow) -> Result<Lease, StoreError> {
    let holder: String = r.try_get("holder").map_err(map_err)?;
    let token: i64 = r.try_get("token").map_err(map_err)?;
    Ok(Lease {
        name: name.clone(),
        holder: HolderId::parse(&holder).map_err(|e| StoreError::Corrupt(e.message))?,
        token: FencingToken(token as u64),
        expires_at_ms: r.try_get("expires_at_ms").map_err(map_err)?,
    })
}

impl PgStore {
    /// The latest grant's holder (None once released), token and expiry.
    async fn lock_latest(
        &self,
        tenant: &TenantId,
        name: &LockName,
    ) -> Result<Option<(Option<String>, FencingToken, i64)>, StoreError> {
        let row = sqlx::query(LATEST)
            .bind(tenant.as_str())
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| {
            let token: i64 = r.get("token");
            (
                r.get("holder"),
                FencingToken(token as u64),
                r.get("expires_at_ms"),
            )
        }))
    }

    /// Why a conditional renew or release matched nothing. The refusal itself was atomic;
    /// this read only picks which refusal to report.
    async fn lock_refusal<T>(
        &self,
        tenant: &TenantId,
        name: &LockName,
        holder: &HolderId,
        token: FencingToken,
    ) -> Result<LeaseCheck<T>, StoreError> {
        let found = self.lock_latest(tenant, name).await?;
        let grant = found
            .as_ref()
            .and_then(|(h, t, _)| h.as_deref().map(|h| (h, *t)));
        Ok(refusal(grant, holder, token))
    }
}

#[async_trait::async_trait]
impl LockStore for PgStore {
    async fn lock_acquire(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
    ) -> Result<Acquired, StoreError> {
        if let Some(granted) = upsert(self.pool(), tenant, req, self.now_ms()).await? {
            return Ok(granted);
        }
        // Refused. To report the holder consistently, try again in a transaction: a refused
        // upsert still locks the conflicting row, so the read that follows sees the lease
        // that refused us, and no one can end it before the commit.
        let now = self.now_ms();
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let out = match upsert(&mut *tx, tenant, req, now).await? {
            Some(granted) => granted,
            None => {
                let row = sqlx::query(LATEST)
                    .bind(tenant.as_str())
                    .bind(req.name.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                Acquired::Held(lease(&req.name, &row)?)
            }
        };
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }

    async fn lock_renew(
        &self,
        tenant: &TenantId,
        req: &LockRenew,
    ) -> Result<LeaseCheck<Lease>, StoreError> {
        let row = sqlx::query(RENEW)
            .bind(self.now_ms())
            .bind(req.ttl.as_ms())
            .bind(tenant.as_str())
            .bind(req.name.as_str())
            .bind(req.holder.as_str())
            .bind(req.token.0 as i64)
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        match row {
            Some(r) => Ok(LeaseCheck::Valid(lease(&req.name, &r)?)),
            None => {
                self.lock_refusal(tenant, &req.name, &req.holder, req.token)
                    .await
            }
        }
    }

    async fn lock_release(
        &self,
        tenant: &TenantId,
        req: &LockRelease,
    ) -> Result<LeaseCheck<()>, StoreError> {
        let n = sqlx::query(RELEASE)
            .bind(self.now_ms())
            .bind(tenant.as_str())
            .bind(req.name.as_str())
            .bind(req.holder.as_str())
            .bind(req.token.0 as i64)
            .execute(self.pool())
            .await
            .map_err(map_err)?
            .rows_affected();
        if n == 1 {
            return Ok(LeaseCheck::Valid(()));
        }
        self.lock_refusal(tenant, &req.name, &req.holder, req.token)
            .await
    }

    async fn lock_inspect(
        &self,
        tenant: &TenantId,
        name: &LockName,
    ) -> Result<Option<Lease>, StoreError> {
        let row = sqlx::query(
            "SELECT holder, token, expires_at_ms FROM locks
             WHERE tenant_id = $1 AND name = $2 AND holder IS NOT NULL AND expires_at_ms > $3",
        )
        .bind(tenant.as_str())
        .bind(name.as_str())
        .bind(self.now_ms())
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        row.as_ref().map(|r| lease(name, r)).transpose()
    }
}
