//! Conformance suites (one per capability) that every store backend runs, and backend helpers.
//!
//! A backend's test crate runs a suite with [`conformance!`]: one named test per check, each
//! on a fresh store.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use palisade_core::ManualClock;
use std::sync::Arc;

pub mod audit;
pub mod backends;
mod conformance;
pub mod corrupt;
pub mod cron;
pub mod csrf;
pub mod idempotency;
pub mod jobs;
pub mod locks;
pub mod otp;
pub mod own_postgres;
pub mod own_redis;
pub mod ratelimit;
pub mod ratelimit_config;
pub mod realtime;
pub mod stream_slots;
pub mod tenancy;
pub mod tokens;
pub mod tools;
pub mod webhooks;

/// How a conformance suite controls the store's time.
#[derive(Debug, Clone)]
pub enum Time {
    /// The store reads this clock (memory, SQLite, PostgreSQL): the suite sets and advances it.
    Manual(Arc<ManualClock>),
    /// The store uses a clock the suite cannot move (Redis server `TIME`, `PX` expiry): the
    /// suite runs the checks that need no time travel, plus short real-time waits.
    Real,
}
