//! Wake-ups of waiting leases and cancels: a signal per queue (a job became due) and per job
//! (a running job stopped), fed by this process's changes and by the store's notifications.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::watch;

/// Past this many topics, subscribing drops the topics nobody waits on any more.
const PRUNE_AT: usize = 1_024;

/// What a wait is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A job of this queue became due (enqueue, re-drive, release).
    Due(String),
    /// The running job with this id stopped (completed, failed, released).
    Stopped(String),
}

#[derive(Default)]
struct Inner {
    topics: Mutex<HashMap<Topic, watch::Sender<u64>>>,
    sources: Mutex<Vec<Box<dyn std::any::Any + Send + Sync>>>,
}

/// The wake-up signals of one process. A waiter subscribes ([`Wakeups::waiter`]) *before* it
/// looks at the store, so a wake-up between its look and its wait is never missed. A wake-up
/// only makes waiters look again: every waiter also polls, so a lost one costs a poll
/// interval, never a job. Cheap to clone.
#[derive(Clone, Default)]
pub struct Wakeups(Arc<Inner>);

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.topics.lock().map(|t| t.len()).unwrap_or_default();
        f.debug_struct("Wakeups").field("topics", &n).finish()
    }
}

/// A subscription to one topic ([`Wakeups::waiter`]).
#[derive(Debug)]
pub struct Waiter(watch::Receiver<u64>);

impl Waiter {
    /// Resolves at the next wake-up of the topic after the subscription (or the last wait).
    pub async fn wait(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A handle that wakes without keeping the signals alive (for a notification listener that
/// the signals themselves keep, see [`Wakeups::keep`]).
#[derive(Clone, Debug)]
pub struct WeakWakeups(Weak<Inner>);

impl WeakWakeups {
    /// Wakes `topic`'s waiters; false once the signals are gone (the listener should stop).
    pub fn wake(&self, topic: &Topic) -> bool {
        match self.0.upgrade() {
            Some(inner) => {
                Wakeups(inner).wake(topic);
                true
            }
            None => false,
        }
    }
}

impl Wakeups {
    /// Signals with no waiters yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes to `topic`: the returned waiter resolves at the next wake-up.
    pub fn waiter(&self, topic: Topic) -> Waiter {
        let mut topics = self.0.topics.lock().unwrap_or_else(|e| e.into_inner());
        if topics.len() >= PRUNE_AT {
            topics.retain(|_, tx| tx.receiver_count() > 0);
        }
        let tx = topics.entry(topic).or_insert_with(|| watch::channel(0).0);
        Waiter(tx.subscribe())
    }

    /// Wakes every waiter of `topic` (nothing when none waits).
    pub fn wake(&self, topic: &Topic) {
        let mut topics = self.0.topics.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = topics.get(topic) {
            match tx.receiver_count() {
                0 => {
                    topics.remove(topic);
                }
                _ => tx.send_modify(|n| *n = n.wrapping_add(1)),
            }
        }
    }

    /// A handle that wakes these signals without keeping them alive.
    pub fn downgrade(&self) -> WeakWakeups {
        WeakWakeups(Arc::downgrade(&self.0))
    }

    /// Keeps `source` (e.g. a notification listener feeding these signals) as long as the
    /// signals live.
    pub fn keep(&self, source: impl std::any::Any + Send + Sync) {
        let mut s = self.0.sources.lock().unwrap_or_else(|e| e.into_inner());
        s.push(Box::new(source));
    }

    /// How many topics are tracked (for tests of the bound).
    pub fn topics(&self) -> usize {
        self.0.topics.lock().map(|t| t.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn due(q: &str) -> Topic {
        Topic::Due(q.to_owned())
    }

    #[tokio::test]
    async fn a_wake_after_subscribing_is_never_missed_and_wakes_every_waiter() {
        let w = Wakeups::new();
        let (mut a, mut b) = (w.waiter(due("q")), w.waiter(due("q")));
        let mut other = w.waiter(due("r"));
        w.wake(&due("q"));
        let both = async {
            a.wait().await;
            b.wait().await;
        };
        tokio::time::timeout(Duration::from_secs(5), both)
            .await
            .expect("both woken");
        let missed = tokio::time::timeout(Duration::from_millis(50), other.wait()).await;
        assert!(missed.is_err(), "another queue's waiter sleeps on");
    }

    #[tokio::test]
    async fn topics_without_waiters_are_dropped() {
        let w = Wakeups::new();
        for i in 0..PRUNE_AT + 10 {
            drop(w.waiter(due(&i.to_string())));
        }
        assert!(w.topics() <= PRUNE_AT + 1, "{}", w.topics());
        let weak = w.downgrade();
        assert!(weak.wake(&due("0")));
        drop(w);
        assert!(!weak.wake(&due("0")), "gone with the signals");
    }
}
