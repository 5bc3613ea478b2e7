//! Lock leases: a lease table, one upsert per grant.
//!
//! A grant is one `INSERT … ON CONFLICT … DO UPDATE … WHERE expired RETURNING`; renew and
//! release are conditional `UPDATE`s on holder and token, and the row is kept after release so
//! tokens never go back. Only a refused grant repeats its upsert, in a write transaction
//! ([`Dialect::BEGIN_WRITE`]), to report the holder consistently: on PostgreSQL the refused
//! upsert still locks the conflicting row, on SQLite the transaction holds the one write lock,
//! so the read that follows sees the lease that refused it, and no one can end it before the
//! commit. Nothing spans transactions, so the store works through any pooler. Time is the
//! store clock, passed as a bind.

use crate::{Dialect, SqlStore, Value};
use palisade_core::{StoreError, TenantId};
use palisade_locks::refusal;
use palisade_locks::{
    Acquired, FencingToken, HolderId, Lease, LeaseCheck, LockAcquire, LockName, LockRelease,
    LockRenew,
};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

const ACQUIRE: &str = "
INSERT INTO locks (tenant_id, name, holder, token, expires_at_ms, took_over_expired)
VALUES ($1, $2, $3, 1, $4 + $5, FALSE)
ON CONFLICT (tenant_id, name) DO UPDATE SET
    holder = excluded.holder,
    token = locks.token + 1,
    expires_at_ms = excluded.expires_at_ms,
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

impl<D> SqlStore<D>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    bool: Value<D>,
    String: Value<D>,
{
    fn lease(name: &LockName, r: &D::Row) -> Result<Lease, StoreError> {
        let holder: String = Self::col(r, "holder")?;
        let token: i64 = Self::col(r, "token")?;
        Ok(Lease {
            name: name.clone(),
            holder: HolderId::parse(&holder).map_err(|e| StoreError::Corrupt(e.message))?,
            token: FencingToken(token as u64),
            expires_at_ms: Self::col(r, "expires_at_ms")?,
        })
    }

    /// The grant upsert: the new lease, or `None` when a live lease refused it.
    async fn lock_upsert<'e>(
        db: impl Executor<'e, Database = D>,
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
            .map_err(D::map_err)?;
        row.map(|r| {
            Ok(Acquired::Granted {
                lease: Self::lease(&req.name, &r)?,
                took_over_expired: Self::col(&r, "took_over_expired")?,
            })
        })
        .transpose()
    }

    /// Why a conditional renew or release matched nothing. The refusal itself was atomic (a
    /// grant that failed it never passes it again: tokens only grow); this read of the latest
    /// grant only picks which refusal to report.
    async fn lock_refusal<T>(
        &self,
        tenant: &TenantId,
        name: &LockName,
        holder: &HolderId,
        token: FencingToken,
    ) -> Result<LeaseCheck<T>, StoreError> {
        let row = sqlx::query(LATEST)
            .bind(tenant.as_str())
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(D::map_err)?;
        let grant = row
            .map(|r| {
                let token: i64 = Self::col(&r, "token")?;
                let holder: Option<String> = Self::col(&r, "holder")?;
                Ok::<_, StoreError>((holder, FencingToken(token as u64)))
            })
            .transpose()?;
        let grant = grant
            .as_ref()
            .and_then(|(h, t)| h.as_deref().map(|h| (h, *t)));
        Ok(refusal(grant, holder, token))
    }

    /// `LockStore::lock_acquire`: the grant, or the live lease that refused it.
    pub async fn lock_acquire(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
    ) -> Result<Acquired, StoreError> {
        if let Some(granted) = Self::lock_upsert(self.pool(), tenant, req, self.now_ms()).await? {
            return Ok(granted);
        }
        // Refused: try again in a write transaction, which the refusing lease outlives.
        let now = self.now_ms();
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let out = match Self::lock_upsert(&mut *tx, tenant, req, now).await? {
            Some(granted) => granted,
            None => {
                let row = sqlx::query(LATEST)
                    .bind(tenant.as_str())
                    .bind(req.name.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(D::map_err)?;
                Acquired::Held(Self::lease(&req.name, &row)?)
            }
        };
        tx.commit().await.map_err(D::map_err)?;
        Ok(out)
    }

    /// `LockStore::lock_renew`: extends the caller's live lease.
    pub async fn lock_renew(
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
            .map_err(D::map_err)?;
        match row {
            Some(r) => Ok(LeaseCheck::Valid(Self::lease(&req.name, &r)?)),
            None => {
                self.lock_refusal(tenant, &req.name, &req.holder, req.token)
                    .await
            }
        }
    }

    /// `LockStore::lock_release`: ends the caller's live lease, keeping the row's token.
    pub async fn lock_release(
        &self,
        tenant: &TenantId,
        req: &LockRelease,
    ) -> Result<LeaseCheck<()>, StoreError> {
        let done = sqlx::query(RELEASE)
            .bind(self.now_ms())
            .bind(tenant.as_str())
            .bind(req.name.as_str())
            .bind(req.holder.as_str())
            .bind(req.token.0 as i64)
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        if D::rows_affected(&done) == 1 {
            return Ok(LeaseCheck::Valid(()));
        }
        self.lock_refusal(tenant, &req.name, &req.holder, req.token)
            .await
    }

    /// `LockStore::lock_inspect`: the live lease, if any.
    pub async fn lock_inspect(
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
        .map_err(D::map_err)?;
        row.as_ref().map(|r| Self::lease(name, r)).transpose()
    }
}
