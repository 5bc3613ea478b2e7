//! The `/v1` API: one module per capability, each registered in [`crate::app`].

pub mod cron;
pub mod csrf;
pub mod idempotency;
pub mod jobs;
pub mod locks;
pub mod otp;
pub mod previews;
pub mod ratelimit;
pub mod realtime;
pub mod tenants;
pub mod tokens;
pub mod webhooks;
