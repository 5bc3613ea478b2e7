//! [`Inserter`]: ingress's durable inserts, grouped. Requests that arrive while a write is
//! under way are stored together in the next one ([`InboxStore::event_insert_many`]: one
//! transaction, one commit), each answered only once that commit is done.

use crate::error::WebhookError;
use crate::model::Event;
use crate::params::Inserted;
use crate::store::InboxStore;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most events in one write.
const MAX_GROUP: usize = 64;

type Pending = (Event, bool, oneshot::Sender<Result<Inserted, WebhookError>>);

/// Groups concurrent inserts into one write. One writer task: successive writes keep the
/// order in which requests reached it (an ordered source's sequence). Each store call runs in a
/// task of its own, so a panic in the store fails that call only, never the writer.
#[derive(Debug, Clone)]
pub struct Inserter {
    tx: mpsc::UnboundedSender<Pending>,
    store: Arc<dyn InboxStore>,
}

impl Inserter {
    /// Starts the writer over `store` (in the current tokio runtime); it ends when the last
    /// clone of this inserter is dropped, after answering what it holds.
    pub fn start(store: Arc<dyn InboxStore>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_groups(store.clone(), rx));
        Self { tx, store }
    }

    /// Stores `event` (with its delivery job when `push`) as
    /// [`InboxStore::event_insert`] does, grouped with concurrent inserts (alone when the
    /// writer is gone: the runtime is shutting down).
    pub async fn insert(&self, event: Event, push: bool) -> Result<Inserted, WebhookError> {
        let (answer, answered) = oneshot::channel();
        if let Err(back) = self.tx.send((event, push, answer)) {
            let (event, push, _) = back.0;
            return alone(&self.store, event, push).await;
        }
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// The answer of a store call that panicked (its transaction rolled back).
fn stopped() -> WebhookError {
    WebhookError::Store(palisade_core::StoreError::Unavailable(
        "webhooks: the insert failed".into(),
    ))
}

/// [`InboxStore::event_insert`] in a task of its own.
async fn alone(
    store: &Arc<dyn InboxStore>,
    event: Event,
    push: bool,
) -> Result<Inserted, WebhookError> {
    let s = store.clone();
    tokio::spawn(async move { s.event_insert(event, push).await })
        .await
        .unwrap_or_else(|_| Err(stopped()))
}

/// Takes what is waiting (up to [`MAX_GROUP`]) and writes it as one; when a group fails as a
/// whole (an error, or a panic), each of its events is written alone so each gets its own
/// answer (the replay guard answers a duplicate if the group did commit).
async fn write_groups(store: Arc<dyn InboxStore>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        if group.len() == 1 {
            let (event, push, answer) = group.pop().expect("one");
            let _ = answer.send(alone(&store, event, push).await);
            continue;
        }
        let events: Vec<(Event, bool)> = group.iter().map(|(e, p, _)| (e.clone(), *p)).collect();
        let s = store.clone();
        match tokio::spawn(async move { s.event_insert_many(events).await }).await {
            Ok(Ok(done)) if done.len() == group.len() => {
                for ((_, _, answer), d) in group.into_iter().zip(done) {
                    let _ = answer.send(Ok(d));
                }
            }
            _ => {
                for (event, push, answer) in group {
                    let _ = answer.send(alone(&store, event, push).await);
                }
            }
        }
    }
}
