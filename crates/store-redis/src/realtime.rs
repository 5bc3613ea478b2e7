//! Realtime fan-out over Redis pub/sub: every instance's hub gets every signal any instance
//! with the same key prefix sends, through one subscriber connection per process.
//!
//! A signal is published whole as JSON on the channel `<prefix>:realtime` (Redis has no
//! payload limit to work around, unlike `NOTIFY`). Commands go over the shared multiplexed
//! connection, in the order a process sends them; a stream that sees a topic's id jump (two
//! publishers racing, or a message lost) reads the missed events from the history table, so
//! per-topic order holds. When the subscriber connection drops or stops answering pings, it
//! reconnects with a backoff and then every stream of the process re-checks its revocation and
//! reads what it missed from the history ([`Hub::resync`]), as on the `NOTIFY` path.

use crate::{map_err, RedisStore};
use futures::StreamExt;
use palisade_core::StoreError;
use palisade_realtime::{Fanout, Hub, Signal};
use std::sync::Arc;
use std::time::Duration;

/// How often the subscriber pings Redis to find a silently dead connection.
const PING_EVERY: Duration = Duration::from_secs(5);
/// How long a (re)connect or a ping may take.
const DEADLINE: Duration = Duration::from_secs(2);
/// Longest pause between two reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Fan-out through Redis pub/sub; one subscriber connection per process (counted in the
/// `palisade_redis_connections` gauge while connected).
pub struct RedisFanout {
    store: RedisStore,
    channel: String,
    task: tokio::task::JoinHandle<()>,
}

impl RedisFanout {
    /// Subscribes to `store`'s realtime channel and delivers every signal to `hub`. Fails when
    /// the first subscription cannot be made; later losses reconnect by themselves.
    pub async fn start(store: &RedisStore, hub: Arc<Hub>) -> Result<Self, StoreError> {
        let channel = format!("{}:realtime", store.prefix);
        let first = subscribe(&store.client, &channel).await?;
        let sub = Subscriber {
            client: store.client.clone(),
            channel: channel.clone(),
            hub,
        };
        Ok(Self {
            store: store.clone(),
            channel,
            task: tokio::spawn(sub.run(first)),
        })
    }

    /// The channel signals travel on (`<prefix>:realtime`).
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl std::fmt::Debug for RedisFanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFanout")
            .field("channel", &self.channel)
            .finish()
    }
}

impl Drop for RedisFanout {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait::async_trait]
impl Fanout for RedisFanout {
    async fn fanout_send(&self, signal: Signal) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(&signal).map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut c = self.store.conn();
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&self.channel).arg(json);
        self.store.guard(publish.query_async::<i64>(&mut c)).await?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

/// A subscribed connection, split so the reader can ping while it waits for messages.
struct Subscribed {
    sink: redis::aio::PubSubSink,
    stream: redis::aio::PubSubStream,
}

async fn subscribe(client: &redis::Client, channel: &str) -> Result<Subscribed, StoreError> {
    let connect = async {
        let mut ps = client.get_async_pubsub().await?;
        ps.subscribe(channel).await?;
        Ok::<_, redis::RedisError>(ps)
    };
    let ps = tokio::time::timeout(DEADLINE, connect)
        .await
        .map_err(|_| StoreError::Timeout)?
        .map_err(map_err)?;
    let (sink, stream) = ps.split();
    Ok(Subscribed { sink, stream })
}

/// The receiving side: one connection, reconnected when lost.
struct Subscriber {
    client: redis::Client,
    channel: String,
    hub: Arc<Hub>,
}

/// Counts the subscriber connection in `palisade_redis_connections` while it lives.
struct Counted;

impl Counted {
    fn new() -> Self {
        metrics::gauge!("palisade_redis_connections").increment(1.0);
        Self
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::gauge!("palisade_redis_connections").decrement(1.0);
    }
}

impl Subscriber {
    async fn run(self, first: Subscribed) {
        let mut conn = Some(first);
        let mut backoff = Duration::from_millis(50);
        loop {
            let Some(sub) = conn.take() else {
                match subscribe(&self.client, &self.channel).await {
                    Ok(s) => {
                        tracing::info!("realtime: Redis subscriber reconnected");
                        conn = Some(s);
                        backoff = Duration::from_millis(50);
                        // Signals sent while it was away are lost: every stream re-checks.
                        self.hub.resync();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "realtime: Redis subscriber cannot reconnect");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
                continue;
            };
            self.listen(sub).await;
            tracing::warn!("realtime: Redis subscriber connection lost, reconnecting");
            self.hub.resync();
        }
    }

    /// Delivers messages until the connection ends or a ping fails.
    async fn listen(&self, mut sub: Subscribed) {
        let _counted = Counted::new();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            tokio::select! {
                msg = sub.stream.next() => {
                    let Some(msg) = msg else { return };
                    let Ok(payload) = msg.get_payload::<String>() else { continue };
                    match serde_json::from_str::<Signal>(&payload) {
                        Ok(signal) => {
                            let now = palisade_core::Clock::now_ms(&palisade_core::SystemClock);
                            self.hub.dispatch(signal, now);
                        }
                        Err(_) => tracing::warn!("realtime: unreadable Redis fan-out message"),
                    }
                }
                _ = ping.tick() => {
                    let alive = tokio::time::timeout(DEADLINE, sub.sink.ping::<redis::Value>()).await;
                    if !matches!(alive, Ok(Ok(_))) {
                        return;
                    }
                }
            }
        }
    }
}
