//! Retention: one step that deletes records older than `audit.retention`, in bounded batches.
//!
//! [`Retention`] is that step as a maintenance task: the process's supervisor runs it every
//! `audit.prune_interval`.

use crate::store::AuditStore;
use palisade_core::{Maintenance, SharedClock, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// What one retention step may do.
#[derive(Debug, Clone, Copy)]
pub struct RetentionStep {
    /// Delete records older than this.
    pub retention: Duration,
    /// Records per delete statement.
    pub batch: u32,
    /// Statements per step at most, so one step never holds the store for long.
    pub max_batches: u32,
}

impl RetentionStep {
    /// Batches of 1000, at most 20 per step.
    pub fn new(retention: Duration) -> Self {
        Self {
            retention,
            batch: 1_000,
            max_batches: 20,
        }
    }
}

/// Deletes records with `at_ms < now_ms - retention`; how many (also counted in
/// `palisade_audit_pruned_total`). Several instances running it at once is harmless.
pub async fn retention_step(
    store: &dyn AuditStore,
    step: RetentionStep,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let before = now_ms.saturating_sub(step.retention.as_millis() as i64);
    let mut total = 0;
    for _ in 0..step.max_batches {
        let n = store.audit_prune(before, step.batch).await?;
        total += n;
        crate::metrics::pruned(n);
        if n < u64::from(step.batch) {
            break;
        }
    }
    Ok(total)
}

/// The `audit_retention` maintenance task: [`retention_step`] on the store's records, timed by
/// `clock`, every `interval`.
#[derive(Debug, Clone)]
pub struct Retention {
    /// The trail's store.
    pub store: Arc<dyn AuditStore>,
    /// What one step may delete.
    pub step: RetentionStep,
    /// Time between steps (`audit.prune_interval`).
    pub interval: Duration,
    /// The clock "older than" is measured on.
    pub clock: SharedClock,
}

#[async_trait::async_trait]
impl Maintenance for Retention {
    fn name(&self) -> &'static str {
        "audit_retention"
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn step(&self) -> Result<u64, StoreError> {
        retention_step(&*self.store, self.step, self.clock.now_ms()).await
    }
}
