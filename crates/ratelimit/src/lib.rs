//! Palisade rate limiting: policies, algorithms, atomic multi-policy decisions, stores,
//! store-failure fallback, IETF headers and a tower layer.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod algorithm;
pub mod batch;
pub mod config;
pub mod decision;
pub mod error;
pub mod fallback;
pub mod headers;
pub mod key;
pub mod known;
pub mod layer;
pub mod limiter;
pub mod memory;
pub mod metrics;
pub mod policy;
pub mod store;

pub use batch::{BatchFuture, Batcher};
pub use config::{
    ChangeKind, ConfigChange, ConfigChanges, ConfigSnapshot, OverrideRecord, PolicyRecord,
    RateOverride,
};
pub use decision::{decide_all, validate_checks, Check, Decision, KeyState, Outcome, MAX_CHECKS};
pub use error::RateLimitError;
pub use fallback::{FallbackOptions, FallbackStore};
pub use key::{build_key, KeyContext, KeyPart, MAX_KEY_BYTES};
pub use known::{Known, KnownRemaining};
pub use layer::{RateLimitLayer, RateLimitService};
pub use limiter::RateLimiter;
pub use memory::{FastClock, MemoryOptions, MemoryPolicyStore, MemoryRateLimitStore};
pub use policy::{Algorithm, Limit, Mode, OnStoreError, Policy};
pub use store::{RateLimitStore, RatePolicyStore};
