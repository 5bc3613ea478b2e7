//! IETF `RateLimit` / `RateLimit-Policy` header fields (draft-ietf-httpapi-ratelimit-headers,
//! structured-field lists) and `Retry-After`.
//!
//! `RateLimit-Policy: "api";q=100;w=60` and `RateLimit: "api";r=42;t=17`: one list member per
//! policy, named by a string; `q` quota, `w` window (s), `r` remaining, `t` seconds until reset.

use crate::decision::Decision;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::fmt::Write as _;

/// `RateLimit`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// What one policy contributes to the headers.
#[derive(Debug, Clone, Copy)]
pub struct HeaderEntry<'a> {
    /// The policy's name (valid names need no escaping).
    pub policy: &'a str,
    /// Window in ms.
    pub window_ms: u64,
    /// The decision.
    pub decision: &'a Decision,
}

/// Seconds, rounded up.
fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// The `RateLimit-Policy` value.
pub fn policy_value(entries: &[HeaderEntry<'_>]) -> String {
    let mut s = String::new();
    for (i, e) in entries.iter().enumerate() {
        let sep = if i > 0 { ", " } else { "" };
        let _ = write!(
            s,
            "{sep}\"{}\";q={};w={}",
            sf_escape(e.policy),
            e.decision.limit,
            secs(e.window_ms)
        );
    }
    s
}

/// The `RateLimit` value.
pub fn ratelimit_value(entries: &[HeaderEntry<'_>]) -> String {
    let mut s = String::new();
    for (i, e) in entries.iter().enumerate() {
        let sep = if i > 0 { ", " } else { "" };
        let _ = write!(
            s,
            "{sep}\"{}\";r={};t={}",
            sf_escape(e.policy),
            e.decision.remaining,
            secs(e.decision.reset_after_ms)
        );
    }
    s
}

/// Seconds a client should wait: the longest retry-after of the denied decisions.
pub fn retry_after_secs(decisions: &[Decision]) -> Option<u64> {
    decisions
        .iter()
        .filter(|d| !d.allowed)
        .map(|d| secs(d.retry_after_ms).max(1))
        .max()
}

/// Sets `RateLimit-Policy`, `RateLimit` and (when denied) `Retry-After` on `headers`.
pub fn apply(headers: &mut HeaderMap, entries: &[HeaderEntry<'_>]) {
    if entries.is_empty() {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(&policy_value(entries)) {
        headers.insert(RATELIMIT_POLICY, v);
    }
    if let Ok(v) = HeaderValue::from_str(&ratelimit_value(entries)) {
        headers.insert(RATELIMIT, v);
    }
    let ds: Vec<Decision> = entries.iter().map(|e| *e.decision).collect();
    if let Some(s) = retry_after_secs(&ds) {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from(s));
    }
}

/// Escapes `"` and `\` for an sf-string; drops characters an sf-string cannot hold.
fn sf_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| (' '..='~').contains(c)) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Outcome;

    fn d(allowed: bool, remaining: u64, reset: u64, retry: u64) -> Decision {
        Decision {
            allowed,
            outcome: if allowed {
                Outcome::Allowed
            } else {
                Outcome::Limited
            },
            limit: 100,
            remaining,
            reset_after_ms: reset,
            retry_after_ms: retry,
            fallback: false,
        }
    }

    #[test]
    fn draft_syntax_for_several_policies() {
        let a = d(true, 42, 16_200, 0);
        let b = d(false, 0, 3_000, 2_500);
        let e = [
            HeaderEntry {
                policy: "api",
                window_ms: 60_000,
                decision: &a,
            },
            HeaderEntry {
                policy: "burst",
                window_ms: 1_000,
                decision: &b,
            },
        ];
        assert_eq!(policy_value(&e), "\"api\";q=100;w=60, \"burst\";q=100;w=1");
        assert_eq!(ratelimit_value(&e), "\"api\";r=42;t=17, \"burst\";r=0;t=3");
        let mut h = HeaderMap::new();
        apply(&mut h, &e);
        assert_eq!(h["retry-after"], "3");
        assert_eq!(h["ratelimit"], "\"api\";r=42;t=17, \"burst\";r=0;t=3");
        assert_eq!(sf_escape("a\"b\\"), "a\\\"b\\\\");
    }

    #[test]
    fn no_retry_after_when_allowed() {
        let a = d(true, 1, 10, 0);
        let mut h = HeaderMap::new();
        apply(
            &mut h,
            &[HeaderEntry {
                policy: "p",
                window_ms: 1000,
                decision: &a,
            }],
        );
        assert!(h.get("retry-after").is_none());
    }
}
