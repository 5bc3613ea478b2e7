//! What a stream reads: the [`Feed`] trait and the topic feed (live events, gaps filled from
//! the history).

use crate::hub::{Hub, TopicSubscription};
use crate::life::{Close, Frame};
use crate::model::{Event, HistoryBounds, TopicName, TopicRead};
use crate::store::RealtimeStore;
use palisade_core::{StoreError, TenantId};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// A source of frames for one stream.
#[async_trait::async_trait]
pub trait Feed: Send + 'static {
    /// The next frames (possibly none), or why the stream must end. Cancel-safe: a call
    /// dropped before it answers loses nothing.
    async fn next(&mut self) -> Result<Vec<Frame>, Close>;

    /// The id of the last event delivered (to resume after).
    fn last_id(&self) -> Option<String>;

    /// Frames that signals lost by the fan-out would have brought (read from the store).
    async fn resync(&mut self) -> Result<Vec<Frame>, Close> {
        Ok(Vec::new())
    }
}

/// A topic's events in id order, each once: live from the hub, and from the history when an
/// id was skipped (a lost fan-out message, or a resume).
pub struct TopicFeed {
    sub: TopicSubscription,
    store: Arc<dyn RealtimeStore>,
    tenant: TenantId,
    topic: TopicName,
    bounds: HistoryBounds,
    last: u64,
}

impl TopicFeed {
    /// Subscribes, then reads the history after `after` (none: starts at the latest event);
    /// the feed and the frames to send first.
    pub async fn open(
        hub: &Arc<Hub>,
        store: Arc<dyn RealtimeStore>,
        tenant: TenantId,
        topic: TopicName,
        bounds: HistoryBounds,
        after: Option<u64>,
    ) -> Result<(Self, Vec<Frame>), StoreError> {
        let sub = hub.subscribe(&tenant, &topic);
        let mut feed = Self {
            sub,
            store,
            tenant,
            topic,
            bounds,
            last: 0,
        };
        let first = match after {
            None => {
                feed.last = feed.read(0, 0).await?.last_seq;
                Vec::new()
            }
            Some(after) => {
                feed.last = after;
                feed.catch_up().await?
            }
        };
        Ok((feed, first))
    }

    async fn read(&self, after: u64, limit: u32) -> Result<TopicRead, StoreError> {
        self.store
            .topic_read(&self.tenant, &self.topic, after, limit, self.bounds)
            .await
    }

    /// The kept events after `self.last` (a `gap` first when some are no longer kept).
    async fn catch_up(&mut self) -> Result<Vec<Frame>, StoreError> {
        let limit = self.bounds.max_events.min(u32::MAX as u64) as u32;
        let read = self.read(self.last, limit).await?;
        let mut frames = Vec::with_capacity(read.events.len() + 1);
        if read.gap {
            frames.push(Frame::gap(Some(self.last)));
        }
        if read.gap && read.events.is_empty() {
            self.last = read.last_seq;
        }
        for e in read.events {
            self.push(&mut frames, &e);
        }
        Ok(frames)
    }

    fn push(&mut self, frames: &mut Vec<Frame>, e: &Event) {
        if e.seq > self.last {
            self.last = e.seq;
            frames.push(Frame::data(e.seq, e.data.clone()));
        }
    }
}

#[async_trait::async_trait]
impl Feed for TopicFeed {
    async fn next(&mut self) -> Result<Vec<Frame>, Close> {
        let ev = match self.sub.recv().await {
            Ok(ev) => ev,
            Err(RecvError::Lagged(_)) => return Err(Close::SlowConsumer),
            // The hub drops a topic's channel only when the topic is deleted.
            Err(RecvError::Closed) => return Err(Close::TopicDeleted),
        };
        let mut frames = Vec::new();
        if ev.seq > self.last + 1 {
            // Skipped ids: fill them from the history, then this event if still newer.
            frames = self.catch_up().await.map_err(|_| Close::StoreFailed)?;
        }
        self.push(&mut frames, &ev);
        Ok(frames)
    }

    fn last_id(&self) -> Option<String> {
        (self.last > 0).then(|| self.last.to_string())
    }

    async fn resync(&mut self) -> Result<Vec<Frame>, Close> {
        self.catch_up().await.map_err(|_| Close::StoreFailed)
    }
}
