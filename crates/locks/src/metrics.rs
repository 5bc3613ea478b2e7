//! The lock metrics: acquisitions by outcome, contended waits, wait time, expirations, renew failures.

use std::time::Duration;

/// Counts an acquisition attempt's outcome: `granted`, `held` or `error`.
pub(crate) fn acquisition(outcome: &'static str) {
    metrics::counter!("palisade_locks_acquisitions_total", "outcome" => outcome).increment(1);
}

/// Counts a grant that took over a lease that expired without being released.
pub(crate) fn lease_expired() {
    metrics::counter!("palisade_locks_lease_expirations_total").increment(1);
}

/// Records a wait that found the lock held at first: its length and whether it ended granted.
pub(crate) fn contended_wait(waited: Duration, granted: bool) {
    let outcome = if granted { "granted" } else { "timeout" };
    metrics::counter!("palisade_locks_contended_waits_total", "outcome" => outcome).increment(1);
    metrics::histogram!("palisade_locks_wait_seconds", "outcome" => outcome)
        .record(waited.as_secs_f64());
}

/// Counts a failed renewal: `expired`, `not_holder` or `store`.
pub(crate) fn renew_failure(reason: &'static str) {
    metrics::counter!("palisade_locks_renew_failures_total", "reason" => reason).increment(1);
}
