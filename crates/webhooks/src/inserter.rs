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
/// order in which requests reached it (an ordered source's sequence).
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
    /// [`InboxStore::event_insert`] does, grouped with concurrent inserts. Should the writer
    /// be gone (a panic in the store ended it, rolling its transaction back), the event is
    /// written alone: the replay guard answers it as a duplicate if its group did commit.
    pub async fn insert(&self, event: Event, push: bool) -> Result<Inserted, WebhookError> {
        let (answer, answered) = oneshot::channel();
        if let Err(back) = self.tx.send((event.clone(), push, answer)) {
            let (event, push, _) = back.0;
            return self.store.event_insert(event, push).await;
        }
        match answered.await {
            Ok(r) => r,
            Err(_) => self.store.event_insert(event, push).await,
        }
    }
}

/// Takes what is waiting (up to [`MAX_GROUP`]) and writes it as one; when a group fails as a
/// whole, each of its events is written alone so each gets its own answer.
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
            let _ = answer.send(store.event_insert(event, push).await);
            continue;
        }
        let events: Vec<(Event, bool)> = group.iter().map(|(e, p, _)| (e.clone(), *p)).collect();
        match store.event_insert_many(events).await {
            Ok(done) if done.len() == group.len() => {
                for ((_, _, answer), d) in group.into_iter().zip(done) {
                    let _ = answer.send(Ok(d));
                }
            }
            _ => {
                for (event, push, answer) in group {
                    let _ = answer.send(store.event_insert(event, push).await);
                }
            }
        }
    }
}
