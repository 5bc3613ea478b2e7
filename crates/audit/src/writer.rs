//! The durable audit sink: a bounded queue and one task that appends batches to the store.

use crate::metrics;
use crate::model::AuditRecord;
use crate::settings::AuditSettings;
use crate::store::AuditStore;
use palisade_core::audit::{AuditEvent, AuditSink};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Attempts of one batch append before its records are dropped (and counted).
const ATTEMPTS: u32 = 4;
/// Wait before the first retry; doubled for each next one.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// An [`AuditSink`] that queues records (never waiting) and writes them in batches from one
/// background task: a batch is written when it is full or `flush_interval` after its first
/// record. [`Self::close`] stops it after writing everything queued.
#[derive(Debug)]
pub struct AuditWriter {
    tx: mpsc::Sender<AuditRecord>,
    stop: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl AuditWriter {
    /// Starts the writer task on the current runtime with `settings`' queue capacity, batch
    /// size and flush interval.
    pub fn start(store: Arc<dyn AuditStore>, settings: &AuditSettings) -> Self {
        let (tx, rx) = mpsc::channel(settings.queue_capacity.max(1));
        let stop = CancellationToken::new();
        let batching = Batching {
            size: settings.batch.max(1),
            flush_interval: settings.flush_interval,
        };
        let task = tokio::spawn(run(store, rx, batching, stop.clone()));
        Self {
            tx,
            stop,
            task: Mutex::new(Some(task)),
        }
    }

    /// Stops accepting events, writes every queued one, and ends the task. Events recorded
    /// after this are dropped (counted with reason `closed`). Calling it again does nothing.
    pub async fn close(&self) {
        self.stop.cancel();
        let task = self.task.lock().take();
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "audit writer task failed");
            }
        }
    }
}

impl AuditSink for AuditWriter {
    fn audit_record(&self, event: AuditEvent) {
        let kind = event.kind;
        metrics::recorded(kind);
        match self.tx.try_send(AuditRecord::from_event(event)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => metrics::dropped(kind, "full"),
            Err(mpsc::error::TrySendError::Closed(_)) => metrics::dropped(kind, "closed"),
        }
    }
}

/// When the writer writes.
#[derive(Debug, Clone, Copy)]
struct Batching {
    /// Records per append at most.
    size: usize,
    /// Longest wait, from a batch's first record, for the batch to fill.
    flush_interval: Duration,
}

/// The writer loop: gathers batches and appends them; on stop, closes the queue and drains it.
async fn run(
    store: Arc<dyn AuditStore>,
    mut rx: mpsc::Receiver<AuditRecord>,
    batching: Batching,
    stop: CancellationToken,
) {
    let size = batching.size;
    let mut buf = Vec::with_capacity(size);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            n = rx.recv_many(&mut buf, size) => {
                if n == 0 {
                    return;
                }
            }
        }
        fill(&mut rx, &mut buf, batching, &stop).await;
        write(&*store, &mut buf).await;
    }
    rx.close();
    while rx.recv_many(&mut buf, size).await > 0 {
        write(&*store, &mut buf).await;
    }
}

/// Adds records to `buf` until it is full, `flush_interval` passed, the queue closed or the
/// writer is stopping.
async fn fill(
    rx: &mut mpsc::Receiver<AuditRecord>,
    buf: &mut Vec<AuditRecord>,
    batching: Batching,
    stop: &CancellationToken,
) {
    let deadline = tokio::time::Instant::now() + batching.flush_interval;
    while buf.len() < batching.size {
        let room = batching.size - buf.len();
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(deadline) => return,
            n = rx.recv_many(buf, room) => {
                if n == 0 {
                    return;
                }
            }
        }
    }
}

/// Appends `buf` (retrying a failing store with backoff), then empties it.
async fn write(store: &dyn AuditStore, buf: &mut Vec<AuditRecord>) {
    let mut wait = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        match store.audit_append(buf).await {
            Ok(()) => {
                buf.clear();
                return;
            }
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "audit append failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, records = buf.len(), "audit append failed; dropping");
            }
        }
    }
    for r in buf.drain(..) {
        metrics::dropped(r.kind, "store");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditQuery, MemoryAuditStore};
    use palisade_core::audit::AuditEventType;
    use palisade_core::TenantId;

    fn settings(queue_capacity: usize, batch: usize, flush_interval: Duration) -> AuditSettings {
        AuditSettings {
            queue_capacity,
            batch,
            flush_interval,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn close_writes_everything_queued() {
        let store = Arc::new(MemoryAuditStore::default());
        // Batches of 7 and an hour's flush interval: most records are still queued at close.
        let w = AuditWriter::start(
            store.clone(),
            &settings(1_000, 7, Duration::from_secs(3_600)),
        );
        let t = TenantId::generate();
        for i in 0..100 {
            w.audit_record(AuditEvent::new(AuditEventType::KeyCreated).tenant(&t).at(i));
        }
        w.close().await;
        w.audit_record(AuditEvent::new(AuditEventType::KeyCreated).tenant(&t));
        let q = AuditQuery {
            limit: 200,
            ..Default::default()
        };
        assert_eq!(store.audit_list(&t, &q).await.unwrap().items.len(), 100);
    }

    #[tokio::test]
    async fn a_full_queue_drops_instead_of_waiting() {
        let store = Arc::new(MemoryAuditStore::default());
        // A current-thread runtime: the writer cannot run while this test records.
        let w = AuditWriter::start(store.clone(), &settings(3, 10, Duration::ZERO));
        let t = TenantId::generate();
        for _ in 0..10 {
            w.audit_record(AuditEvent::new(AuditEventType::AuthFailure).tenant(&t));
        }
        w.close().await;
        let page = store.audit_list(&t, &AuditQuery::default()).await.unwrap();
        assert_eq!(page.items.len(), 3);
    }

    #[tokio::test]
    async fn a_partial_batch_is_written_after_the_flush_interval() {
        let store = Arc::new(MemoryAuditStore::default());
        let w = AuditWriter::start(store.clone(), &settings(100, 50, Duration::from_millis(20)));
        let t = TenantId::generate();
        w.audit_record(AuditEvent::new(AuditEventType::KeyRevoked).tenant(&t));
        let q = AuditQuery::default();
        let mut written = false;
        for _ in 0..500 {
            if !store.audit_list(&t, &q).await.unwrap().items.is_empty() {
                written = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            written,
            "a lone record is written without waiting for close"
        );
        w.close().await;
    }
}
