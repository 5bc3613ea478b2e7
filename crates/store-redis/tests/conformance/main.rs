//! Every conformance suite (and backend-specific test) against this store, in one test binary.

mod breaker;
mod common;
mod idempotency;
mod locks;
mod ratelimit;
