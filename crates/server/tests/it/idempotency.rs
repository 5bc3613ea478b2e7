//! The idempotency capability over HTTP.
