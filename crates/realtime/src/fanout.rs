//! Fan-out: how a published event or a revocation reaches the hub of every instance.

use crate::hub::Hub;
use crate::model::{Event, Revocation, TopicName};
use palisade_core::{StoreError, TenantId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What instances tell each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Signal {
    /// A published event.
    Event {
        /// Its tenant.
        tenant: TenantId,
        /// Its topic.
        topic: TopicName,
        /// The event.
        event: Event,
        /// When it was sent (ms), for the fan-out latency.
        sent_at_ms: i64,
    },
    /// A deleted topic: its streams close.
    TopicDeleted {
        /// Its tenant.
        tenant: TenantId,
        /// The topic.
        topic: TopicName,
    },
    /// A revocation: streams it covers close.
    Revoked {
        /// The revocation.
        revocation: Revocation,
    },
}

/// Sends signals to the hub of every instance (this one included).
///
/// Delivery is at most once; a stream that sees an event id jump reads the missed ones from
/// the history, so a lost event delays but never reorders or silently drops events.
#[async_trait::async_trait]
pub trait Fanout: Send + Sync + std::fmt::Debug {
    /// Sends `signal`.
    async fn fanout_send(&self, signal: Signal) -> Result<(), StoreError>;

    /// Its name (`local`, `postgres`), a bounded label.
    fn name(&self) -> &'static str;
}

/// In-process fan-out: one instance only (the embedded default).
#[derive(Debug)]
pub struct LocalFanout {
    hub: Arc<Hub>,
}

impl LocalFanout {
    /// Delivers straight to `hub`.
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

#[async_trait::async_trait]
impl Fanout for LocalFanout {
    async fn fanout_send(&self, signal: Signal) -> Result<(), StoreError> {
        let now = palisade_core::Clock::now_ms(&palisade_core::SystemClock);
        self.hub.dispatch(signal, now);
        Ok(())
    }

    fn name(&self) -> &'static str {
        "local"
    }
}
