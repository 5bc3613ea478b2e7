//! Palisade idempotency.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
