//! Tenancy's maintenance tasks: follow the change feed into the key cache, and prune the feed.

use crate::cache::KeyCache;
use crate::store::TenantStore;
use palisade_core::feed_cache::FeedSync;
use palisade_core::{Maintenance, SharedClock, StoreError};
use std::sync::Arc;
use std::time::Duration;

pub use palisade_core::feed_cache::SYNC_INTERVAL;

/// How often old changes are pruned, and how long they are kept.
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);
const RETENTION: Duration = Duration::from_secs(3600);

/// Both tasks over `store`, feeding `cache`.
pub fn tasks(
    store: Arc<dyn TenantStore>,
    cache: Arc<KeyCache>,
    clock: SharedClock,
) -> Vec<Arc<dyn Maintenance>> {
    vec![
        Arc::new(key_cache_sync(store.clone(), cache)),
        Arc::new(ChangePrune { store, clock }),
    ]
}

/// The follower of `store`'s feed for `cache` (task `tenancy_key_cache_sync`).
pub fn key_cache_sync(store: Arc<dyn TenantStore>, cache: Arc<KeyCache>) -> FeedSync {
    FeedSync::new("tenancy_key_cache_sync", store, cache)
}
/// Deletes changes older than an hour (every follower is far past them).
struct ChangePrune {
    store: Arc<dyn TenantStore>,
    clock: SharedClock,
}

#[async_trait::async_trait]
impl Maintenance for ChangePrune {
    fn name(&self) -> &'static str {
        "change_feed_prune"
    }

    fn interval(&self) -> Duration {
        PRUNE_INTERVAL
    }

    async fn step(&self) -> Result<u64, StoreError> {
        let before = self.clock.now_ms() - RETENTION.as_millis() as i64;
        self.store.change_prune(before, 1000).await
    }
}
