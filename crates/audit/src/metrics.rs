//! The audit metrics: events recorded per type, drops per type and reason, failed writes.

use palisade_core::audit::AuditEventType;

/// Counts an event handed to the sink.
pub(crate) fn recorded(kind: AuditEventType) {
    metrics::counter!("palisade_audit_events_total", "type" => kind.as_str()).increment(1);
}

/// Counts an event that will not be stored: `full` (queue full), `closed` (after close) or
/// `store` (the store kept failing).
pub(crate) fn dropped(kind: AuditEventType, reason: &'static str) {
    metrics::counter!("palisade_audit_dropped_total", "type" => kind.as_str(), "reason" => reason)
        .increment(1);
}

/// Counts records deleted by retention.
pub(crate) fn pruned(n: u64) {
    metrics::counter!("palisade_audit_pruned_total").increment(n);
}
