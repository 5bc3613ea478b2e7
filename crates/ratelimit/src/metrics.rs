//! Metric names and the helpers that record decisions and store latency.

use crate::decision::Decision;
use std::time::Duration;

/// Counter: decisions by `outcome` (`allowed`, `limited`, `shadow_limited`, or `fallback` for
/// any decision taken without the shared store; see [`FALLBACK`]). No policy label: policy
/// names are chosen by tenants and the page is shared.
pub const DECISIONS: &str = "palisade_ratelimit_decisions_total";
/// Counter: decisions taken without the shared store, by `action`
/// (`fallback`: in-memory share of the quota, `allow`, `deny`).
pub const FALLBACK: &str = "palisade_ratelimit_fallback_total";
/// Histogram: seconds one store decision took (as the limiter saw it), by `result`.
pub const STORE_SECONDS: &str = "palisade_ratelimit_store_seconds";
/// Histogram: seconds one call of the shared store behind a fallback took, by `result`
/// (`ok`, `error`, `timeout`).
pub const SHARED_STORE_SECONDS: &str = "palisade_ratelimit_shared_store_seconds";

/// Counts each decision by outcome.
pub fn record_decisions(decisions: &[Decision]) {
    for d in decisions {
        let outcome = if d.fallback {
            "fallback"
        } else {
            d.outcome.as_str()
        };
        metrics::counter!(DECISIONS, "outcome" => outcome).increment(1);
    }
}

/// Records one store call's latency under `name`.
pub fn record_latency(name: &'static str, result: &'static str, took: Duration) {
    metrics::histogram!(name, "result" => result).record(took.as_secs_f64());
}

/// Counts one check decided without the shared store.
pub fn record_fallback(action: &'static str) {
    metrics::counter!(FALLBACK, "action" => action).increment(1);
}
