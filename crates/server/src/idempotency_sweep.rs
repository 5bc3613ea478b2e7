//! The per-process background sweep that deletes expired idempotency entries.

use palisade_idempotency::IdempotencyStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Rows deleted per statement.
const BATCH: u32 = 1_000;
/// Statements per sweep at most (so one sweep never holds the store for long).
const MAX_BATCHES: u32 = 20;

/// Every `every`, deletes expired entries in batches (counted in
/// `palisade_idempotency_expired_total`) until `stop` turns true. A failing sweep is logged
/// and tried again at the next tick. Several processes sweeping at once is harmless: each
/// batch deletes only rows that already expired.
pub fn spawn(
    store: Arc<dyn IdempotencyStore>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match store.expired_sweep(BATCH, MAX_BATCHES).await {
                Ok(n) if n > 0 => tracing::debug!(deleted = n, "idempotency sweep"),
                Ok(_) => {}
                Err(e) => {
                    palisade_idempotency::metrics::store_error("sweep");
                    tracing::warn!(error = %e, "idempotency sweep failed");
                }
            }
        }
    })
}
