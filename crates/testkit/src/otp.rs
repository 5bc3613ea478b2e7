//! Conformance suite of the OTP stores: one public check per guarantee, on a manual clock.
//!
//! Every check takes the store and the manual clock the store reads, and works in a fresh
//! tenant.

use palisade_core::{Clock, ManualClock, TenantId};
use palisade_otp::{
    CodeHash, IdentityHash, IssueOutcome, OtpIssue, OtpKey, OtpLimits, OtpStore, OtpVerify,
    VerifyOutcome,
};
use std::sync::Arc;
use std::time::Duration;

/// The store under test.
pub type Store = Arc<dyn OtpStore>;

const LIMITS: OtpLimits = OtpLimits {
    verify_limit: 20,
    window_ms: 3_600_000,
    lockout_after: 50,
    cooldown_ms: 86_400_000,
    // The progressive delay is off here (a zero base) and on in its own check.
    delay_after: 3,
    delay_base_ms: 0,
    delay_max_ms: 0,
};

const TTL_MS: i64 = 600_000;

/// One tenant's identity and the hashes the runtime would make for it.
struct Subject {
    key: OtpKey,
    tenant: TenantId,
    id: IdentityHash,
}

impl Subject {
    fn new(identity: &str) -> Self {
        let key = OtpKey::generate();
        let tenant = TenantId::generate();
        let id = key.identity_hash(&tenant, identity);
        Self { key, tenant, id }
    }

    fn code(&self, code: &str) -> CodeHash {
        self.key.code_hash(&self.id, code)
    }

    fn issue_req(&self, code: &str) -> OtpIssue {
        OtpIssue {
            identity: self.id.clone(),
            code: self.code(code),
            ttl_ms: TTL_MS,
        }
    }

    fn verify_req(&self, code: &str, limits: OtpLimits) -> OtpVerify {
        OtpVerify {
            identity: self.id.clone(),
            code: self.code(code),
            limits,
        }
    }

    async fn issue(&self, s: &Store, code: &str) -> IssueOutcome {
        s.otp_issue(&self.tenant, &self.issue_req(code))
            .await
            .unwrap()
    }

    async fn verify(&self, s: &Store, code: &str) -> VerifyOutcome {
        self.verify_with(s, code, LIMITS).await
    }

    async fn verify_with(&self, s: &Store, code: &str, limits: OtpLimits) -> VerifyOutcome {
        s.otp_verify(&self.tenant, &self.verify_req(code, limits))
            .await
            .unwrap()
    }
}

/// An issued code verifies once, then never again; the issue reports its expiry.
pub async fn issue_then_verify_once(s: &Store, clock: &Arc<ManualClock>) {
    let a = Subject::new("a@example.com");
    let out = a.issue(s, "1234567890").await;
    assert_eq!(
        out,
        IssueOutcome::Issued {
            expires_at_ms: clock.now_ms() + TTL_MS
        }
    );
    assert_eq!(a.verify(s, "1234567890").await, VerifyOutcome::Valid);
    assert_eq!(a.verify(s, "1234567890").await, VerifyOutcome::Invalid);
}

/// A new issue replaces the live code: the old one no longer verifies.
pub async fn new_issue_replaces_previous_code(s: &Store, _clock: &Arc<ManualClock>) {
    let a = Subject::new("a");
    a.issue(s, "1111111111").await;
    a.issue(s, "2222222222").await;
    assert_eq!(a.verify(s, "1111111111").await, VerifyOutcome::Invalid);
    assert_eq!(a.verify(s, "2222222222").await, VerifyOutcome::Valid);
}

/// A code verifies until its expiry, not after.
pub async fn expired_code_is_invalid(s: &Store, clock: &Arc<ManualClock>) {
    let a = Subject::new("a");
    a.issue(s, "1111111111").await;
    clock.advance(Duration::from_millis(TTL_MS as u64));
    assert_eq!(a.verify(s, "1111111111").await, VerifyOutcome::Invalid);
}

