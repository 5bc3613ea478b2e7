//! Checks, decisions, and the all-or-nothing rule that decides several checks at once.

use crate::algorithm::{self, AlgoState};
use crate::key::MAX_KEY_BYTES;
use crate::policy::{valid_name, Limit};
use palisade_core::FieldError;
use serde::Serialize;

/// The most checks one decision may carry.
pub const MAX_CHECKS: usize = 16;

/// One (policy, key, cost) to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The policy's name (part of the stored key).
    pub policy: String,
    /// The policy's effective parameters (after overrides).
    pub limit: Limit,
    /// The key within the policy, at most [`MAX_KEY_BYTES`].
    pub key: String,
    /// Units this request costs (0 tracks without limiting).
    pub cost: u64,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Within the limit.
    Allowed,
    /// Over the limit (or blocked), enforced.
    Limited,
    /// Over the limit in shadow mode: reported, not denied.
    ShadowLimited,
}

impl Outcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Limited => "limited",
            Self::ShadowLimited => "shadow_limited",
        }
    }
}

/// The answer to one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// False only when an enforced limit denies this check.
    pub allowed: bool,
    /// Allowed, limited or shadow-limited.
    pub outcome: Outcome,
    /// The quota of the policy (for headers).
    pub limit: u64,
    /// Units left.
    pub remaining: u64,
    /// Milliseconds until the quota is fully available again.
    pub reset_after_ms: u64,
    /// Milliseconds until a retry may succeed (0 when allowed).
    pub retry_after_ms: u64,
    /// Decided by the in-memory fallback (or by `on_store_error`) because the store failed.
    pub fallback: bool,
}

impl Decision {
    /// A decision from the five integers a store's server-side code answers per check
    /// (allowed 0|1, outcome 0 allowed | 1 limited | 2 shadow-limited, remaining, reset after,
    /// retry after; negatives read as 0); `None` for an unknown outcome.
    pub fn from_reply(quota: u64, v: &[i64; 5]) -> Option<Self> {
        let outcome = match v[1] {
            0 => Outcome::Allowed,
            1 => Outcome::Limited,
            2 => Outcome::ShadowLimited,
            _ => return None,
        };
        let unsigned = |x: i64| x.max(0) as u64;
        Some(Self {
            allowed: v[0] == 1,
            outcome,
            limit: quota,
            remaining: unsigned(v[2]),
            reset_after_ms: unsigned(v[3]),
            retry_after_ms: unsigned(v[4]),
            fallback: false,
        })
    }
}

/// The stored state of one (tenant, policy, key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState {
    /// The algorithm's state.
    pub algo: Option<AlgoState>,
    /// Denied until this instant (ms) after a violation; 0 = not blocked.
    pub blocked_until_ms: i64,
}

impl KeyState {
    /// When this state stops mattering (ms since the epoch).
    #[inline]
    pub fn expires_at_ms(&self, limit: &Limit) -> i64 {
        let a = self
            .algo
            .as_ref()
            .map_or(0, |s| algorithm::expires_at_ms(limit, s));
        a.max(self.blocked_until_ms)
    }
}

/// Validates checks: 1..=16, valid policy names, keys of 1..=512 bytes, cost within the
/// policy's capacity, no (policy, key) twice. Reports every problem at once.
pub fn validate_checks(checks: &[Check]) -> Result<(), Vec<FieldError>> {
    let mut e = Vec::new();
    if checks.is_empty() || checks.len() > MAX_CHECKS {
        e.push(FieldError::new("checks", "1 to 16 checks per decision"));
    }
    for (i, c) in checks.iter().enumerate() {
        if !valid_name(&c.policy) {
            e.push(FieldError::new(
                format!("checks[{i}].policy"),
                "invalid policy name",
            ));
        }
        if c.key.is_empty() || c.key.len() > MAX_KEY_BYTES {
            e.push(FieldError::new(
                format!("checks[{i}].key"),
                "1 to 512 bytes",
            ));
        }
        if c.cost > c.limit.capacity() {
            e.push(FieldError::new(
                format!("checks[{i}].cost"),
                "must not exceed the policy's quota (or burst)",
            ));
        }
        if checks[..i]
            .iter()
            .any(|o| o.policy == c.policy && o.key == c.key)
        {
            e.push(FieldError::new(
                format!("checks[{i}]"),
                "duplicate policy and key",
            ));
        }
    }
    if e.is_empty() {
        Ok(())
    } else {
        Err(e)
    }
}

