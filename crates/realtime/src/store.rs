//! The realtime store trait every backend implements: topic history and revocations.

use crate::model::{Event, HistoryBounds, Revocation, TopicName, TopicRead};
use crate::token::Claims;
use palisade_core::{StoreError, TenantId};

/// Topic history and revocations, scoped by tenant.
///
/// Rules every implementation keeps (the testkit's `realtime` suite checks them):
/// - `topic_publish` gives the event the id after the topic's latest (1 for the first), in
///   one atomic step: concurrent publishes never share an id nor leave a hole; it then drops
///   events beyond `bounds` (more than `max_events` newer ones, or older than `max_age`).
/// - `topic_read` answers the kept events after `after` (oldest first, at most `limit`), the
///   latest id, and whether events after `after` are no longer kept ([`TopicRead::gap`]).
/// - A revocation is kept until `keep_until_ms` (when every token it could match expired).
#[async_trait::async_trait]
pub trait RealtimeStore: Send + Sync + std::fmt::Debug {
    /// Appends `data` (JSON text) to `topic` and answers the stored event.
    async fn topic_publish(
        &self,
        tenant: &TenantId,
        topic: &TopicName,
        data: &str,
        bounds: HistoryBounds,
    ) -> Result<Event, StoreError>;

    /// The kept events after id `after`, at most `limit`, and the topic's latest id.
    async fn topic_read(
        &self,
        tenant: &TenantId,
        topic: &TopicName,
        after: u64,
        limit: u32,
        bounds: HistoryBounds,
    ) -> Result<TopicRead, StoreError>;

    /// Deletes the kept events of `topic` (its ids go on from the latest); false when the
    /// topic never had an event.
    async fn topic_delete(&self, tenant: &TenantId, topic: &TopicName) -> Result<bool, StoreError>;

    /// Records a revocation, kept until `keep_until_ms`.
    async fn revocation_add(&self, rev: &Revocation, keep_until_ms: i64) -> Result<(), StoreError>;

    /// True when the token of `claims` is revoked: by its id, its minting key, or its
    /// principal (minted at or before the principal's revocation).
    async fn revocation_check(&self, claims: &Claims) -> Result<bool, StoreError>;

    /// Deletes revocations kept past their time; how many.
    async fn revocation_prune(&self) -> Result<u64, StoreError>;

    /// The store clock (ms).
    fn realtime_now_ms(&self) -> i64;
}
