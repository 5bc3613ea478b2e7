//! The ratelimit capability over HTTP.
