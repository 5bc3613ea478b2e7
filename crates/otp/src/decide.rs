//! The decisions every store makes inside its one atomic step: pure functions of the stored state.

use crate::hash::CodeHash;
use crate::model::{IssueOutcome, OtpIssue, OtpVerify};

/// The per-identity limits a verify is decided under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpLimits {
    /// Verifies decided per identity per window (whatever their IP); more answer rate-limited.
    pub verify_limit: u32,
    /// The window of `verify_limit` (ms); a fixed window starting at its first verify.
    pub window_ms: i64,
    /// Consecutive failures that lock the identity (1 ..= 100).
    pub lockout_after: u32,
    /// How long a lockout lasts (ms).
    pub cooldown_ms: i64,
}

/// One identity's stored state. A missing row is [`OtpState::default`].
#[derive(Debug, Clone, Default)]
pub struct OtpState {
    /// The live code's hash, if one was issued and not consumed.
    pub code: Option<CodeHash>,
    /// When the code expires (ms).
    pub code_expires_at_ms: i64,
    /// When the current verify window started (ms).
    pub window_start_ms: i64,
    /// Verifies decided in the current window.
    pub window_attempts: u32,
    /// Failed verifies since the last success, unlock or lockout.
    pub failures: u32,
    /// Locked while the clock is before this (ms).
    pub locked_until_ms: i64,
    /// The last change (ms): purge keeps rows changed within the retention.
    pub updated_at_ms: i64,
}

/// What a verify decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// The code matched and is consumed.
    Valid,
    /// No live code matched (wrong, expired, consumed, or none ever issued).
    Invalid,
    /// The identity is locked out until `until_ms`; `now` when this verify locked it.
    Locked {
        /// When the lockout ends (ms).
        until_ms: i64,
        /// True when this very verify was the failure that locked it.
        now: bool,
    },
    /// The identity's verify limit is spent until `retry_at_ms`.
    RateLimited {
        /// When the window ends (ms).
        retry_at_ms: i64,
    },
}

/// A hash no code has, compared against when the identity has no live code so that both
/// paths do the same work.
fn nothing() -> CodeHash {
    CodeHash::from_stored("0".repeat(64))
}

/// The issue of `req` at `now` on `state`: the new state (unchanged when locked) and the outcome.
/// An issue replaces the live code and never resets the failure count or the window.
pub fn issue_decide(mut state: OtpState, req: &OtpIssue, now: i64) -> (OtpState, IssueOutcome) {
    if state.locked_until_ms > now {
        let until_ms = state.locked_until_ms;
        return (state, IssueOutcome::Locked { until_ms });
    }
    let expires_at_ms = now + req.ttl_ms;
    state.code = Some(req.code.clone());
    state.code_expires_at_ms = expires_at_ms;
    state.updated_at_ms = now;
    (state, IssueOutcome::Issued { expires_at_ms })
}

/// The verify of `req` at `now` on `state`: the new state and the outcome.
///
/// In order: a locked identity answers locked (nothing counted); a spent window answers
/// rate-limited (nothing counted); otherwise the attempt counts, the hashes are compared in
/// constant time, and a match consumes the code and clears the failures while a miss adds a
/// failure, locking the identity (and dropping its code) at `lockout_after`.
pub fn verify_decide(mut state: OtpState, req: &OtpVerify, now: i64) -> (OtpState, VerifyOutcome) {
    let l = &req.limits;
    if state.locked_until_ms > now {
        let until_ms = state.locked_until_ms;
        return (
            state,
            VerifyOutcome::Locked {
                until_ms,
                now: false,
            },
        );
    }
    if now >= state.window_start_ms + l.window_ms {
        state.window_start_ms = now;
        state.window_attempts = 0;
    }
    if state.window_attempts >= l.verify_limit {
        let retry_at_ms = state.window_start_ms + l.window_ms;
        return (state, VerifyOutcome::RateLimited { retry_at_ms });
    }
    state.window_attempts += 1;
    state.updated_at_ms = now;
    let matched = match state
        .code
        .as_ref()
        .filter(|_| state.code_expires_at_ms > now)
    {
        Some(live) => live.matches(&req.code),
        None => {
            // Same work as a live code, same answer as a wrong one.
            let _ = nothing().matches(&req.code);
            false
        }
    };
    if matched {
        state.code = None;
        state.failures = 0;
        return (state, VerifyOutcome::Valid);
    }
    state.failures += 1;
    if state.failures < l.lockout_after {
        return (state, VerifyOutcome::Invalid);
    }
    state.failures = 0;
    state.code = None;
    state.locked_until_ms = now + l.cooldown_ms;
    let until_ms = state.locked_until_ms;
    (
        state,
        VerifyOutcome::Locked {
            until_ms,
            now: true,
        },
    )
}

