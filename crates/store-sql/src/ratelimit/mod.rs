//! Rate limiting on SQL: the shared config store and the per-crate decisions' contract.

mod config;
mod config_dialect;
mod decisions;

pub use config_dialect::RateLimitConfigDialect;
pub use decisions::RateLimitDecisions;
