//! Integration tests of the `palisade` binary and server: real processes, real stores, HTTP.

mod audit;
mod body_limit;
mod common;
mod config;
mod cron;
mod csrf;
mod errors;
mod health;
mod idempotency;
mod input;
mod jobs;
mod jobs_limits;
mod jobs_owner;
mod jobs_stats;
mod jobs_wakeups;
mod keys;
mod locks;
mod logs;
mod metrics;
mod otp;
mod previews;
mod ratelimit;
mod realtime;
mod shutdown;
mod tenants;
mod webhooks;
