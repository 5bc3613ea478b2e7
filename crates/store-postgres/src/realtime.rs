//! Realtime fan-out over `LISTEN`/`NOTIFY`: every instance's hub gets every signal sent by any
//! instance on the same database and schema.
//!
//! A signal is sent as `<schema>|s|<signal JSON>`. An event whose signal would pass NOTIFY's
//! payload limit (8000 bytes) is sent as a reference, `<schema>|r|<tenant, topic, id>`, and
//! each listener reads it from the topic history (the table the publish wrote it to). A
//! notification lost while a listener reconnects delays that instance's streams to the next
//! event of the topic, when the id jump makes them read the history; and after a reconnect
//! every stream re-checks its revocation and reads its topic's history ([`Hub::resync`]).

use crate::PgStore;
use palisade_core::{StoreError, TenantId};
use palisade_realtime::{Fanout, HistoryBounds, Hub, RealtimeStore, Signal, TopicName};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

/// The notification channel (database-wide; payloads carry the schema).
pub const REALTIME_CHANNEL: &str = "palisade_realtime";
/// The largest payload sent whole (NOTIFY's limit is 8000 bytes).
const NOTIFY_LIMIT: usize = 7_900;

/// An event sent by reference.
#[derive(Debug, Serialize, Deserialize)]
struct EventRef {
    tenant: TenantId,
    topic: TopicName,
    seq: u64,
    sent_at_ms: i64,
}

/// Fan-out through PostgreSQL notifications; one listening connection per process.
#[derive(Debug)]
pub struct PgFanout {
    store: PgStore,
    schema: String,
    task: tokio::task::JoinHandle<()>,
}

impl PgFanout {
    /// Listens on `store`'s database and delivers every signal of its schema to `hub`; an
    /// event sent by reference is read within `bounds`.
    pub async fn start(
        store: &PgStore,
        hub: Arc<Hub>,
        bounds: HistoryBounds,
    ) -> Result<Self, StoreError> {
        let pool = store.pool();
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(pool)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut listener = PgListener::connect_with(pool)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        listener
            .listen(REALTIME_CHANNEL)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let receiver = Receiver {
            store: store.clone(),
            schema: schema.clone(),
            hub,
            bounds,
        };
        Ok(Self {
            store: store.clone(),
            schema,
            task: tokio::spawn(receiver.run(listener)),
        })
    }

    /// The payload of `signal`: whole when it fits, else a reference to the stored event.
    fn payload(&self, signal: &Signal) -> Result<String, StoreError> {
        let json = serde_json::to_string(signal).map_err(|e| StoreError::Backend(e.to_string()))?;
        let whole = format!("{}|s|{json}", self.schema);
        if whole.len() <= NOTIFY_LIMIT {
            return Ok(whole);
        }
        let Signal::Event {
            tenant,
            topic,
            event,
            sent_at_ms,
        } = signal
        else {
            return Err(StoreError::Backend("signal too large to notify".into()));
        };
        let r = EventRef {
            tenant: tenant.clone(),
            topic: topic.clone(),
            seq: event.seq,
            sent_at_ms: *sent_at_ms,
        };
        let json = serde_json::to_string(&r).map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(format!("{}|r|{json}", self.schema))
    }
}

impl Drop for PgFanout {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[async_trait::async_trait]
impl Fanout for PgFanout {
    async fn fanout_send(&self, signal: Signal) -> Result<(), StoreError> {
        let payload = self.payload(&signal)?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(REALTIME_CHANNEL)
            .bind(payload)
            .execute(self.store.pool())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "postgres"
    }
}

/// The listening side: parses this schema's notifications and hands them to the hub.
struct Receiver {
    store: PgStore,
    schema: String,
    hub: Arc<Hub>,
    bounds: HistoryBounds,
}

impl Receiver {
    async fn run(self, mut listener: PgListener) {
        loop {
            match listener.recv().await {
                Ok(n) => {
                    if let Some(signal) = self.signal(n.payload()).await {
                        let now = palisade_core::Clock::now_ms(&palisade_core::SystemClock);
                        self.hub.dispatch(signal, now);
                    }
                }
                Err(e) => {
                    // The listener reconnects at the next recv; meanwhile signals may be
                    // lost, so every stream re-checks the store.
                    tracing::warn!(error = %e, "realtime: LISTEN connection lost, reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    self.hub.resync();
                }
            }
        }
    }

    /// The signal of a payload of this schema; `None` for another schema or a bad payload.
    async fn signal(&self, payload: &str) -> Option<Signal> {
        let (schema, rest) = payload.split_once('|')?;
        if schema != self.schema {
            return None;
        }
        match rest.split_once('|')? {
            ("s", json) => serde_json::from_str(json).ok(),
            ("r", json) => {
                let r: EventRef = serde_json::from_str(json).ok()?;
                let read = self
                    .store
                    .topic_read(&r.tenant, &r.topic, r.seq - 1, 1, self.bounds)
                    .await
                    .ok()?;
                let event = read.events.into_iter().find(|e| e.seq == r.seq)?;
                Some(Signal::Event {
                    tenant: r.tenant,
                    topic: r.topic,
                    event,
                    sent_at_ms: r.sent_at_ms,
                })
            }
            _ => None,
        }
    }
}
