//! The fetch metrics: blocks by rule (a static name, never tenant-chosen).

use crate::rule::Rule;

/// Counts a fetch refused by a deny rule.
pub(crate) fn blocked(rule: Rule) {
    metrics::counter!("palisade_fetch_blocked_total", "rule" => rule.name()).increment(1);
}
