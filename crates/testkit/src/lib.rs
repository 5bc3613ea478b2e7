//! Conformance suites (one per capability) that every store backend runs, and backend helpers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backends;
pub mod idempotency;
pub mod locks;
pub mod ratelimit;
pub mod tenancy;