/// An identity never issued to is decided and counted exactly like a wrong code: same
/// outcomes, same rate limit after the same number of tries.
pub async fn unknown_identity_answers_like_wrong_code(s: &Store, _clock: &Arc<ManualClock>) {
    let known = Subject::new("known");
    let unknown = Subject::new("unknown");
    known.issue(s, "1111111111").await;
    let limits = OtpLimits {
        verify_limit: 3,
        ..LIMITS
    };
    for _ in 0..4 {
        let k = known.verify_with(s, "9999999999", limits).await;
        let u = unknown.verify_with(s, "9999999999", limits).await;
        assert_eq!(k, u);
    }
    assert!(matches!(
        unknown.verify_with(s, "9999999999", limits).await,
        VerifyOutcome::RateLimited { .. }
    ));
}

/// At most `verify_limit` verifies per identity are decided per window; the window ends
/// `window_ms` after its first verify and the next one decides again.
pub async fn verify_limit_per_identity(s: &Store, clock: &Arc<ManualClock>) {
    let a = Subject::new("a");
    a.issue(s, "1111111111").await;
    let start = clock.now_ms();
    for i in 0..20 {
        assert_eq!(
            a.verify(s, "2222222222").await,
            VerifyOutcome::Invalid,
            "try {i}"
        );
    }
    let limited = a.verify(s, "1111111111").await;
    assert_eq!(
        limited,
        VerifyOutcome::RateLimited {
            retry_at_ms: start + LIMITS.window_ms
        }
    );
    clock.advance(Duration::from_millis(LIMITS.window_ms as u64 - 1));
    assert!(matches!(
        a.verify(s, "1111111111").await,
        VerifyOutcome::RateLimited { .. }
    ));
    clock.advance(Duration::from_millis(1));
    a.issue(s, "3333333333").await;
    assert_eq!(a.verify(s, "3333333333").await, VerifyOutcome::Valid);
}

/// `lockout_after` consecutive failures lock the identity for the cooldown: the last failure
/// answers locked (now), later verifies and issues answer locked, the live code is gone, and
/// the lockout ends with the cooldown.
pub async fn lockout_after_consecutive_failures(s: &Store, clock: &Arc<ManualClock>) {
    let a = Subject::new("a");
    a.issue(s, "1111111111").await;
    let limits = OtpLimits {
        verify_limit: 1_000,
        lockout_after: 5,
        ..LIMITS
    };
    for _ in 0..4 {
        assert_eq!(a.verify_with(s, "2", limits).await, VerifyOutcome::Invalid);
    }
    let until_ms = clock.now_ms() + LIMITS.cooldown_ms;
    let fifth = a.verify_with(s, "2", limits).await;
    assert_eq!(
        fifth,
        VerifyOutcome::Locked {
            until_ms,
            now: true
        }
    );
    let right = a.verify_with(s, "1111111111", limits).await;
    assert_eq!(
        right,
        VerifyOutcome::Locked {
            until_ms,
            now: false
        }
    );
    assert_eq!(a.issue(s, "3").await, IssueOutcome::Locked { until_ms });
    clock.advance(Duration::from_millis(LIMITS.cooldown_ms as u64));
    assert_eq!(
        a.verify_with(s, "1111111111", limits).await,
        VerifyOutcome::Invalid,
        "code dropped"
    );
    a.issue(s, "4444444444").await;
    assert_eq!(
        a.verify_with(s, "4444444444", limits).await,
        VerifyOutcome::Valid
    );
}

/// A success clears the failure count: failures must be consecutive to lock.
pub async fn success_resets_failures(s: &Store, _clock: &Arc<ManualClock>) {
    let a = Subject::new("a");
    let limits = OtpLimits {
        verify_limit: 1_000,
        lockout_after: 3,
        ..LIMITS
    };
    for round in 0..3 {
        a.issue(s, "1111111111").await;
        for _ in 0..2 {
            assert_eq!(
                a.verify_with(s, "2", limits).await,
                VerifyOutcome::Invalid,
                "round {round}"
            );
        }
        assert_eq!(
            a.verify_with(s, "1111111111", limits).await,
            VerifyOutcome::Valid
        );
    }
}

