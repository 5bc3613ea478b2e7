//! JWT/JWKS verification: a tenant's trusted issuers, a JWKS cache, revocation by jti and by subject.
//!
//! # Guarantees
//!
//! - **No algorithm games.** `none` and HMAC (`HS*`) are never accepted; an issuer lists its
//!   allowed algorithms; the key a token names must be of its algorithm's family (RSA for
//!   `RS*`/`PS*`, EC on the matching curve for `ES*`, OKP Ed25519 for `EdDSA`) and, when the
//!   JWK names an `alg`, exactly it.
//! - **Bounded input.** Tokens over `tokens.max_token_bytes`, JWKS documents over
//!   `tokens.jwks_max_bytes` or with more than [`jwks::MAX_KEYS`] keys are refused with a code.
//! - **JWKS cached, refetched with a cooldown.** One fetch per document per
//!   `tokens.unknown_kid_cooldown` at most, whatever the number of concurrent verifies with an
//!   unknown `kid`; stale keys served on fetch errors only until `jwks_ttl + jwks_stale_max`.
//! - **Revocation everywhere within one second, without a store read per verify.** A verify
//!   takes the issuer and the revocations of its `jti` and `sub` from the process's
//!   [`LookupCache`], else from the store in one read ([`TokenStore::token_lookup`]). Every
//!   store write records a change ([`topics`]) in the store's change feed in the same atomic
//!   step; [`Tokens::cache_sync`] follows the feed and drops what each change names. The cache
//!   answers only while its last feed read started less than
//!   [`palisade_core::feed_cache::MAX_STALENESS`] (1 s) ago, else every verify reads the store:
//!   a revocation recorded on one instance is refused by every instance within that bound (by
//!   the recording one at once), and a stale "not revoked" is never served past it. Memory is
//!   bounded by `tokens.cache_entries` entries, each kept until its token's `exp` (at most
//!   [`cache::MAX_ENTRY_AGE`]).
//!
//! JWKS documents are fetched through [`JwksFetch`], implemented by the safe-fetch client
//! ([`palisade_fetch::Fetcher`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cache;
mod error;
pub mod jwks;
pub mod layer;
mod memory;
mod model;
mod purge;
mod runtime;
mod settings;
mod store;
pub mod topics;
pub mod verify;

pub use cache::LookupCache;
pub use error::TokenError;
pub use jwks::{jwks_parse, JwksCache, JwksFetch, SafeFetchJwks};
pub use memory::MemoryTokenStore;
pub use model::{
    Alg, Issuer, IssuerId, IssuerInput, IssuerSpec, KeyFamily, Revocation, TokenLookup,
    VerifiedToken,
};
pub use purge::TokenRevocationPurge;
pub use runtime::Tokens;
pub use settings::TokenSettings;
pub use store::TokenStore;
