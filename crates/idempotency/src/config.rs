//! Settings of the idempotency layer, with the documented retention defaults.

use crate::fingerprint::FingerprintConfig;
use http::{header, HeaderName, Method};
use std::time::Duration;

/// How the [`crate::IdempotencyLayer`] treats requests.
#[derive(Clone, Debug)]
pub struct IdempotencyConfig {
    /// Methods that require an `Idempotency-Key` (default `POST`, `PATCH`); others pass through.
    pub methods: Vec<Method>,
    /// How long a claim holds before a retry may take it over (default 60 s).
    pub lock_ttl: Duration,
    /// How long a completed response is replayed, and an unfinished entry (with its recovery
    /// point) kept (default 24 h). Sent as `Idempotency-Retention` in seconds.
    pub ttl: Duration,
    /// Largest request body buffered for the fingerprint (default 1 MiB); larger → 413.
    pub max_request_body: usize,
    /// Largest response body stored for replay (default 1 MiB); a larger response is passed
    /// through and the entry abandoned, so a retry runs the operation again.
    pub max_stored_response: usize,
    /// Response headers stored and replayed (default: content-type, content-language,
    /// content-location, location, etag, last-modified, link). Never add `set-cookie`.
    pub replay_headers: Vec<HeaderName>,
    /// Body fingerprint settings.
    pub fingerprint: FingerprintConfig,
    /// Problem codes (in `application/problem+json` responses) that mean the operation did not
    /// run, so the response is not stored: default `store-unavailable` (Palisade's own 503),
    /// `invalid-request` (validation errors), `unauthenticated`, `payload-too-large`,
    /// `quota-exceeded`.
    pub not_executed_codes: Vec<String>,
    /// `Retry-After` seconds of the 503 sent when the idempotency store fails (default 1).
    pub store_retry_after_secs: u64,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            methods: vec![Method::POST, Method::PATCH],
            lock_ttl: Duration::from_secs(60),
            ttl: Duration::from_secs(24 * 3600),
            max_request_body: 1 << 20,
            max_stored_response: 1 << 20,
            replay_headers: vec![
                header::CONTENT_TYPE,
                header::CONTENT_LANGUAGE,
                header::CONTENT_LOCATION,
                header::LOCATION,
                header::ETAG,
                header::LAST_MODIFIED,
                header::LINK,
            ],
            fingerprint: FingerprintConfig::default(),
            not_executed_codes: [
                "store-unavailable",
                "invalid-request",
                "unauthenticated",
                "payload-too-large",
                "quota-exceeded",
            ]
            .map(String::from)
            .to_vec(),
            store_retry_after_secs: 1,
        }
    }
}
