//! The locks capability over HTTP.