/// The state after an unlock: no lockout, no failures, a fresh window; the live code stays.
/// `true` when the identity was locked.
pub fn unlock_decide(mut state: OtpState, now: i64) -> (OtpState, bool) {
    let was_locked = state.locked_until_ms > now;
    state.locked_until_ms = 0;
    state.failures = 0;
    state.window_attempts = 0;
    state.window_start_ms = 0;
    state.updated_at_ms = now;
    (state, was_locked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::OtpKey;
    use palisade_core::TenantId;

    fn limits() -> OtpLimits {
        OtpLimits {
            verify_limit: 20,
            window_ms: 3_600_000,
            lockout_after: 50,
            cooldown_ms: 86_400_000,
        }
    }

    #[test]
    fn sequence_limit_then_lockout() {
        let k = OtpKey::generate();
        let id = k.identity_hash(&TenantId::generate(), "a");
        let issue = OtpIssue {
            identity: id.clone(),
            code: k.code_hash(&id, "111111"),
            ttl_ms: 600_000,
        };
        let wrong = OtpVerify {
            identity: id.clone(),
            code: k.code_hash(&id, "222222"),
            limits: limits(),
        };
        let (mut s, _) = issue_decide(OtpState::default(), &issue, 0);
        let mut outcomes = Vec::new();
        for hour in 0..3 {
            for i in 0..21 {
                let (n, o) = verify_decide(s, &wrong, hour * 3_600_000 + i);
                s = n;
                outcomes.push(o);
            }
        }
        let invalid = outcomes
            .iter()
            .filter(|o| **o == VerifyOutcome::Invalid)
            .count();
        assert_eq!(invalid, 49, "49 failures answer invalid, the 50th locks");
        assert!(matches!(
            outcomes[2 * 21 + 9],
            VerifyOutcome::Locked { now: true, .. }
        ));
        assert!(matches!(
            outcomes[20],
            VerifyOutcome::RateLimited {
                retry_at_ms: 3_600_000
            }
        ));
        assert!(s.code.is_none(), "the lockout drops the live code");
    }

    #[test]
    fn valid_once_and_expiry() {
        let k = OtpKey::generate();
        let id = k.identity_hash(&TenantId::generate(), "a");
        let issue = OtpIssue {
            identity: id.clone(),
            code: k.code_hash(&id, "111111"),
            ttl_ms: 1_000,
        };
        let right = OtpVerify {
            identity: id.clone(),
            code: k.code_hash(&id, "111111"),
            limits: limits(),
        };
        let (s, _) = issue_decide(OtpState::default(), &issue, 0);
        let (late, o) = verify_decide(s.clone(), &right, 1_000);
        assert_eq!(o, VerifyOutcome::Invalid);
        assert_eq!(late.failures, 1);
        let (s, o) = verify_decide(s, &right, 999);
        assert_eq!(o, VerifyOutcome::Valid);
        assert_eq!(verify_decide(s, &right, 999).1, VerifyOutcome::Invalid);
    }
}
