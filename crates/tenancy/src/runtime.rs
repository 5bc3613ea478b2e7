//! Tenancy's maintenance tasks: follow the change feed into the key cache, and prune the feed.

use crate::cache::KeyCache;
use crate::store::TenantStore;
use palisade_core::{Maintenance, SharedClock, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Changes read per round trip.
const BATCH: u32 = 500;
/// How often the feed is read: well inside [`crate::cache::MAX_STALENESS`], so the cache
/// stays usable while one read is slow.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(200);
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
        Arc::new(KeyCacheSync {
            store: store.clone(),
            cache,
        }),
        Arc::new(ChangePrune { store, clock }),
    ]
}

/// Reads the feed after the cache's cursor and drops what the changes name.
pub struct KeyCacheSync {
    store: Arc<dyn TenantStore>,
    cache: Arc<KeyCache>,
}

impl KeyCacheSync {
    /// The follower of `store`'s feed for `cache`.
    pub fn new(store: Arc<dyn TenantStore>, cache: Arc<KeyCache>) -> Self {
        Self { store, cache }
    }
}

#[async_trait::async_trait]
impl Maintenance for KeyCacheSync {
    fn name(&self) -> &'static str {
        "tenancy_key_cache_sync"
    }

    fn interval(&self) -> Duration {
        SYNC_INTERVAL
    }

    /// Applies every change above the cursor; the number of cached keys dropped.
    async fn step(&self) -> Result<u64, StoreError> {
        let started = Instant::now();
        let Some(mut cursor) = self.cache.cursor() else {
            let head = self.store.change_head().await?;
            self.cache.synced(started, head);
            return Ok(0);
        };
        let mut dropped = 0;
        loop {
            let changes = self.store.change_read(cursor, BATCH).await?;
            dropped += self.cache.apply(&changes);
            cursor = changes.last().map_or(cursor, |c| c.version);
            if changes.len() < BATCH as usize {
                break;
            }
        }
        self.cache.synced(started, cursor);
        Ok(dropped as u64)
    }
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
