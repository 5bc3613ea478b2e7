//! CSRF defences: one-time synchronizer tokens, signed double-submit tokens, Fetch-Metadata/Origin checks.
//!
//! - **Synchronizer tokens** ([`Csrf`]): a random token bound to the app's session (stored only
//!   as SHA-256 hashes), valid for a TTL (default 5 minutes), consumed by its first verify in one
//!   atomic store step (two concurrent uses: exactly one succeeds); the verify hands out a fresh
//!   token for the next request. Expired tokens are deleted by [`CsrfPurge`].
//! - **Signed double-submit** ([`double_submit`]): stateless, per OWASP: an HMAC over the
//!   session id and a random value, for apps that keep no server state.
//! - **Fetch Metadata and Origin** ([`origin`]): OWASP's header rules as a pure check and as a
//!   tower layer ([`origin::OriginCheckLayer`]) for Rust apps.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod double_submit;
mod error;
mod memory;
mod model;
pub mod origin;
mod purge;
mod runtime;
mod settings;
mod store;

pub use error::CsrfError;
pub use memory::MemoryCsrfStore;
pub use model::{session_hash, token_hash, CsrfConsume, CsrfIssue, SessionHash, Token, TokenHash};
pub use purge::CsrfPurge;
pub use runtime::{Csrf, IssuedToken};
pub use settings::CsrfSettings;
pub use store::CsrfStore;