/// After `delay_after` consecutive failures each verify sooner than the doubling delay after the
/// last failure answers delayed, is not counted (no failure, no window attempt) and compares
/// nothing (the right code stays live); once the delay is over the right code verifies. An
/// unknown identity is delayed exactly like a known one.
pub async fn progressive_delay_after_failures(s: &Store, clock: &Arc<ManualClock>) {
    let limits = OtpLimits {
        verify_limit: 1_000,
        lockout_after: 6,
        delay_after: 2,
        delay_base_ms: 1_000,
        delay_max_ms: 3_000,
        ..LIMITS
    };
    let a = Subject::new("a");
    let unknown = Subject::new("unknown");
    a.issue(s, "1111111111").await;
    let both = |code: &'static str| {
        let (a, u) = (&a, &unknown);
        async move {
            let x = a.verify_with(s, code, limits).await;
            let y = u.verify_with(s, "2", limits).await;
            assert_eq!(x, y, "known and unknown identities decided alike");
            x
        }
    };
    assert_eq!(both("2").await, VerifyOutcome::Invalid);
    assert_eq!(both("2").await, VerifyOutcome::Invalid);
    let first = clock.now_ms() + 1_000;
    // Many early tries, the right code among them: none counts, none compares.
    for _ in 0..10 {
        assert_eq!(
            both("1111111111").await,
            VerifyOutcome::Delayed { retry_at_ms: first }
        );
        assert_eq!(
            both("2").await,
            VerifyOutcome::Delayed { retry_at_ms: first }
        );
    }
    clock.advance(Duration::from_millis(999));
    assert_eq!(
        both("2").await,
        VerifyOutcome::Delayed { retry_at_ms: first }
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(both("2").await, VerifyOutcome::Invalid, "3rd failure");
    let second = clock.now_ms() + 2_000;
    assert_eq!(
        both("2").await,
        VerifyOutcome::Delayed {
            retry_at_ms: second
        }
    );
    clock.advance(Duration::from_millis(2_000));
    assert_eq!(both("2").await, VerifyOutcome::Invalid, "4th failure");
    let capped = clock.now_ms() + 3_000;
    assert_eq!(
        both("2").await,
        VerifyOutcome::Delayed {
            retry_at_ms: capped
        },
        "4 s capped at delay_max"
    );
    clock.advance(Duration::from_millis(3_000));
    // Four failures so far (lockout at 6): the delayed tries were not counted.
    assert_eq!(
        a.verify_with(s, "1111111111", limits).await,
        VerifyOutcome::Valid,
        "the right code after the delay"
    );
    assert_eq!(
        a.verify_with(s, "2", limits).await,
        VerifyOutcome::Invalid,
        "a success clears the failures: no delay"
    );
}

/// An unlock ends a lockout at once and clears the window; unlocking an unlocked or unknown
/// identity reports false.
pub async fn unlock_ends_lockout(s: &Store, _clock: &Arc<ManualClock>) {
    let a = Subject::new("a");
    assert!(!s.otp_unlock(&a.tenant, &a.id).await.unwrap());
    let limits = OtpLimits {
        lockout_after: 2,
        ..LIMITS
    };
    a.verify_with(s, "2", limits).await;
    assert!(matches!(
        a.verify_with(s, "2", limits).await,
        VerifyOutcome::Locked { now: true, .. }
    ));
    assert!(s.otp_unlock(&a.tenant, &a.id).await.unwrap());
    assert!(!s.otp_unlock(&a.tenant, &a.id).await.unwrap());
    a.issue(s, "1111111111").await;
    assert_eq!(
        a.verify_with(s, "1111111111", limits).await,
        VerifyOutcome::Valid
    );
}

/// One tenant's code and lockout never touch another tenant's identity of the same hash.
pub async fn tenants_are_isolated(s: &Store, _clock: &Arc<ManualClock>) {
    let a = Subject::new("same");
    let b = Subject {
        tenant: TenantId::generate(),
        key: a.key.clone(),
        id: a.id.clone(),
    };
    a.issue(s, "1111111111").await;
    assert_eq!(b.verify(s, "1111111111").await, VerifyOutcome::Invalid);
    let limits = OtpLimits {
        lockout_after: 2,
        ..LIMITS
    };
    b.verify_with(s, "2", limits).await;
    assert!(matches!(
        b.verify_with(s, "2", limits).await,
        VerifyOutcome::Locked { .. }
    ));
    assert_eq!(a.verify(s, "1111111111").await, VerifyOutcome::Valid);
}

/// Many concurrent verifies of one code: exactly one succeeds.
pub async fn concurrent_verifies_succeed_once(s: &Store, _clock: &Arc<ManualClock>) {
    let a = Arc::new(Subject::new("a"));
    a.issue(s, "1111111111").await;
    let limits = OtpLimits {
        verify_limit: 1_000,
        ..LIMITS
    };
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (s, a) = (s.clone(), a.clone());
            tokio::spawn(async move { a.verify_with(&s, "1111111111", limits).await })
        })
        .collect();
    let outcomes = futures::future::join_all(tasks).await;
    let valid = outcomes
        .into_iter()
        .filter(|o| *o.as_ref().unwrap() == VerifyOutcome::Valid)
        .count();
    assert_eq!(valid, 1);
}

