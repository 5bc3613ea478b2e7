//! Palisade rate limiting: policies, algorithms, atomic multi-policy decisions, stores,
//! store-failure fallback, IETF headers and a tower layer.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod algorithm;
mod batch;
mod decision;
mod error;
mod fallback;
mod feed;
pub mod headers;
mod key;
mod known;
#[cfg(feature = "axum")]
mod layer;
mod limiter;
mod memory;
pub mod metrics;
mod policy;
mod registry;
mod runtime;
mod settings;
mod store;

pub use batch::{BatchFuture, Batcher};
pub use decision::{decide_all, validate_checks, Check, Decision, KeyState, Outcome, MAX_CHECKS};
pub use error::RateLimitError;
pub use fallback::{FallbackOptions, FallbackStore};
pub use feed::{
    ChangeKind, ConfigChange, ConfigChanges, ConfigSnapshot, OverrideRecord, PolicyRecord,
    RateLimitOverride,
};
pub use key::{build_key, KeyContext, KeyPart, MAX_KEY_BYTES};
pub use known::{Known, KnownRemaining};
#[cfg(feature = "axum")]
pub use layer::{quota_exceeded, RateLimitLayer, RateLimitService};
pub use limiter::RateLimiter;
pub use memory::{FastClock, MemoryOptions, MemoryPolicyStore, MemoryRateLimitStore};
pub use policy::{Algorithm, Limit, Mode, OnStoreError, Policy};
pub use registry::{PolicySource, Registry};
pub use runtime::{RateLimits, RateLimitsStart, Resolved, TenantCaps, UnknownPolicy};
pub use settings::{RateLimitSettings, RateLimitStoreKind};
pub use store::{RateLimitStore, RateLimitPolicyStore};
