//! The test handlers: `noop` (nothing), `sleep` (waits, then records its effect) and `batch`
//! (N items with a checkpoint after each, resuming from the last checkpoint).

use crate::db::Db;
use palisade_jobs::{HandlerError, JobContext, JobHandler};
use std::time::Duration;

/// Does nothing: the trivial job of the benchmark.
#[derive(Debug)]
pub struct Noop;

#[async_trait::async_trait]
impl JobHandler for Noop {
    async fn run(&self, _ctx: JobContext) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// Sleeps `payload.ms` (stopping early when the attempt is cancelled), then records one
/// `job_effects` row with its token and worker id.
#[derive(Debug)]
pub struct Sleep {
    /// Where the effect goes.
    pub db: Db,
    /// This process's worker id.
    pub worker: String,
}

#[async_trait::async_trait]
impl JobHandler for Sleep {
    async fn run(&self, ctx: JobContext) -> Result<(), HandlerError> {
        let ms = ctx.payload()["ms"].as_u64().unwrap_or(0);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = ctx.cancelled() => return Err(HandlerError::retry("cancelled")),
        }
        let sql = "INSERT INTO job_effects (token, job_id, worker) VALUES ($1, $2, $3)";
        let token = ctx.token() as i64;
        let texts = [ctx.job().id.as_str(), self.worker.as_str()];
        self.db
            .exec(sql, &[token], &texts)
            .await
            .map_err(|_| HandlerError::retry("effect not recorded"))?;
        Ok(())
    }
}

/// Processes items `0 .. payload.items` in order, `payload.delay_ms` apart, saving the next
/// item as the checkpoint (`{"next": i}`) after each one; a retried attempt starts from the
/// last checkpoint.
///
/// # Exactly once
///
/// An item's effect (`batch_items`: `UNIQUE(item)`, `count` incremented on every
/// application) and the checkpoint are two commits, effect first. A crash between them leaves
/// exactly one item — the checkpoint's `next` — whose effect committed without its
/// checkpoint; no other item can disagree, because items run in order and the checkpoint is
/// saved before the next item starts. So an attempt that resumes first looks that one item up
/// in `batch_items` (by item and job) and skips it when its effect is already there. Every
/// item's effect is then applied exactly once, which the test reads back as 2,000 rows, all
/// with `count = 1`. The fencing token keeps a second, stale attempt out: its checkpoint is
/// refused (lease lost), and it stops at once.
#[derive(Debug)]
pub struct Batch {
    /// Where the effects go.
    pub db: Db,
}

impl Batch {
    async fn effect(&self, item: i64, job: &str) -> Result<(), HandlerError> {
        let sql = "INSERT INTO batch_items (item, job_id, count) VALUES ($1, $2, 1)
            ON CONFLICT (item) DO UPDATE SET count = batch_items.count + 1";
        self.db
            .exec(sql, &[item], &[job])
            .await
            .map(drop)
            .map_err(|_| HandlerError::retry("effect not recorded"))
    }

    /// Whether `item`'s effect of `job` already committed (the one item a crash can leave
    /// ahead of the checkpoint).
    async fn done(&self, item: i64, job: &str) -> Result<bool, HandlerError> {
        let sql = "SELECT count(*) FROM batch_items WHERE item = $1 AND job_id = $2";
        let n = self.db.scalar(sql, &[item], &[job]).await;
        n.map(|n| n > 0)
            .map_err(|_| HandlerError::retry("effects unreadable"))
    }
}

#[async_trait::async_trait]
impl JobHandler for Batch {
    async fn run(&self, ctx: JobContext) -> Result<(), HandlerError> {
        let items = ctx.payload()["items"].as_i64().unwrap_or(0);
        let delay = ctx.payload()["delay_ms"].as_u64().unwrap_or(0);
        let job = ctx.job().id.as_str().to_owned();
        let mut next = ctx
            .checkpoint()
            .and_then(|c| c["next"].as_i64())
            .unwrap_or(0);
        let start = "INSERT INTO batch_starts (from_item, token, job_id) VALUES ($1, $2, $3)";
        let token = ctx.token() as i64;
        self.db
            .exec(start, &[next, token], &[&job])
            .await
            .map_err(|_| HandlerError::retry("start not recorded"))?;
        if next < items && self.done(next, &job).await? {
            next += 1;
        }
        while next < items {
            if ctx.is_cancelled() {
                return Err(HandlerError::retry("cancelled"));
            }
            self.effect(next, &job).await?;
            next += 1;
            ctx.checkpoint_save(serde_json::json!({ "next": next }))
                .await
                .map_err(|_| HandlerError::retry("checkpoint refused"))?;
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
        }
        Ok(())
    }
}