/// Concurrent verifies are each counted: of 40 at once under a limit of 20, exactly 20 are
/// decided and 20 rate-limited.
pub async fn concurrent_attempts_all_counted(s: &Store, _clock: &Arc<ManualClock>) {
    let a = Arc::new(Subject::new("a"));
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (s, a) = (s.clone(), a.clone());
            tokio::spawn(async move { a.verify(&s, "2222222222").await })
        })
        .collect();
    let outcomes: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let invalid = outcomes
        .iter()
        .filter(|o| **o == VerifyOutcome::Invalid)
        .count();
    let limited = outcomes
        .iter()
        .filter(|o| matches!(o, VerifyOutcome::RateLimited { .. }))
        .count();
    assert_eq!((invalid, limited), (20, 20));
}

/// Purge deletes state with nothing live that is older than the retention, and keeps live
/// codes, lockouts and recent state.
pub async fn purge_keeps_live_state(s: &Store, clock: &Arc<ManualClock>) {
    let retain = 86_400_000;
    let spent = Subject::new("spent");
    spent.issue(s, "1111111111").await;
    spent.verify(s, "1111111111").await;
    let locked = Subject::new("locked");
    let limits = OtpLimits {
        lockout_after: 1,
        cooldown_ms: 2 * retain,
        ..LIMITS
    };
    locked.verify_with(s, "2", limits).await;
    clock.advance(Duration::from_millis(retain as u64));
    let live = Subject::new("live");
    live.issue(s, "3333333333").await;
    assert_eq!(
        s.otp_purge(retain, 1_000).await.unwrap(),
        1,
        "only the spent identity"
    );
    assert!(matches!(
        locked.verify(s, "2").await,
        VerifyOutcome::Locked { .. }
    ));
    assert_eq!(live.verify(s, "3333333333").await, VerifyOutcome::Valid);
    assert_eq!(s.otp_purge(retain, 1_000).await.unwrap(), 0);
}

/// A lockout recorded from elsewhere (the write-through of a hot store) is read back, locks
/// verifies and issues until it ends, never shortens a later one, and ends with an unlock; an
/// identity without state reads 0 (and gets none by the read).
pub async fn lockout_is_recorded_and_read_back(s: &Store, clock: &Arc<ManualClock>) {
    let a = Subject::new("a");
    assert_eq!(s.otp_lockout(&a.tenant, &a.id).await.unwrap(), 0);
    let until_ms = clock.now_ms() + 60_000;
    s.otp_lockout_record(&a.tenant, &a.id, until_ms)
        .await
        .unwrap();
    s.otp_lockout_record(&a.tenant, &a.id, until_ms - 1_000)
        .await
        .unwrap();
    assert_eq!(s.otp_lockout(&a.tenant, &a.id).await.unwrap(), until_ms);
    assert_eq!(
        a.issue(s, "1111111111").await,
        IssueOutcome::Locked { until_ms }
    );
    assert_eq!(
        a.verify(s, "1111111111").await,
        VerifyOutcome::Locked {
            until_ms,
            now: false
        }
    );
    let other = Subject {
        tenant: TenantId::generate(),
        key: a.key.clone(),
        id: a.id.clone(),
    };
    assert_eq!(s.otp_lockout(&other.tenant, &other.id).await.unwrap(), 0);
    assert!(s.otp_unlock(&a.tenant, &a.id).await.unwrap());
    assert_eq!(s.otp_lockout(&a.tenant, &a.id).await.unwrap(), 0);
    a.issue(s, "2222222222").await;
    assert_eq!(a.verify(s, "2222222222").await, VerifyOutcome::Valid);
}

/// The hash key is stored once: every later candidate gets the first one.
pub async fn key_is_stored_once(s: &Store, _clock: &Arc<ManualClock>) {
    let first = s.otp_key(&[7; 32]).await.unwrap();
    assert_eq!(s.otp_key(&[9; 32]).await.unwrap(), first);
    assert_eq!(first.len(), 32);
}
