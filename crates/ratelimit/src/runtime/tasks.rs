//! Rate limiting's maintenance tasks: follow the change feed, prune it, purge expired state.

use super::RateLimits;
use async_trait::async_trait;
use palisade_core::{Clock, Maintenance, StoreError, SystemClock};
use std::sync::Arc;
use std::time::Duration;

/// Every task of `rl`: the feed follower and pruner always, the purge over a shared store.
pub(super) fn all(rl: &Arc<RateLimits>) -> Vec<Arc<dyn Maintenance>> {
    let mut v: Vec<Arc<dyn Maintenance>> = vec![
        Arc::new(FeedSync(rl.clone())),
        Arc::new(FeedPrune(rl.clone())),
    ];
    if rl.shared.is_some() {
        v.push(Arc::new(StatePurge(rl.clone())));
    }
    v
}

/// Applies the changes of the feed every `ratelimit.poll_interval`; while the feed is
/// unreadable the last policies stay in force.
struct FeedSync(Arc<RateLimits>);

#[async_trait]
impl Maintenance for FeedSync {
    fn name(&self) -> &'static str {
        "ratelimit_feed_sync"
    }
    fn interval(&self) -> Duration {
        self.0.poll_interval()
    }
    async fn step(&self) -> Result<u64, StoreError> {
        Ok(self.0.sync().await? as u64)
    }
}

/// Deletes changes older than `ratelimit.change_retention` every `ratelimit.purge_interval`.
struct FeedPrune(Arc<RateLimits>);

#[async_trait]
impl Maintenance for FeedPrune {
    fn name(&self) -> &'static str {
        "ratelimit_feed_prune"
    }
    fn interval(&self) -> Duration {
        self.0.settings.purge_interval
    }
    async fn step(&self) -> Result<u64, StoreError> {
        let n = self.0.prune(SystemClock.now_ms()).await?;
        metrics::counter!("palisade_ratelimit_changes_pruned_total").increment(n);
        Ok(n)
    }
}

/// Deletes expired decision state from the shared store every `ratelimit.purge_interval`.
struct StatePurge(Arc<RateLimits>);

#[async_trait]
impl Maintenance for StatePurge {
    fn name(&self) -> &'static str {
        "ratelimit_state_purge"
    }
    fn interval(&self) -> Duration {
        self.0.settings.purge_interval
    }
    async fn step(&self) -> Result<u64, StoreError> {
        let n = self.0.purge().await?;
        metrics::counter!("palisade_ratelimit_purged_total").increment(n);
        Ok(n)
    }
}
