//! Integration tests of the `palisade` binary and server: real processes, real stores, HTTP.

mod audit;
mod body_limit;
mod common;
mod config;
mod cron;
mod errors;
mod health;
mod idempotency;
mod input;
mod jobs;
mod keys;
mod locks;
mod logs;
mod metrics;
mod previews;
mod ratelimit;
mod shutdown;
mod tenants;
mod webhooks;
