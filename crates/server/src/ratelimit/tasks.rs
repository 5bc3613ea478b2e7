//! Background work of each instance: follow the policy change feed, purge expired state and
//! prune old changes from the feed.

use super::RateLimits;
use palisade_core::{Clock, SystemClock};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Starts the poller and the purger; both stop when the last `RateLimits` handle is dropped.
pub(super) fn spawn(rl: &Arc<RateLimits>, poll: Duration, purge: Duration) {
    let weak = Arc::downgrade(rl);
    tokio::spawn(poll_loop(weak.clone(), poll));
    tokio::spawn(purge_loop(weak, purge));
}

async fn poll_loop(rl: Weak<RateLimits>, every: Duration) {
    let mut failing = false;
    loop {
        tokio::time::sleep(every).await;
        let Some(rl) = rl.upgrade() else { return };
        match rl.sync().await {
            Ok(n) => {
                if failing {
                    tracing::info!("rate limit policy feed readable again");
                }
                failing = false;
                if n > 0 {
                    tracing::debug!(changes = n, "rate limit policies updated");
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "rate limit policy feed unreadable; keeping the last policies");
                }
                failing = true;
            }
        }
    }
}

async fn purge_loop(rl: Weak<RateLimits>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(rl) = rl.upgrade() else { return };
        match rl.purge().await {
            Ok(n) => metrics::counter!("palisade_ratelimit_purged_total").increment(n),
            Err(e) => tracing::warn!(error = %e, "purging expired rate limit state failed"),
        }
        let now = SystemClock.now_ms();
        match rl.prune(now).await {
            Ok(n) => metrics::counter!("palisade_ratelimit_changes_pruned_total").increment(n),
            Err(e) => tracing::warn!(error = %e, "pruning the rate limit change feed failed"),
        }
    }
}
