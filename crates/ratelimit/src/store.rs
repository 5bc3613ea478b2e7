//! The store traits: atomic decisions, and policies with their overrides.

use crate::decision::{Check, Decision};
use crate::feed::{ConfigChanges, ConfigSnapshot, OverrideRecord, PolicyRecord, RateLimitOverride};
use crate::policy::Policy;
use palisade_core::{Page, PageRequest, StoreError, TenantId};

/// Where rate-limit state lives.
#[async_trait::async_trait]
pub trait RateLimitStore: Send + Sync + std::fmt::Debug {
    /// Decides `checks` (already validated, see [`crate::validate_checks`]) in ONE atomic
    /// step, all or nothing: if one enforced check is denied, none consumes. Returns one
    /// decision per check, in order. Keys are scoped by `tenant`.
    async fn ratelimit_check(
        &self,
        tenant: &TenantId,
        checks: &[Check],
    ) -> Result<Vec<Decision>, StoreError>;

    /// Decides like [`RateLimitStore::ratelimit_check`] within `deadline`, else
    /// [`StoreError::Timeout`] (then the caller falls back). Time a call waits in a queue
    /// inside this process is not store slowness: a store that queues calls to batch them
    /// (PostgreSQL, Redis) awaits the answer of every call it sent, bounded by its own I/O
    /// deadlines, rather than abandon it at `deadline` — an abandoned call may still be
    /// counted by the store while its caller falls back, and a saturated instance would then
    /// grant more than the quota. The default (stores without a queue) times the whole call.
    async fn ratelimit_check_within(
        &self,
        tenant: &TenantId,
        checks: &[Check],
        deadline: std::time::Duration,
    ) -> Result<Vec<Decision>, StoreError> {
        tokio::time::timeout(deadline, self.ratelimit_check(tenant, checks))
            .await
            .unwrap_or(Err(StoreError::Timeout))
    }

    /// Forgets the state (counts and block) of one key; true when there was some.
    async fn ratelimit_reset(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: &str,
    ) -> Result<bool, StoreError>;

    /// Deletes up to `limit` states that no longer matter (expired); returns how many.
    /// Stores that expire state by themselves (memory, Redis) do nothing.
    async fn ratelimit_purge_expired(&self, limit: u32) -> Result<u64, StoreError> {
        let _ = limit;
        Ok(0)
    }
}

/// Durable policies and overrides, with a change feed instances poll to stay current.
///
/// Every write bumps a store-wide version and appends to the feed; deletes leave a tombstone
/// (a feed entry) so pollers learn of them. The feed is pruned by age
/// ([`RateLimitPolicyStore::ratelimit_feed_prune_changes`]); a poller whose cursor fell behind the pruned part
/// learns it from [`ConfigChanges::missed`] and reloads [`RateLimitPolicyStore::ratelimit_feed_snapshot`].
///
/// Creates are capped per tenant (`max` arguments): the count and the insert are one atomic
/// step, so concurrent creates never exceed the cap; replacing an existing entry always
/// succeeds. Past the cap a create fails with [`StoreError::LimitReached`].
#[async_trait::async_trait]
pub trait RateLimitPolicyStore: Send + Sync + std::fmt::Debug {
    /// Creates or replaces the tenant's policy of this name; creating fails with
    /// [`StoreError::LimitReached`] when the tenant already has `max` policies.
    async fn ratelimit_policy_put(
        &self,
        tenant: &TenantId,
        policy: &Policy,
        now_ms: i64,
        max: u32,
    ) -> Result<PolicyRecord, StoreError>;

    /// The tenant's live policy of this name.
    async fn ratelimit_policy_get(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<PolicyRecord>, StoreError>;

    /// The tenant's live policies ordered by name.
    async fn ratelimit_policy_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<PolicyRecord>, StoreError>;

    /// Deletes the tenant's policy; false when it had none.
    async fn ratelimit_policy_delete(
        &self,
        tenant: &TenantId,
        name: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Creates or replaces an override (per tenant when `key` is `None`, else per key);
    /// creating fails with [`StoreError::LimitReached`] when the tenant already has `max`.
    async fn ratelimit_override_put(
        &self,
        tenant: &TenantId,
        o: &RateLimitOverride,
        now_ms: i64,
        max: u32,
    ) -> Result<OverrideRecord, StoreError>;

    /// The tenant's live overrides ordered by (policy, key).
    async fn ratelimit_override_list(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<OverrideRecord>, StoreError>;

    /// Deletes an override; false when there was none.
    async fn ratelimit_override_delete(
        &self,
        tenant: &TenantId,
        policy: &str,
        key: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Every change (of any tenant) with a version above `after`, oldest first, at most
    /// `limit`. Versions become visible in order, so a poller never skips one — unless they
    /// were pruned, which `pruned_through` (read after the changes) tells.
    async fn ratelimit_feed_changes(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<ConfigChanges, StoreError>;

    /// Every live policy and override, consistent with one version (one read snapshot).
    async fn ratelimit_feed_snapshot(&self) -> Result<ConfigSnapshot, StoreError>;

    /// Deletes up to `limit` of the oldest changes written before `before_ms` and raises
    /// `pruned_through` past them, in one atomic step; returns how many were deleted.
    async fn ratelimit_feed_prune_changes(&self, before_ms: i64, limit: u32) -> Result<u64, StoreError>;
}
