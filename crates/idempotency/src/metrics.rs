//! Idempotency metrics: begins by outcome, lock takeovers and expirations.

use crate::model::BeginOutcome;

/// Counts one begin in `palisade_idempotency_begins_total{outcome}`: `new`, `replay`,
/// `conflict` (in flight) or `mismatch`; a proceed after a lock takeover also counts in
/// `palisade_idempotency_lock_expirations_total`.
pub fn begin(outcome: &BeginOutcome) {
    let label = match outcome {
        BeginOutcome::Proceed { attempt, .. } => {
            if *attempt > 1 {
                metrics::counter!("palisade_idempotency_lock_expirations_total").increment(1);
            }
            "new"
        }
        BeginOutcome::Replay(_) => "replay",
        BeginOutcome::InFlight { .. } => "conflict",
        BeginOutcome::Mismatch => "mismatch",
    };
    metrics::counter!("palisade_idempotency_begins_total", "outcome" => label).increment(1);
}

/// Counts entries deleted by the expiry sweep in `palisade_idempotency_expired_total`.
pub fn expired(n: u64) {
    metrics::counter!("palisade_idempotency_expired_total").increment(n);
}

/// Counts a store failure in `palisade_idempotency_store_errors_total{op}`.
pub fn store_error(op: &'static str) {
    metrics::counter!("palisade_idempotency_store_errors_total", "op" => op).increment(1);
}