/// Decides `checks` against their current `states` (same order) at `now_ms`, all or nothing:
/// when an enforced check is over its limit (or blocked), no check consumes. Returns the
/// decisions and, per check, the state to store (`None`: leave as is).
///
/// Every store that keeps state as [`KeyState`] calls this inside its atomic step.
pub fn decide_all(
    checks: &[Check],
    states: &[Option<KeyState>],
    now_ms: i64,
) -> (Vec<Decision>, Vec<Option<KeyState>>) {
    let evals: Vec<_> = checks
        .iter()
        .zip(states)
        .map(|(c, s)| eval_one(c, s.as_ref(), now_ms, c.cost))
        .collect();
    let gate = checks
        .iter()
        .zip(&evals)
        .any(|(c, (e, _))| !e.allowed && !c.limit.shadow);
    let mut decisions = Vec::with_capacity(checks.len());
    let mut writes = Vec::with_capacity(checks.len());
    for ((c, s), (e, blocked)) in checks.iter().zip(states).zip(evals) {
        let (d, w) = finish(c, s.as_ref(), e, blocked, gate, now_ms);
        decisions.push(d);
        writes.push(w);
    }
    (decisions, writes)
}

/// [`decide_all`] for a single check, without allocating: the memory store's hot path.
#[inline]
pub fn decide_one(
    c: &Check,
    state: Option<&KeyState>,
    now_ms: i64,
) -> (Decision, Option<KeyState>) {
    let (e, blocked) = eval_one(c, state, now_ms, c.cost);
    let gate = !e.allowed && !c.limit.shadow;
    finish(c, state, e, blocked, gate, now_ms)
}

/// The decision and the write of one evaluated check, given whether some enforced check of
/// the decision was denied (`gate`: then nothing consumes).
#[inline]
fn finish(
    c: &Check,
    s: Option<&KeyState>,
    e: algorithm::Eval,
    blocked: bool,
    gate: bool,
    now_ms: i64,
) -> (Decision, Option<KeyState>) {
    let outcome = match (e.allowed, c.limit.shadow) {
        (true, _) => Outcome::Allowed,
        (false, false) => Outcome::Limited,
        (false, true) => Outcome::ShadowLimited,
    };
    let mut shown = if gate && e.allowed {
        eval_one(c, s, now_ms, 0).0
    } else {
        e
    };
    if !e.allowed && !blocked && c.limit.block_ms > 0 {
        shown.retry_after_ms = shown.retry_after_ms.max(c.limit.block_ms);
        shown.reset_after_ms = shown.reset_after_ms.max(c.limit.block_ms);
    }
    let d = Decision {
        allowed: outcome != Outcome::Limited,
        outcome,
        limit: c.limit.quota,
        remaining: shown.remaining,
        reset_after_ms: shown.reset_after_ms,
        retry_after_ms: shown.retry_after_ms,
        fallback: false,
    };
    (d, write_for(c, s, &e, blocked, gate, now_ms))
}

#[inline]
fn write_for(
    c: &Check,
    s: Option<&KeyState>,
    e: &algorithm::Eval,
    blocked: bool,
    gate: bool,
    now_ms: i64,
) -> Option<KeyState> {
    let prev = s.copied().unwrap_or(KeyState {
        algo: None,
        blocked_until_ms: 0,
    });
    if !e.allowed && !blocked && c.limit.block_ms > 0 {
        return Some(KeyState {
            blocked_until_ms: now_ms + c.limit.block_ms as i64,
            ..prev
        });
    }
    match (gate, e.next) {
        (false, Some(next)) if e.allowed => Some(KeyState {
            algo: Some(next),
            ..prev
        }),
        _ => None,
    }
}

/// Evaluates one check, honouring a block; the flag is true when the key is blocked.
#[inline(always)]
fn eval_one(c: &Check, s: Option<&KeyState>, now_ms: i64, cost: u64) -> (algorithm::Eval, bool) {
    let e = algorithm::evaluate(&c.limit, s.and_then(|s| s.algo.as_ref()), now_ms, cost);
    let until = s.map_or(0, |s| s.blocked_until_ms);
    if until > now_ms && cost > 0 {
        let left = (until - now_ms) as u64;
        let blocked = algorithm::Eval {
            allowed: false,
            remaining: 0,
            reset_after_ms: e.reset_after_ms.max(left),
            retry_after_ms: left,
            next: None,
        };
        return (blocked, true);
    }
    (e, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_reply_reads_as_a_decision_and_an_unknown_outcome_does_not() {
        let d = Decision::from_reply(10, &[1, 2, 3, -4, 5]).unwrap();
        assert_eq!(
            (d.allowed, d.outcome, d.limit, d.remaining),
            (true, Outcome::ShadowLimited, 10, 3)
        );
        assert_eq!(
            (d.reset_after_ms, d.retry_after_ms, d.fallback),
            (0, 5, false)
        );
        assert_eq!(Decision::from_reply(10, &[0, 3, 0, 0, 0]), None);
    }
}
