//! The locks store trait every backend implements; each operation is one atomic step.

use crate::model::{
    Acquired, FencingToken, HolderId, Lease, LeaseCheck, LockAcquire, LockName, LockRelease,
    LockRenew,
};
use palisade_core::{StoreError, TenantId};

/// Leases with fencing tokens, scoped by tenant.
///
/// Rules every implementation keeps (the testkit's `locks::run` checks them):
/// - A lease is live while the store's clock is before `expires_at_ms`.
/// - `lock_acquire` grants when there is no live lease, with a token strictly greater than
///   every earlier token of that `(tenant, name)`: the token must survive expiry and release.
/// - `lock_renew` and `lock_release` succeed only for the live lease's holder and token.
///   When the caller's lease expired and no one took the lock since, they report
///   [`LeaseCheck::Expired`]; otherwise [`LeaseCheck::NotHolder`].
/// - Each decision is atomic: concurrent calls never both win.
#[async_trait::async_trait]
pub trait LockStore: Send + Sync + std::fmt::Debug {
    /// Grants the lock to `req.holder` for `req.ttl` when it has no live lease; otherwise
    /// reports the live lease.
    async fn lock_acquire(
        &self,
        tenant: &TenantId,
        req: &LockAcquire,
    ) -> Result<Acquired, StoreError>;

    /// Extends the caller's live lease to now + `req.ttl`; the token stays the same.
    async fn lock_renew(
        &self,
        tenant: &TenantId,
        req: &LockRenew,
    ) -> Result<LeaseCheck<Lease>, StoreError>;

    /// Ends the caller's live lease; the next grant gets a greater token.
    async fn lock_release(
        &self,
        tenant: &TenantId,
        req: &LockRelease,
    ) -> Result<LeaseCheck<()>, StoreError>;

    /// The live lease of `name`, if any.
    async fn lock_inspect(
        &self,
        tenant: &TenantId,
        name: &LockName,
    ) -> Result<Option<Lease>, StoreError>;
}

/// Classifies a refused renew or release from the lock's latest grant (holder, token) as the
/// store found it after its conditional update matched nothing: the caller's own grant that is
/// no longer live is [`LeaseCheck::Expired`]; anything else is [`LeaseCheck::NotHolder`].
pub fn refusal<T>(
    latest: Option<(&str, FencingToken)>,
    holder: &HolderId,
    token: FencingToken,
) -> LeaseCheck<T> {
    match latest {
        // ct-ok: a fencing token is a public counter, the holder a public name.
        Some((h, t)) if (h, t) == (holder.as_str(), token) => LeaseCheck::Expired,
        _ => LeaseCheck::NotHolder,
    }
}
