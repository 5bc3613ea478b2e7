//! Integration tests of the `palisade` binary and server: real processes, real stores, HTTP.

mod audit;
mod common;
mod config;
mod errors;
mod health;
mod idempotency;
mod locks;
mod logs;
mod ratelimit;
mod shutdown;
mod tenants;
