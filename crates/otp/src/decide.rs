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
    /// Consecutive failures after which each further verify must wait (1 ..= 100).
    pub delay_after: u32,
    /// The first wait (ms), doubled with each further failure; 0: no delay.
    pub delay_base_ms: i64,
    /// The longest wait (ms).
    pub delay_max_ms: i64,
}

impl OtpLimits {
    /// How long after its last failure an identity with `failures` consecutive failures must
    /// wait before its next verify is decided: 0 below `delay_after`, else
    /// `delay_base_ms × 2^(failures − delay_after)` capped at `delay_max_ms`.
    pub fn delay_ms(&self, failures: u32) -> i64 {
        if failures < self.delay_after || self.delay_base_ms <= 0 {
            return 0;
        }
        let doublings = failures - self.delay_after;
        let factor = 1_i64.checked_shl(doublings).filter(|_| doublings < 63);
        factor
            .and_then(|f| self.delay_base_ms.checked_mul(f))
            .unwrap_or(i64::MAX)
            .min(self.delay_max_ms)
    }
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
    /// When the last failed verify was decided (ms); the progressive delay counts from it.
    pub last_failure_ms: i64,
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
    /// Too soon after the last failure (the progressive delay): nothing counted or compared.
    Delayed {
        /// When a verify may be decided again (ms).
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
/// In order: a locked identity answers locked (nothing counted); a verify sooner than
/// [`OtpLimits::delay_ms`] after the last failure answers delayed (nothing counted or
/// compared); a spent window answers rate-limited (nothing counted); otherwise the attempt counts, the hashes are compared in
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
    let retry_at_ms = state
        .last_failure_ms
        .saturating_add(l.delay_ms(state.failures));
    if now < retry_at_ms {
        return (state, VerifyOutcome::Delayed { retry_at_ms });
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
    state.last_failure_ms = now;
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

/// The state after recording a lockout until `until_ms` (written through from another store):
/// the later of the recorded and the new lockout; nothing else changes.
pub fn lockout_decide(mut state: OtpState, until_ms: i64, now: i64) -> (OtpState, ()) {
    if until_ms > state.locked_until_ms {
        state.locked_until_ms = until_ms;
        state.updated_at_ms = now;
    }
    (state, ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{IdentityHash, OtpKey};
    use palisade_core::TenantId;

    fn limits() -> OtpLimits {
        OtpLimits {
            verify_limit: 20,
            window_ms: 3_600_000,
            lockout_after: 50,
            cooldown_ms: 86_400_000,
            delay_after: 100,
            delay_base_ms: 0,
            delay_max_ms: 0,
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

    fn delayed_limits() -> OtpLimits {
        OtpLimits {
            delay_after: 3,
            delay_base_ms: 1_000,
            delay_max_ms: 60_000,
            ..limits()
        }
    }

    #[test]
    fn delay_doubles_from_delay_after_and_is_capped() {
        let l = delayed_limits();
        let waits: Vec<i64> = (0..12).map(|f| l.delay_ms(f)).collect();
        assert_eq!(
            waits,
            [0, 0, 0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        assert_eq!(l.delay_ms(100), 60_000, "no overflow far past the cap");
        assert_eq!(l.delay_ms(u32::MAX), 60_000);
        let off = OtpLimits {
            delay_base_ms: 0,
            ..l
        };
        assert_eq!(off.delay_ms(50), 0, "a zero base disables the delay");
    }

    #[test]
    fn early_verify_is_delayed_uncounted_and_compares_nothing() {
        let k = OtpKey::generate();
        let id = k.identity_hash(&TenantId::generate(), "a");
        let issue = OtpIssue {
            identity: id.clone(),
            code: k.code_hash(&id, "111111"),
            ttl_ms: 600_000,
        };
        let req = |code: &str| OtpVerify {
            identity: id.clone(),
            code: k.code_hash(&id, code),
            limits: delayed_limits(),
        };
        let (mut s, _) = issue_decide(OtpState::default(), &issue, 0);
        for t in [10, 20, 30] {
            let (n, o) = verify_decide(s, &req("222222"), t);
            assert_eq!(o, VerifyOutcome::Invalid, "no delay before 3 failures");
            s = n;
        }
        assert_eq!((s.failures, s.last_failure_ms), (3, 30));
        // Within 1 s of the third failure: delayed, whatever the code, and nothing changes.
        for code in ["111111", "222222"] {
            let (n, o) = verify_decide(s.clone(), &req(code), 1_029);
            assert_eq!(o, VerifyOutcome::Delayed { retry_at_ms: 1_030 });
            assert_eq!(
                (n.failures, n.window_attempts, n.updated_at_ms),
                (3, 3, s.updated_at_ms),
                "not counted"
            );
            assert!(n.code.is_some(), "the right code is not consumed");
        }
        // At the end of the delay a wrong code counts and doubles the next wait.
        let (s2, o) = verify_decide(s.clone(), &req("222222"), 1_030);
        assert_eq!(o, VerifyOutcome::Invalid);
        assert_eq!(
            verify_decide(s2, &req("111111"), 3_029).1,
            VerifyOutcome::Delayed { retry_at_ms: 3_030 }
        );
        // The right code after the delay verifies and clears the failures.
        let (s3, o) = verify_decide(s, &req("111111"), 1_030);
        assert_eq!(o, VerifyOutcome::Valid);
        assert_eq!(s3.failures, 0);
    }

    #[test]
    fn unknown_identity_is_delayed_like_a_known_one() {
        let k = OtpKey::generate();
        let t = TenantId::generate();
        let (known, unknown) = (k.identity_hash(&t, "known"), k.identity_hash(&t, "unknown"));
        let issue = OtpIssue {
            identity: known.clone(),
            code: k.code_hash(&known, "111111"),
            ttl_ms: 600_000,
        };
        let req = |id: &IdentityHash| OtpVerify {
            identity: id.clone(),
            code: k.code_hash(id, "999999"),
            limits: delayed_limits(),
        };
        let (mut a, _) = issue_decide(OtpState::default(), &issue, 0);
        let mut b = OtpState::default();
        for now in (0..20_000).step_by(250) {
            let (na, oa) = verify_decide(a, &req(&known), now);
            let (nb, ob) = verify_decide(b, &req(&unknown), now);
            assert_eq!(oa, ob, "at {now}");
            (a, b) = (na, nb);
        }
        assert_eq!(a.failures, b.failures);
    }

    #[test]
    fn lockout_is_reached_no_sooner_than_the_sum_of_the_delays() {
        let l = OtpLimits {
            verify_limit: 1_000,
            lockout_after: 10,
            ..delayed_limits()
        };
        let k = OtpKey::generate();
        let id = k.identity_hash(&TenantId::generate(), "a");
        let wrong = OtpVerify {
            identity: id.clone(),
            code: k.code_hash(&id, "222222"),
            limits: l,
        };
        // An attacker retrying every 100 ms.
        let mut s = OtpState::default();
        let mut now = 0;
        let locked_at = loop {
            let (n, o) = verify_decide(s, &wrong, now);
            s = n;
            if let VerifyOutcome::Locked { now: true, .. } = o {
                break now;
            }
            now += 100;
        };
        let min: i64 = (0..l.lockout_after).map(|f| l.delay_ms(f)).sum();
        assert_eq!(
            min,
            1_000 + 2_000 + 4_000 + 8_000 + 16_000 + 32_000 + 60_000
        );
        assert!(locked_at >= min, "{locked_at} < {min}");
    }
}
