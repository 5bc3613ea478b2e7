//! Palisade idempotency keys: key rules, fingerprint, state machine, store trait, memory store, tower layer.
//!
//! Implements the semantics of the IETF draft "The Idempotency-Key HTTP Header Field".
//!
//! # Keys
//! The header is a structured-field string (`Idempotency-Key: "abc"`); the unquoted form
//! (`Idempotency-Key: abc`) is accepted too (see [`IdempotencyKey`]). Missing → 400
//! `idempotency-key-missing`; empty → 400 `idempotency-key-empty`; over 255 characters → 400
//! `idempotency-key-too-long`; anything else malformed (forbidden characters, parameters, a
//! repeated header) → 400 `idempotency-key-invalid`.
//!
//! # Scope and fingerprint
//! Entries are keyed by **tenant + principal + key**: one tenant (or principal) never sees
//! another's entry, even with the same key. A key is bound to the fingerprint of its first
//! request: method, path and query, tenant, principal and a SHA-256 of the body (optionally
//! ignoring named top-level JSON fields, see [`FingerprintConfig`]). The same key with another
//! fingerprint → 422 `idempotency-key-reused`.
//!
//! # Lifecycle
//! A begin is one atomic step in the store and answers:
//! - **proceed** with an entry token: the key is new, or a previous attempt's lock deadline
//!   passed (its process died) — the retry then gets the last recovery point and resumes;
//! - **in flight** → 409 `idempotency-key-in-flight` with `Retry-After` (the lock deadline);
//! - **mismatch** → 422 `idempotency-key-reused`;
//! - **replay**: the stored status, allow-listed headers and body, with
//!   `Idempotent-Replayed: true`.
//!
//! The holder then records recovery points, completes (stores the response) or abandons (deletes
//! the entry), each checked against its token. A holder whose lock expired may still complete as
//! long as no retry took over (storing a late result beats running the operation twice); once a
//! retry took over, the stale holder gets [`IdempotencyError::TokenMismatch`] (409
//! `idempotency-entry-token-mismatch`). Updating an unknown, abandoned or expired entry gets
//! [`IdempotencyError::NotFound`] (404 `idempotency-entry-not-found`); completing twice gets
//! [`IdempotencyError::AlreadyCompleted`] (409 `idempotency-entry-completed`).
//!
//! # Retention policy
//! - Lock: **60 s** by default ([`IdempotencyConfig::lock_ttl`]); extended by each recovery point.
//! - Completed responses are replayed for **24 h** by default ([`IdempotencyConfig::ttl`]); an
//!   entry that never completed (its process died) is kept as long, with its recovery point.
//! - Every stored or replayed response carries `Idempotency-Retention: <seconds>` (86400 by
//!   default). After expiry the key may be used afresh. Expired rows are deleted by
//!   [`IdempotencyStore::expired_sweep`] (SQL and memory stores); Redis expires keys itself.
//!
//! # What is stored
//! Results of the operation are stored and replayed, **including the 4xx and 5xx it produced**.
//! Failures before the operation ran are **not** stored — the entry is abandoned so a corrected
//! retry may use the same key:
//! - answers of the layer itself (400 key problems, 413 `payload-too-large`, 401
//!   `unauthenticated`, 503 when the idempotency store fails — never a 500);
//! - responses carrying the [`NotExecuted`] response extension (for the app's validation errors);
//! - problem+json responses whose `code` is in [`IdempotencyConfig::not_executed_codes`]
//!   (by default Palisade's own `store-unavailable` 503, `invalid-request` validation errors,
//!   `unauthenticated`, `payload-too-large`, `quota-exceeded`);
//! - a response larger than [`IdempotencyConfig::max_stored_response`] is passed through and the
//!   entry abandoned (a retry runs the operation again: keep such responses small);
//! - an error of the inner service abandons the entry; a request cancelled mid-operation (client
//!   gone) leaves it in flight until its lock deadline, so a retry resumes from the last
//!   recovery point.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod body;
mod config;
mod context;
mod error;
mod fingerprint;
mod key;
mod layer;
mod memory;
pub mod metrics;
mod model;
pub mod row;
mod settings;
mod store;
mod sweep;

pub use config::IdempotencyConfig;
pub use context::{IdempotencyContext, NotExecuted};
pub use error::{in_flight_problem, mismatch_problem, IdempotencyError};
pub use fingerprint::{Fingerprint, FingerprintConfig, FingerprintInput};
pub use key::{IdempotencyKey, KeyError};
pub use layer::{IdempotencyLayer, IdempotencyService};
pub use memory::MemoryIdempotencyStore;
pub use model::{
    BeginOutcome, EntryRef, EntryToken, EntryUpdate, IdempotencyBegin, IdempotencyComplete,
    RecoveryPoint, RecoveryPointSet, StoredResponse,
};
pub use settings::{IdempotencySettings, IdempotencyStoreKind};
pub use store::IdempotencyStore;
pub use sweep::ExpiredSweep;
