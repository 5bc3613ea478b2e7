//! A job stream's feed: the job's event log, read from an offset every
//! `realtime.job_poll_interval`, ending after the job finishes.

use palisade_core::TenantId;
use palisade_jobs::{JobError, JobEventKind, JobEvents, JobId, JobStore};
use palisade_realtime::{Close, Feed, Frame};
use std::sync::Arc;
use std::time::Duration;

/// Events of one job from an offset.
pub struct JobFeed {
    store: Arc<dyn JobStore>,
    tenant: TenantId,
    id: JobId,
    next: u64,
    interval: Duration,
    polled: bool,
    finished: bool,
}

impl JobFeed {
    /// The feed of job `id` from offset `from`, read every `interval`.
    pub fn new(
        store: Arc<dyn JobStore>,
        tenant: TenantId,
        id: JobId,
        from: u64,
        interval: Duration,
    ) -> Self {
        Self {
            store,
            tenant,
            id,
            next: from,
            interval,
            polled: false,
            finished: false,
        }
    }
}

fn is_final(kind: JobEventKind) -> bool {
    matches!(
        kind,
        JobEventKind::Completed | JobEventKind::Dead | JobEventKind::Cancelled
    )
}

#[async_trait::async_trait]
impl Feed for JobFeed {
    async fn next(&mut self) -> Result<Vec<Frame>, Close> {
        if self.finished {
            return Err(Close::JobFinished);
        }
        if self.polled {
            tokio::time::sleep(self.interval).await;
        }
        self.polled = true;
        let req = JobEvents {
            id: self.id.clone(),
            from: self.next,
            limit: 100,
        };
        let events = match self.store.job_events(&self.tenant, &req).await {
            Ok(events) => events,
            Err(JobError::NotFound) => return Err(Close::JobGone),
            Err(_) => return Err(Close::StoreFailed),
        };
        let mut frames = Vec::with_capacity(events.len());
        for e in events {
            self.next = e.seq + 1;
            self.finished |= is_final(e.kind);
            let data = serde_json::json!({
                "kind": e.kind.as_str(),
                "at_ms": e.at_ms,
                "data": e.data,
            });
            frames.push(Frame::data(e.seq, data.to_string()));
        }
        Ok(frames)
    }

    fn last_id(&self) -> Option<String> {
        self.next.checked_sub(1).map(|n| n.to_string())
    }
}
