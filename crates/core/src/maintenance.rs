//! Background work of every capability: one contract ([`Maintenance`]) and one [`Supervisor`].
//!
//! A capability's runtime hands its periodic work (purging expired state, following a change
//! feed, sweeping entries; later rescuing jobs, firing cron, delivering webhooks) to the
//! process's supervisor as [`Maintenance`] tasks. The supervisor runs each on its interval,
//! logs and counts every run in `palisade_maintenance_runs_total{task,result}`, backs off
//! while a task fails, and stops them all when its cancellation token fires.

mod supervisor;

pub use supervisor::{Backoff, Supervisor, RUNS};

use crate::StoreError;
use std::time::Duration;

/// One periodic background task of a capability.
///
/// The supervisor sleeps [`Maintenance::interval`] between the end of one step and the start
/// of the next (longer while steps fail, see [`Backoff`]). A step runs to completion once
/// started: keep each step short (bounded batches), as shutdown waits for it only until the
/// shutdown deadline.
#[async_trait::async_trait]
pub trait Maintenance: Send + Sync + 'static {
    /// The task's name: a static, bounded metric label (`ratelimit_feed_sync`).
    fn name(&self) -> &'static str;

    /// The pause between two steps when the last one succeeded.
    fn interval(&self) -> Duration;

    /// Does one round of work; returns how many items it handled (rows deleted, changes
    /// applied, …).
    async fn step(&self) -> Result<u64, StoreError>;
}
