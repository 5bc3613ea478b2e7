//! Realtime stream slots: one leased row per open stream, counted per principal and per tenant
//! against the caps in one write transaction that first upserts its tenant's row (on
//! PostgreSQL a row lock held to commit, on SQLite the one write lock), so concurrent takes of
//! a tenant are serialized and never pass a cap together. Time is the store clock.

use crate::{Dialect, SqlStore, Value};
use async_trait::async_trait;
use palisade_core::StoreError;
use palisade_realtime::{Slot, SlotCaps, SlotScope, SlotTake, StreamSlotStore};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use std::time::Duration;

const LOCK_TENANT: &str = "
INSERT INTO realtime_slot_tenants (tenant_id, takes) VALUES ($1, 1)
ON CONFLICT (tenant_id) DO UPDATE SET takes = realtime_slot_tenants.takes + 1";

const DROP_LAPSED: &str =
    "DELETE FROM realtime_stream_slots WHERE tenant_id = $1 AND lease_until_ms <= $2";

const COUNT_TENANT: &str = "
SELECT COUNT(*) AS n, COALESCE(MIN(lease_until_ms), 0) AS first
FROM realtime_stream_slots WHERE tenant_id = $1";

const COUNT_PRINCIPAL: &str = "
SELECT COUNT(*) AS n, COALESCE(MIN(lease_until_ms), 0) AS first
FROM realtime_stream_slots WHERE tenant_id = $1 AND principal = $2";

const UPSERT: &str = "
INSERT INTO realtime_stream_slots (tenant_id, slot_id, principal, lease_until_ms)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, slot_id) DO UPDATE SET lease_until_ms = excluded.lease_until_ms";

const RELEASE: &str = "DELETE FROM realtime_stream_slots WHERE tenant_id = $1 AND slot_id = $2";

#[async_trait]
impl<D, B> StreamSlotStore for SqlStore<D, B>
where
    D: Dialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'a> &'a str: Encode<'a, D> + Type<D> + ColumnIndex<D::Row>,
    i64: Value<D>,
    B: Send + Sync + std::fmt::Debug,
{
    async fn stream_slot_take(
        &self,
        slot: &Slot,
        caps: SlotCaps,
        lease: Duration,
    ) -> Result<SlotTake, StoreError> {
        let now = self.now_ms();
        let tenant = slot.tenant.as_str();
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let result = async {
            let run = |q: &'static str| sqlx::query::<D>(q).bind(tenant);
            run(LOCK_TENANT)
                .execute(&mut *tx)
                .await
                .map_err(D::map_err)?;
            run(DROP_LAPSED)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(D::map_err)?;
            let retry = |first: i64| (first - now).max(1) as u64;
            let row = run(COUNT_PRINCIPAL)
                .bind(slot.principal.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(D::map_err)?;
            let (n, first): (i64, i64) = (Self::col(&row, "n")?, Self::col(&row, "first")?);
            if n >= i64::from(caps.per_principal) {
                let (scope, retry_after_ms) = (SlotScope::Principal, retry(first));
                return Ok(SlotTake::Full {
                    scope,
                    retry_after_ms,
                });
            }
            let row = run(COUNT_TENANT)
                .fetch_one(&mut *tx)
                .await
                .map_err(D::map_err)?;
            let (n, first): (i64, i64) = (Self::col(&row, "n")?, Self::col(&row, "first")?);
            if n >= i64::from(caps.per_tenant) {
                let (scope, retry_after_ms) = (SlotScope::Tenant, retry(first));
                return Ok(SlotTake::Full {
                    scope,
                    retry_after_ms,
                });
            }
            run(UPSERT)
                .bind(slot.id.as_str())
                .bind(slot.principal.as_str())
                .bind(now + lease.as_millis() as i64)
                .execute(&mut *tx)
                .await
                .map_err(D::map_err)?;
            Ok::<_, StoreError>(SlotTake::Taken)
        }
        .await;
        Self::end(tx, result).await
    }

    async fn stream_slots_renew(&self, slots: &[Slot], lease: Duration) -> Result<(), StoreError> {
        let until = self.now_ms() + lease.as_millis() as i64;
        // One transaction per call (one commit, one fsync on SQLite), rows in key order. On
        // PostgreSQL a renewal re-adding a lapsed row that a take is deleting may deadlock;
        // the server aborts one of the two and the renewal runs again at the next heartbeat,
        // well within the lease.
        let mut sorted: Vec<&Slot> = slots.iter().collect();
        sorted.sort_by(|a, b| (a.tenant.as_str(), &a.id).cmp(&(b.tenant.as_str(), &b.id)));
        let mut tx = self.begin(D::BEGIN_WRITE).await?;
        let result = async {
            for s in sorted {
                sqlx::query(UPSERT)
                    .bind(s.tenant.as_str())
                    .bind(s.id.as_str())
                    .bind(s.principal.as_str())
                    .bind(until)
                    .execute(&mut *tx)
                    .await
                    .map_err(D::map_err)?;
            }
            Ok::<_, StoreError>(())
        }
        .await;
        Self::end(tx, result).await
    }

    async fn stream_slot_release(&self, slot: &Slot) -> Result<(), StoreError> {
        sqlx::query(RELEASE)
            .bind(slot.tenant.as_str())
            .bind(slot.id.as_str())
            .execute(self.pool())
            .await
            .map_err(D::map_err)?;
        Ok(())
    }
}
