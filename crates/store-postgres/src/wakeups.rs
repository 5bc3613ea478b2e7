//! Job wake-ups: `LISTEN` on the enqueue channel, waking the idle workers of a queue at once;
//! polling stays the fallback whenever notifications do not arrive.

use palisade_store_sql::JOB_CHANNEL;
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

type Queues = Arc<Mutex<HashMap<String, Arc<Notify>>>>;

/// Wakes idle in-process workers when a job of their queue is enqueued in this store's schema
/// (the enqueue transaction's `pg_notify`, delivered at its commit).
///
/// The listener holds one pooled connection in `LISTEN`. Behind PgBouncer in transaction
/// mode `LISTEN` is silently useless (the next statement may run on another server
/// connection), so a deployment there uses [`JobWakeups::polling`] and workers poll. A
/// notification lost while the listener reconnects only delays a job to the next poll.
#[derive(Debug, Default)]
pub struct JobWakeups {
    queues: Queues,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl JobWakeups {
    /// No listener: workers poll only.
    pub fn polling() -> Self {
        Self::default()
    }

    /// Listens on `store`'s pool; when `LISTEN` fails it logs a warning and falls back to
    /// polling ([`JobWakeups::polling`]).
    pub async fn listen(store: &crate::PgStore) -> Self {
        let pool = store.pool();
        let schema = sqlx::query_scalar::<_, String>("SELECT current_schema()")
            .fetch_one(pool)
            .await;
        let listener = match PgListener::connect_with(pool).await {
            Ok(mut l) => l.listen(JOB_CHANNEL).await.map(|()| l),
            Err(e) => Err(e),
        };
        match (schema, listener) {
            (Ok(schema), Ok(listener)) => {
                let queues = Queues::default();
                let task = tokio::spawn(run(listener, schema, queues.clone()));
                Self {
                    queues,
                    task: Some(task),
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "jobs: LISTEN unavailable, workers poll");
                Self::polling()
            }
        }
    }

    /// True while a listener runs (false: polling only).
    pub fn is_listening(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// The signal of `queue`'s enqueues, for `palisade_jobs::Worker::wake_on`.
    pub fn queue(&self, queue: &str) -> Arc<Notify> {
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.entry(queue.to_owned()).or_default().clone()
    }
}

impl Drop for JobWakeups {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Receives notifications until dropped; `<schema>/<queue>` of this schema wakes the queue.
async fn run(mut listener: PgListener, schema: String, queues: Queues) {
    loop {
        match listener.recv().await {
            Ok(n) => {
                let Some((s, queue)) = n.payload().split_once('/') else {
                    continue;
                };
                if s != schema {
                    continue;
                }
                let q = queues.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(w) = q.get(queue) {
                    w.notify_one();
                }
            }
            Err(e) => {
                // The listener reconnects at the next recv; meanwhile workers poll.
                tracing::warn!(error = %e, "jobs: LISTEN connection lost, reconnecting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
