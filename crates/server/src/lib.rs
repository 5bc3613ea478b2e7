//! The Palisade server: HTTP API, configuration, telemetry and the `palisade` command line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod lifecycle;
mod linger;
pub mod metrics;
pub mod operator_key;
mod rewind;
pub mod serve;
pub mod state;
pub mod stores;
mod stream_conn;
pub mod telemetry;
pub mod v1;
