//! [`impl_sql_stores!`](crate::impl_sql_stores): a store's trait impls, delegating to its `SqlStore`.

/// Implements `TenantStore`, `IdempotencyStore`, `LockStore` and `RatePolicyStore` for
/// `$store` by delegating every method to its `sql` field, a [`SqlStore`](crate::SqlStore).
/// (The traits and the store types live in other crates, so the impls must be written in the
/// store crate; this writes them once for both.)
#[macro_export]
macro_rules! impl_sql_stores {
    ($store:ty) => {
        const _: () = {
            use $crate::__private::{async_trait, idem, locks, ratelimit as rl, tenancy};
            use $crate::__private::{Page, PageRequest, StoreError, TenantId};

            #[async_trait]
            impl tenancy::TenantStore for $store {
                async fn tenant_create(
                    &self,
                    id: TenantId,
                    req: &tenancy::TenantCreate,
                    now_ms: i64,
                ) -> Result<(tenancy::Tenant, bool), StoreError> {
                    self.sql.tenant_create(id, req, now_ms).await
                }

                async fn tenant_get(
                    &self,
                    id: &TenantId,
                ) -> Result<Option<tenancy::Tenant>, StoreError> {
                    self.sql.tenant_get(id).await
                }

                async fn tenant_list(
                    &self,
                    page: &PageRequest,
                ) -> Result<Page<tenancy::Tenant>, StoreError> {
                    self.sql.tenant_list(page).await
                }

                async fn key_create(
                    &self,
                    tenant: &TenantId,
                    rec: &tenancy::KeyRecord,
                ) -> Result<(), StoreError> {
                    self.sql.key_create(tenant, rec).await
                }

                async fn key_list(
                    &self,
                    tenant: &TenantId,
                    status: tenancy::KeyStatus,
                    page: &PageRequest,
                ) -> Result<Page<tenancy::ApiKey>, StoreError> {
                    self.sql.key_list(tenant, status, page).await
                }

                async fn key_revoke(
                    &self,
                    tenant: &TenantId,
                    key_id: &str,
                    now_ms: i64,
                ) -> Result<bool, StoreError> {
                    self.sql.key_revoke(tenant, key_id, now_ms).await
                }

                async fn key_find(
                    &self,
                    key_id: &str,
                ) -> Result<Option<tenancy::KeyRecord>, StoreError> {
                    self.sql.key_find(key_id).await
                }

                async fn key_touch(
                    &self,
                    tenant: &TenantId,
                    key_id: &str,
                    now_ms: i64,
                ) -> Result<(), StoreError> {
                    self.sql.key_touch(tenant, key_id, now_ms).await
                }
            }

            #[async_trait]
            impl idem::IdempotencyStore for $store {
                async fn idempotency_begin(
                    &self,
                    tenant: &TenantId,
                    req: &idem::IdempotencyBegin,
                ) -> Result<idem::BeginOutcome, StoreError> {
                    self.sql.idempotency_begin(tenant, req).await
                }

                async fn idempotency_recovery_point_set(
                    &self,
                    tenant: &TenantId,
                    req: &idem::RecoveryPointSet,
                ) -> Result<idem::EntryUpdate, StoreError> {
                    self.sql.idempotency_recovery_point_set(tenant, req).await
                }

                async fn idempotency_complete(
                    &self,
                    tenant: &TenantId,
                    req: &idem::IdempotencyComplete,
                ) -> Result<idem::EntryUpdate, StoreError> {
                    self.sql.idempotency_complete(tenant, req).await
                }

                async fn idempotency_abandon(
                    &self,
                    tenant: &TenantId,
                    entry: &idem::EntryRef,
                ) -> Result<idem::EntryUpdate, StoreError> {
                    self.sql.idempotency_abandon(tenant, entry).await
                }

                async fn idempotency_expired_delete(&self, limit: u32) -> Result<u64, StoreError> {
                    self.sql.idempotency_expired_delete(limit).await
                }
            }

            #[async_trait]
            impl locks::LockStore for $store {
                async fn lock_acquire(
                    &self,
                    tenant: &TenantId,
                    req: &locks::LockAcquire,
                ) -> Result<locks::Acquired, StoreError> {
                    self.sql.lock_acquire(tenant, req).await
                }

                async fn lock_renew(
                    &self,
                    tenant: &TenantId,
                    req: &locks::LockRenew,
                ) -> Result<locks::LeaseCheck<locks::Lease>, StoreError> {
                    self.sql.lock_renew(tenant, req).await
                }

                async fn lock_release(
                    &self,
                    tenant: &TenantId,
                    req: &locks::LockRelease,
                ) -> Result<locks::LeaseCheck<()>, StoreError> {
                    self.sql.lock_release(tenant, req).await
                }

                async fn lock_inspect(
                    &self,
                    tenant: &TenantId,
                    name: &locks::LockName,
                ) -> Result<Option<locks::Lease>, StoreError> {
                    self.sql.lock_inspect(tenant, name).await
                }
            }

            #[async_trait]
            impl rl::RatePolicyStore for $store {
                async fn rate_policy_put(
                    &self,
                    tenant: &TenantId,
                    policy: &rl::Policy,
                    now_ms: i64,
                    max: u32,
                ) -> Result<rl::PolicyRecord, StoreError> {
                    self.sql.rate_policy_put(tenant, policy, now_ms, max).await
                }

                async fn rate_policy_get(
                    &self,
                    tenant: &TenantId,
                    name: &str,
                ) -> Result<Option<rl::PolicyRecord>, StoreError> {
                    self.sql.rate_policy_get(tenant, name).await
                }

                async fn rate_policy_list(
                    &self,
                    tenant: &TenantId,
                    page: &PageRequest,
                ) -> Result<Page<rl::PolicyRecord>, StoreError> {
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
                    o: &rl::RateOverride,
                    now_ms: i64,
                    max: u32,
                ) -> Result<rl::OverrideRecord, StoreError> {
                    self.sql.rate_override_put(tenant, o, now_ms, max).await
                }

                async fn rate_override_list(
                    &self,
                    tenant: &TenantId,
                    page: &PageRequest,
                ) -> Result<Page<rl::OverrideRecord>, StoreError> {
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
                ) -> Result<rl::ConfigChanges, StoreError> {
                    self.sql.rate_config_changes(after, limit).await
                }

                async fn rate_config_snapshot(&self) -> Result<rl::ConfigSnapshot, StoreError> {
                    self.sql.rate_config_snapshot().await
                }

                async fn rate_config_prune(
                    &self,
                    before_ms: i64,
                    limit: u32,
                ) -> Result<u64, StoreError> {
                    self.sql.rate_config_prune(before_ms, limit).await
                }
            }
        };
    };
}
