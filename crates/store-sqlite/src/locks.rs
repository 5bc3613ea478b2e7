//! SQLite implementation of the locks store: a lease table, one upsert per grant.
//!
//! Each operation runs in one transaction whose first statement writes, so SQLite's single
//! writer lock makes the decision and any follow-up read one atomic step.

use crate::{map_err, SqliteStore};
use palisade_core::{StoreError, TenantId};
use palisade_locks::store::refusal;
use palisade_locks::{
    Acquired, FencingToken, HolderId, Lease, LeaseCheck, LockAcquire, LockName, LockRelease,
    LockRenew, LockStore,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

const ACQUIRE: &str = "
INSERT INTO locks (tenant_id, name, holder, token, expires_at_ms, took_over_expired)
VALUES (?1, ?2, ?3, 1, ?4 + ?5, 0)
ON CONFLICT (tenant_id, name) DO UPDATE SET
    holder = excluded.holder,
    token = locks.token + 1,
    expires_at_ms = excluded.expires_at_ms,
    took_over_expired = (locks.holder IS NOT NULL)
WHERE locks.holder IS NULL OR locks.expires_at_ms <= ?4
RETURNING holder, token, expires_at_ms, took_over_expired";

const RENEW: &str = "
UPDATE locks SET expires_at_ms = ?1 + ?2
WHERE tenant_id = ?3 AND name = ?4 AND holder = ?5 AND token = ?6 AND expires_at_ms > ?1
RETURNING holder, token, expires_at_ms";

const RELEASE: &str = "
UPDATE locks SET holder = NULL, expires_at_ms = ?1, took_over_expired = 0
WHERE tenant_id = ?2 AND name = ?3 AND holder = ?4 AND token = ?5 AND expires_at_ms > ?1";

const LATEST: &str =
    "SELECT holder, token, expires_at_ms FROM locks WHERE tenant_id = ? AND name = ?";

fn lease(name: &LockName, r: &SqliteRow) -> Result<Lease, StoreError> {
    let holder: String = r.try_get("holder").map_err(map_err)?;
    let token: i64 = r.try_get("token").map_err(map_err)?;
    Ok(Lease {
        name: name.clone(),
        holder: HolderId::parse(&holder).map_err(|e| StoreError::Corrupt(e.message))?,
        token: FencingToken(token as u64),
        expires_at_ms: r.try_get("expires_at_ms").map_err(map_err)?,
    })
}

/// The latest grant's holder (None once released), token and expiry.
async fn latest(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    name: &LockName,
) -> Result<Option<(Option<String>, FencingToken, i64)>, StoreError> {
    let row = sqlx::query(LATEST)
        .bind(tenant.as_str())
        .bind(name.as_str())
        .fetch_optional(&mut **tx)
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

async fn refused<T>(
    mut tx: Transaction<'_, Sqlite>,
    tenant: &TenantId,
    name: &LockName,
    holder: &HolderId,
    token: FencingToken,
) -> Result<LeaseCheck<T>, StoreError> {
    let found = latest(&mut tx, tenant, name).await?;
    tx.commit().await.map_err(map_err)?;
    let grant = found
        .as_ref()
        .and_then(|(h, t, _)| h.as_deref().map(|h| (h, *t)));
    Ok(refusal(grant, holder, token))
}

#[async_trait::async_trait]
impl LockStore for SqliteStore {
    async fn lock_acquire(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
    ) -> Result<Acquired, StoreError> {
        let now = self.now_ms();
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let granted = sqlx::query(ACQUIRE)
            .bind(tenant.as_str())
            .bind(req.name.as_str())
            .bind(req.holder.as_str())
            .bind(now)
            .bind(req.ttl.as_ms())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let out = match granted {
            Some(r) => Acquired::Granted {
                lease: lease(&req.name, &r)?,
                took_over_expired: r.try_get("took_over_expired").map_err(map_err)?,
            },
            None => match latest(&mut tx, tenant, &req.name).await? {
                Some((Some(holder), token, expires_at_ms)) if expires_at_ms > now => {
                    Acquired::Held(Lease {
                        name: req.name.clone(),
                        holder: HolderId::parse(&holder)
                            .map_err(|e| StoreError::Corrupt(e.message))?,
                        token,
                        expires_at_ms,
                    })
                }
                _ => {
                    return Err(StoreError::Corrupt(
                        "lock refused without a live lease".into(),
                    ))
                }
            },
        };
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }

    async fn lock_renew(
        &self,
        tenant: &TenantId,
        req: &LockRenew,
    ) -> Result<LeaseCheck<Lease>, StoreError> {
        let now = self.now_ms();
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let row = sqlx::query(RENEW)
            .bind(now)
            .bind(req.ttl.as_ms())
            .bind(tenant.as_str())
            .bind(req.name.as_str())
            .bind(req.holder.as_str())
            .bind(req.token.0 as i64)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        match row {
            Some(r) => {
                let l = lease(&req.name, &r)?;
                tx.commit().await.map_err(map_err)?;
                Ok(LeaseCheck::Valid(l))
            }
            None => refused(tx, tenant, &req.name, &req.holder, req.token).await,
        }
    }

    async fn lock_release(
        &self,
        tenant: &TenantId,
        req: &LockRelease,
    ) -> Result<LeaseCheck<()>, StoreError> {
        let now = self.now_ms();
        let mut tx = self.pool().begin().await.map_err(map_err)?;
        let n = sqlx::query(RELEASE)
            .bind(now)
            .bind(tenant.as_str())
            .bind(req.name.as_str())
            .bind(req.holder.as_str())
            .bind(req.token.0 as i64)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        if n == 1 {
            tx.commit().await.map_err(map_err)?;
            return Ok(LeaseCheck::Valid(()));
        }
        refused(tx, tenant, &req.name, &req.holder, req.token).await
    }

    async fn lock_inspect(
        &self,
        tenant: &TenantId,
        name: &LockName,
    ) -> Result<Option<Lease>, StoreError> {
        let row = sqlx::query(
            "SELECT holder, token, expires_at_ms FROM locks
             WHERE tenant_id = ? AND name = ? AND holder IS NOT NULL AND expires_at_ms > ?",
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
