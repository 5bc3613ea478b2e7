//! The process's hub: routes fanned-out signals to the streams of this process, one broadcast
//! channel per open topic (removed with its last subscriber) and one for revocations.

use crate::fanout::Signal;
use crate::model::{Event, Revocation, TopicName};
use palisade_core::TenantId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast;

type Key = (TenantId, TopicName);

/// Routes events to the subscribers of their topic and revocations to every stream.
#[derive(Debug)]
pub struct Hub {
    topics: Mutex<HashMap<Key, broadcast::Sender<Arc<Event>>>>,
    revocations: broadcast::Sender<Arc<Revocation>>,
    resync: tokio::sync::watch::Sender<u64>,
    buffer: usize,
}

/// Revocations buffered per stream before it re-checks the store instead.
const REVOCATION_BUFFER: usize = 1024;

impl Hub {
    /// A hub whose subscribers may fall `buffer` events behind before they are dropped.
    pub fn new(buffer: usize) -> Arc<Self> {
        Arc::new(Self {
            topics: Mutex::default(),
            revocations: broadcast::channel(REVOCATION_BUFFER).0,
            resync: tokio::sync::watch::channel(0).0,
            buffer: buffer.max(1),
        })
    }

    /// Subscribes to `topic` of `tenant`; the subscription ends when dropped.
    pub fn subscribe(self: &Arc<Self>, tenant: &TenantId, topic: &TopicName) -> TopicSubscription {
        let key = (tenant.clone(), topic.clone());
        let mut g = self.topics.lock();
        let rx = g
            .entry(key.clone())
            .or_insert_with(|| broadcast::channel(self.buffer).0)
            .subscribe();
        TopicSubscription {
            rx: Some(rx),
            hub: self.clone(),
            key,
        }
    }

    /// Every revocation this process learns from now on.
    pub fn revocations(&self) -> broadcast::Receiver<Arc<Revocation>> {
        self.revocations.subscribe()
    }

    /// Tells every stream that signals may have been lost (a fan-out listener reconnected):
    /// each re-checks its token's revocation and reads what it missed from the store.
    pub fn resync(&self) {
        self.resync.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The resync signal, for one stream.
    pub fn resyncs(&self) -> tokio::sync::watch::Receiver<u64> {
        self.resync.subscribe()
    }

    /// Delivers a signal to this process's streams, recording its fan-out latency.
    pub fn dispatch(&self, signal: Signal, now_ms: i64) {
        match signal {
            Signal::Event {
                tenant,
                topic,
                event,
                sent_at_ms,
            } => {
                crate::metrics::fanout_latency(now_ms - sent_at_ms);
                let g = self.topics.lock();
                if let Some(tx) = g.get(&(tenant, topic)) {
                    let _ = tx.send(Arc::new(event));
                }
            }
            Signal::TopicDeleted { tenant, topic } => {
                // Dropping the sender ends every subscription of the topic.
                self.topics.lock().remove(&(tenant, topic));
            }
            Signal::Revoked { revocation } => {
                let _ = self.revocations.send(Arc::new(revocation));
            }
        }
    }

    /// Topics with at least one subscriber in this process.
    pub fn topics_open(&self) -> usize {
        self.topics.lock().len()
    }
}

/// One stream's subscription to a topic; dropping it removes the topic's channel when it was
/// the last.
#[derive(Debug)]
pub struct TopicSubscription {
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    hub: Arc<Hub>,
    key: Key,
}

impl TopicSubscription {
    /// The next event; `Lagged` when this subscriber fell a whole buffer behind.
    pub async fn recv(&mut self) -> Result<Arc<Event>, broadcast::error::RecvError> {
        match &mut self.rx {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for TopicSubscription {
    fn drop(&mut self) {
        let mut g = self.hub.topics.lock();
        drop(self.rx.take());
        if g.get(&self.key).is_some_and(|tx| tx.receiver_count() == 0) {
            g.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            at_ms: 0,
            data: "{}".into(),
        }
    }

    #[tokio::test]
    async fn routes_by_tenant_and_topic_and_cleans_up() {
        let hub = Hub::new(8);
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let topic = TopicName::parse("t").unwrap();
        let mut sa = hub.subscribe(&a, &topic);
        let sb = hub.subscribe(&b, &topic);
        assert_eq!(hub.topics_open(), 2);
        let signal = |t: &TenantId, seq| Signal::Event {
            tenant: t.clone(),
            topic: topic.clone(),
            event: ev(seq),
            sent_at_ms: 0,
        };
        hub.dispatch(signal(&a, 1), 0);
        assert_eq!(sa.recv().await.unwrap().seq, 1);
        drop(sb);
        assert_eq!(hub.topics_open(), 1);
        drop(sa);
        assert_eq!(hub.topics_open(), 0);
        hub.dispatch(signal(&a, 2), 0); // nobody listens: dropped, no channel created
        assert_eq!(hub.topics_open(), 0);
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_instead_of_growing() {
        let hub = Hub::new(2);
        let t = TenantId::generate();
        let topic = TopicName::parse("t").unwrap();
        let mut s = hub.subscribe(&t, &topic);
        for seq in 1..=5 {
            let event = ev(seq);
            hub.dispatch(
                Signal::Event {
                    tenant: t.clone(),
                    topic: topic.clone(),
                    event,
                    sent_at_ms: 0,
                },
                0,
            );
        }
        assert!(matches!(
            s.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }
}
