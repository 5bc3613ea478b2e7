//! Inbound webhooks: provider signature verifiers over the raw bytes, sources, the durable
//! inbox with its replay guard, and delivery to the app.
//!
//! # Guarantees
//!
//! - **Fixed ingress order** ([`ingest`]): size limit → signature → timestamp → replay guard
//!   with the durable insert. A forged or stale request never reaches the replay guard.
//! - **Replay guard across instances.** The store's uniqueness of (tenant, source, event key)
//!   decides: one of any number of concurrent copies of an event is stored, the others are
//!   answered as duplicates. Delivered and failed events are kept for `webhooks.retention`
//!   (default 24 h, never below 2 h: twice the longest tolerance), pending ones until settled.
//! - **An event and its delivery job are one write** ([`InboxStore::event_insert`]): no crash
//!   separates them.
//! - **Secrets sealed at rest** ([`seal`]), bound to their tenant, source and id.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod declared;
pub mod delivery;
pub mod error;
pub mod ingest;
pub mod inserter;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod params;
pub mod runtime;
pub mod seal;
pub mod settings;
pub mod sign;
pub mod store;
pub mod tasks;
pub mod verify;

pub use declared::{ConfigSecret, ConfigSource, ConfigTarget};
pub use delivery::{delivery_job, Delivery};
pub use error::WebhookError;
pub use inserter::Inserter;
pub use memory::MemoryInboxStore;
pub use model::{
    DeliverySecrets, Event, EventId, EventIdRule, EventStatus, Source, SourceName, SourceSecret,
    Target,
};
pub use params::{
    Claim, EventClaim, EventList, EventResume, EventSettle, InboxStats, Inserted, Outcome,
};
pub use runtime::{SourceSpec, Webhooks};
pub use seal::{Sealed, SecretBox};
pub use settings::WebhooksSettings;
pub use store::InboxStore;
pub use tasks::{Dispatcher, Pruner, Resumer};
pub use verify::{
    verify, HmacAlgorithm, HmacScheme, Inbound, Provider, SecretError, SignatureEncoding, Verified,
    VerifyError,
};
