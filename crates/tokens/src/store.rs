//! The token store trait every backend implements: issuers per tenant and revocations.

use crate::model::{Issuer, IssuerId, Revocation, TokenLookup};
use palisade_core::{ChangeFeed, Page, PageRequest, StoreError, TenantId};

/// Issuers and revocations, scoped by tenant.
///
/// Rules every implementation keeps (the testkit's `tokens` suite checks them):
/// - An issuer's `iss` is unique per tenant: a second create (or an update to a taken `iss`)
///   is [`StoreError::Conflict`].
/// - Another tenant's issuer is never found, updated or deleted.
/// - [`TokenStore::token_lookup`] is one read: the issuer of `iss`, whether `jti` is revoked
///   (a jti revocation counts until its expiry, store clock) and the subject's not-before.
/// - A jti revocation keeps the later of two expiries; a subject revocation the later of two
///   not-befores (a revocation is never weakened).
/// - Every write records its change in the store's [`ChangeFeed`] in the same atomic step
///   ([`crate::topics`]: a revocation names its jti or subject, an issuer write its tenant),
///   so every instance's lookup cache hears of it.
/// - Time is the store's clock.
#[async_trait::async_trait]
pub trait TokenStore: ChangeFeed + Send + Sync + std::fmt::Debug {
    /// Stores a new issuer.
    async fn issuer_create(&self, tenant: &TenantId, issuer: &Issuer) -> Result<(), StoreError>;

    /// The tenant's issuer `id`.
    async fn issuer_get(
        &self,
        tenant: &TenantId,
        id: &IssuerId,
    ) -> Result<Option<Issuer>, StoreError>;

    /// The tenant's issuers by id, cursor-paginated.
    async fn issuer_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Issuer>, StoreError>;

    /// Replaces the spec (and `updated_at_ms`) of the tenant's issuer `issuer.id`; `false` when
    /// there is none.
    async fn issuer_update(&self, tenant: &TenantId, issuer: &Issuer) -> Result<bool, StoreError>;

    /// Deletes the tenant's issuer `id`; `false` when there was none.
    async fn issuer_delete(&self, tenant: &TenantId, id: &IssuerId) -> Result<bool, StoreError>;

    /// The issuer of `iss` and the revocation state of `jti` and `sub`; `None` when the tenant
    /// has no issuer of `iss`.
    async fn token_lookup(
        &self,
        tenant: &TenantId,
        iss: &str,
        jti: Option<&str>,
        sub: Option<&str>,
    ) -> Result<Option<TokenLookup>, StoreError>;

    /// Records a revocation (see the trait's rules for repeats).
    async fn revocation_put(&self, tenant: &TenantId, r: &Revocation) -> Result<(), StoreError>;

    /// Deletes up to `limit` jti revocations whose expiry has passed; how many it deleted.
    async fn revocation_purge(&self, limit: u32) -> Result<u64, StoreError>;
}
