//! Every conformance suite (and backend-specific test) against this store, in one test binary.

mod audit;
mod common;
mod corrupt;
mod idempotency;
mod locks;
mod ratelimit;
mod tenancy;
