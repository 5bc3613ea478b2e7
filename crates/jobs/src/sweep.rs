//! The rescuer and retention as plain async steps, for the maintenance supervisor to run.

use crate::error::JobError;
use crate::params::{JobPrune, JobRescue, Rescued, MAX_BATCH};
use crate::store::JobStore;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Most batches one step takes, so a step stays bounded; the next run continues.
const MAX_BATCHES: usize = 10;

/// How long finished jobs are kept, per state; `None` keeps them forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Completed jobs (default 1 day).
    #[serde(default, with = "humantime_serde")]
    pub completed: Option<Duration>,
    /// Dead jobs (default 30 days).
    #[serde(default, with = "humantime_serde")]
    pub dead: Option<Duration>,
    /// Cancelled jobs (default 7 days).
    #[serde(default, with = "humantime_serde")]
    pub cancelled: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        let day = Duration::from_secs(86_400);
        Self {
            completed: Some(day),
            dead: Some(30 * day),
            cancelled: Some(7 * day),
        }
    }
}

fn ms(d: Option<Duration>) -> Option<i64> {
    d.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One rescuer run at `now_ms`: takes back every job whose lease ended (in bounded batches).
pub async fn rescue_step(store: &dyn JobStore, now_ms: i64) -> Result<Rescued, JobError> {
    let mut total = Rescued::default();
    for _ in 0..MAX_BATCHES {
        let req = JobRescue {
            now_ms,
            limit: MAX_BATCH,
        };
        let r = store.job_rescue(&req).await?;
        total.retried += r.retried;
        total.dead += r.dead;
        total.cancelled += r.cancelled;
        if r.total() < u64::from(MAX_BATCH) {
            break;
        }
    }
    Ok(total)
}

/// One retention run at `now_ms`: deletes finished jobs past `retention` (in bounded
/// batches); how many.
pub async fn prune_step(
    store: &dyn JobStore,
    retention: &Retention,
    now_ms: i64,
) -> Result<u64, JobError> {
    let req = JobPrune {
        now_ms,
        completed_ms: ms(retention.completed),
        dead_ms: ms(retention.dead),
        cancelled_ms: ms(retention.cancelled),
        limit: MAX_BATCH,
    };
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let n = store.job_prune(&req).await?;
        total += n;
        if n < u64::from(MAX_BATCH) {
            break;
        }
    }
    Ok(total)
}
