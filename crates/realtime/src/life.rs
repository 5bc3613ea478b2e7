//! The life of one stream: frames, close reasons, the open-stream guard, and the driver that
//! ends a stream on expiry, revocation, lifetime, slow consumption or shutdown.

use crate::feed::Feed;
use crate::model::Revocation;
use crate::store::RealtimeStore;
use crate::token::Claims;
use futures::Stream;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a stream reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// A tenant topic.
    Topic,
    /// A job's event log.
    Job,
}

impl StreamKind {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Topic => "topic",
            Self::Job => "job",
        }
    }
}

/// One message of a stream: an event (with an id), a `gap`, or the final `close`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The event id (`Last-Event-ID` resumes after it); none for `gap` and `close`.
    pub id: Option<String>,
    /// The event name; `None` for data events (SSE `message`).
    pub event: Option<&'static str>,
    /// The JSON text.
    pub data: String,
}

impl Frame {
    /// A data event.
    pub fn data(id: u64, data: String) -> Self {
        Self {
            id: Some(id.to_string()),
            event: None,
            data,
        }
    }

    /// A `gap`: events after `after` are no longer kept; reload state, then follow on.
    pub fn gap(after: Option<u64>) -> Self {
        let data = serde_json::json!({ "reason": "history-exceeded", "after": after });
        Self {
            id: None,
            event: Some("gap"),
            data: data.to_string(),
        }
    }

    /// The final frame: why the stream ends and the id to resume after.
    pub fn close(reason: Close, last_id: Option<String>) -> Self {
        let data = serde_json::json!({
            "reason": reason.as_str(),
            "last_event_id": last_id,
            "reconnect": reason.reconnect(),
        });
        Self {
            id: None,
            event: Some("close"),
            data: data.to_string(),
        }
    }
}

/// Why a stream ended (a bounded metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// The token expired: reconnect with a new token and `Last-Event-ID`.
    TokenExpired,
    /// The token or its principal was revoked.
    Revoked,
    /// The stream reached `realtime.max_stream_lifetime`: reconnect.
    MaxLifetime,
    /// The client fell a whole buffer behind.
    SlowConsumer,
    /// The server is shutting down: reconnect (to another instance).
    Shutdown,
    /// The job finished; its log is complete.
    JobFinished,
    /// The job is gone (deleted, or pruned after it finished).
    JobGone,
    /// The topic was deleted.
    TopicDeleted,
    /// The store failed: reconnect later.
    StoreFailed,
    /// No event was delivered for `realtime.idle_timeout`: reconnect when needed.
    Idle,
}

impl Close {
    /// The reason's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenExpired => "token-expired",
            Self::Revoked => "revoked",
            Self::MaxLifetime => "max-lifetime",
            Self::SlowConsumer => "slow-consumer",
            Self::Shutdown => "shutdown",
            Self::JobFinished => "job-finished",
            Self::JobGone => "job-gone",
            Self::TopicDeleted => "topic-deleted",
            Self::StoreFailed => "store-failed",
            Self::Idle => "idle",
        }
    }

    /// What the client should do: `new-token`, `retry`, or `none`.
    pub fn reconnect(self) -> &'static str {
        match self {
            Self::TokenExpired => "new-token",
            Self::Revoked | Self::JobFinished | Self::JobGone | Self::TopicDeleted => "none",
            _ => "retry",
        }
    }
}

/// Counts one open stream while it lives: the open-streams gauge goes up on creation and down
/// when dropped, with the close reason (`client-gone` when the client left first).
#[derive(Debug)]
pub struct OpenStream {
    kind: StreamKind,
    reason: Option<&'static str>,
}

impl OpenStream {
    /// Counts a stream of `kind` as open.
    pub fn new(kind: StreamKind) -> Self {
        crate::metrics::opened(kind.as_str());
        Self { kind, reason: None }
    }

    fn close(&mut self, reason: Close) {
        self.reason = Some(reason.as_str());
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        crate::metrics::closed(self.kind.as_str(), self.reason.unwrap_or("client-gone"));
    }
}

/// What ends a stream besides its feed.
pub(crate) struct Life {
    pub claims: Claims,
    pub revocations: broadcast::Receiver<Arc<Revocation>>,
    pub resync: tokio::sync::watch::Receiver<u64>,
    pub ends_at: Instant,
    pub on_end: Close,
    pub shutdown: CancellationToken,
    pub store: Arc<dyn RealtimeStore>,
    /// The stream closes when no event was delivered for this long.
    pub idle: std::time::Duration,
    /// The stream's cluster-wide slot, released when the stream is dropped.
    pub _slot: Option<crate::slots::SlotGuard>,
}

struct State<F> {
    feed: F,
    life: Life,
    guard: OpenStream,
    pending: VecDeque<Frame>,
    done: bool,
    /// When the stream closes as idle unless an event is delivered first.
    idle_at: Instant,
}

/// The stream of `feed` under `life`: `first` frames, then the feed's, then one `close`.
/// Dropping it (client gone, write error) releases everything it holds.
pub(crate) fn drive<F: Feed>(
    feed: F,
    life: Life,
    guard: OpenStream,
    first: Vec<Frame>,
) -> impl Stream<Item = Frame> + Send + 'static {
    let idle_at = Instant::now() + life.idle;
    let state = State {
        feed,
        life,
        guard,
        pending: first.into(),
        done: false,
        idle_at,
    };
    futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(f) = s.pending.pop_front() {
                if f.id.is_some() {
                    crate::metrics::delivered(s.guard.kind.as_str(), 1);
                    s.idle_at = Instant::now() + s.life.idle;
                }
                return Some((f, s));
            }
            if s.done {
                return None;
            }
            match s.step().await {
                Ok(frames) => s.pending.extend(frames),
                Err(reason) => {
                    s.guard.close(reason);
                    s.pending.push_back(Frame::close(reason, s.feed.last_id()));
                    s.done = true;
                }
            }
        }
    })
}

impl<F: Feed> State<F> {
    /// Waits for the feed's next frames or the end of the stream's life.
    async fn step(&mut self) -> Result<Vec<Frame>, Close> {
        let life = &mut self.life;
        let resync = tokio::select! {
            biased;
            _ = life.shutdown.cancelled() => return Err(Close::Shutdown),
            _ = tokio::time::sleep_until(life.ends_at) => return Err(life.on_end),
            _ = tokio::time::sleep_until(self.idle_at) => return Err(Close::Idle),
            r = life.revocations.recv() => match r {
                Ok(rev) if rev.covers(&life.claims) => return Err(Close::Revoked),
                Ok(_) => return Ok(Vec::new()),
                // Missed revocations: ask the store.
                Err(broadcast::error::RecvError::Lagged(_)) => false,
                Err(broadcast::error::RecvError::Closed) => return Err(Close::Shutdown),
            },
            Ok(()) = life.resync.changed() => true,
            r = self.feed.next() => return r,
        };
        match self.life.store.revocation_check(&self.life.claims).await {
            Ok(false) if resync => self.feed.resync().await,
            Ok(false) => Ok(Vec::new()),
            Ok(true) => Err(Close::Revoked),
            Err(_) => Err(Close::StoreFailed),
        }
    }
}
