//! The realtime metrics: open streams by kind, opened and closed (by reason), events delivered,
//! slow consumers dropped, fan-out latency, stream slots held and refused. Every label is a
//! fixed word.

/// The open-streams gauge.
pub const STREAMS_OPEN: &str = "palisade_realtime_streams_open";

pub(crate) fn opened(kind: &'static str) {
    metrics::gauge!(STREAMS_OPEN, "kind" => kind).increment(1.0);
    metrics::counter!("palisade_realtime_streams_opened_total", "kind" => kind).increment(1);
}

pub(crate) fn closed(kind: &'static str, reason: &'static str) {
    metrics::gauge!(STREAMS_OPEN, "kind" => kind).decrement(1.0);
    metrics::counter!("palisade_realtime_streams_closed_total", "kind" => kind, "reason" => reason)
        .increment(1);
    if reason == "slow-consumer" {
        metrics::counter!("palisade_realtime_slow_consumers_dropped_total").increment(1);
    }
}

pub(crate) fn delivered(kind: &'static str, n: usize) {
    metrics::counter!("palisade_realtime_events_delivered_total", "kind" => kind)
        .increment(n as u64);
}

pub(crate) fn fanout_latency(ms: i64) {
    metrics::histogram!("palisade_realtime_fanout_latency_seconds").record(ms.max(0) as f64 / 1e3);
}

/// Counts an event published to a topic.
pub(crate) fn published() {
    metrics::counter!("palisade_realtime_events_published_total").increment(1);
}

/// The gauge of stream slots this process holds (one per open stream).
pub const SLOTS_HELD: &str = "palisade_realtime_stream_slots_held";

pub(crate) fn slot_taken() {
    metrics::gauge!(SLOTS_HELD).increment(1.0);
}

pub(crate) fn slot_released() {
    metrics::gauge!(SLOTS_HELD).decrement(1.0);
}

/// Counts a stream refused by a cap (`scope` = `principal` | `tenant`).
pub(crate) fn slot_refused(scope: &'static str) {
    metrics::counter!("palisade_realtime_streams_refused_total", "cap" => scope).increment(1);
}
