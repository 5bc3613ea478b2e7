//! Realtime streams: signed stream tokens for browsers, tenant topics with a bounded history,
//! fan-out across instances, and the life of one stream (expiry, revocation, shutdown, cleanup).
//!
//! # Guarantees
//!
//! - **Tokens.** A stream token is minted by Palisade for a tenant's backend: bound to the
//!   tenant, a principal (the app's end user), the topics and jobs it may read, and an expiry.
//!   It is signed with HMAC-SHA256 under a key id, so keys rotate without dropping valid tokens
//!   ([`Keyring`]), and the signature is compared in constant time. A token is revocable by its
//!   id and by principal ([`Revocation`]).
//! - **Topics.** Events published to a topic get consecutive ids (`1, 2, …` per tenant and
//!   topic) in one atomic store step, and are kept in a history bounded by count and age.
//! - **Order and resume.** A stream delivers a topic's events in id order, each once. A stream
//!   resuming after an id gets the missed events from the history, or a `gap` frame when the
//!   history no longer reaches back.
//! - **Life.** A stream ends (with a final `close` frame naming the reason) when its token
//!   expires, its token or principal is revoked, its maximum lifetime passes, its consumer
//!   falls a whole buffer behind, or the server shuts down; every resource it holds is
//!   released when it is dropped, on every exit path ([`OpenStream`]). A stream with no
//!   event for `idle_timeout` ends too.
//! - **Caps.** Open streams are capped per principal and per tenant across the cluster: each
//!   holds a leased slot in the shared store ([`StreamSlotStore`]), renewed while it lives, so
//!   a crashed instance's streams stop counting when their leases end ([`Slots`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod fanout;
mod feed;
mod head;
mod hub;
mod life;
mod memory;
pub mod metrics;
mod model;
mod runtime;
mod settings;
mod slots;
mod store;
mod token;
mod ws;

pub use error::{RealtimeError, TokenRejection};
pub use fanout::{Fanout, LocalFanout, Signal};
pub use feed::{Feed, TopicFeed};
pub use head::{
    asks_for_stream, stream_head, StreamHead, MAX_STREAM_HEAD_BYTES, STREAM_PEEK_BYTES,
};
pub use hub::{Hub, TopicSubscription};
pub use life::{Close, Frame, OpenStream, StreamKind};
pub use memory::MemoryRealtimeStore;
pub use model::{
    Event, HistoryBounds, Revocation, TopicName, TopicRead, MAX_TOPICS_PER_TOKEN, MAX_TOPIC_LEN,
};
pub use runtime::{Realtime, RevocationPrune};
pub use settings::{RealtimeSettings, SigningKey};
pub use slots::{Slot, SlotCaps, SlotGuard, SlotScope, SlotTake, Slots, StreamSlotStore};
pub use store::RealtimeStore;
pub use token::{Claims, Keyring, MintRequest, Minted, MAX_TOKEN_BYTES};
pub use ws::{ws_message, ws_notice, WsBadMessage, WsRequest, WsTarget, WS_MAX_MESSAGE_BYTES};
