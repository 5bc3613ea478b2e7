//! The Palisade server: HTTP API, configuration, telemetry and the `palisade` command line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod telemetry;
