//! Job wake-ups: `LISTEN` on the enqueue and job-stop channels, waking the idle workers,
//! waiting leases and waiting cancels at once; polling stays the fallback whenever
//! notifications do not arrive.

use palisade_jobs::{Topic, Wakeups, WeakWakeups};
use palisade_store_sql::{JOB_CHANNEL, JOB_STOP_CHANNEL};
use sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

type Queues = Arc<Mutex<HashMap<String, Arc<Notify>>>>;

/// Wakes idle in-process workers when a job of their queue is enqueued in this store's schema
/// (the enqueue transaction's `pg_notify`, delivered at its commit), and — when it feeds a
/// [`Wakeups`] ([`JobWakeups::feed`]) — the HTTP workers' waiting leases and the waiting
/// cancels of this process.
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
        Self::listen_into(store, None).await
    }

    /// Listens on `store`'s pool and wakes `wakeups` (its `Due` topic per enqueued queue, its
    /// `Stopped` topic per stopped job); the listener lives as long as `wakeups`. False when
    /// `LISTEN` failed (then waiters poll).
    pub async fn feed(store: &crate::PgStore, wakeups: &Wakeups) -> bool {
        let me = Self::listen_into(store, Some(wakeups.downgrade())).await;
        let listening = me.is_listening();
        wakeups.keep(me);
        listening
    }

    async fn listen_into(store: &crate::PgStore, hub: Option<WeakWakeups>) -> Self {
        let pool = store.pool();
        let schema = sqlx::query_scalar::<_, String>("SELECT current_schema()")
            .fetch_one(pool)
            .await;
        let listener = match PgListener::connect_with(pool).await {
            Ok(mut l) => l
                .listen_all([JOB_CHANNEL, JOB_STOP_CHANNEL])
                .await
                .map(|()| l),
            Err(e) => Err(e),
        };
        match (schema, listener) {
            (Ok(schema), Ok(listener)) => {
                let queues = Queues::default();
                let task = tokio::spawn(run(listener, schema, queues.clone(), hub));
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

/// Receives notifications until dropped (or until the fed wake-ups are gone);
/// `<schema>/<queue>` and `<schema>/<job id>` of this schema wake their waiters.
async fn run(mut listener: PgListener, schema: String, queues: Queues, hub: Option<WeakWakeups>) {
    loop {
        match listener.recv().await {
            Ok(n) => {
                let Some((s, name)) = n.payload().split_once('/') else {
                    continue;
                };
                if s != schema {
                    continue;
                }
                if n.channel() == JOB_STOP_CHANNEL {
                    let topic = Topic::Stopped(name.to_owned());
                    if hub.as_ref().is_some_and(|h| !h.wake(&topic)) {
                        return;
                    }
                    continue;
                }
                if let Some(w) = queues.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
                    w.notify_one();
                }
                if hub
                    .as_ref()
                    .is_some_and(|h| !h.wake(&Topic::Due(name.to_owned())))
                {
                    return;
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
