//! Conformance suite of the idempotency stores ([`conformance!`](crate::conformance)`(idempotency, ..)`).
//!
//! With [`Time::Real`] the store runs on a clock the suite cannot move and expires entries by
//! itself (Redis `PEXPIRE`), so the checks sleep and expect the sweep to delete nothing.

use crate::Time;
use palisade_core::TenantId;
use palisade_idempotency::{
    BeginOutcome, EntryRef, EntryToken, EntryUpdate, Fingerprint, IdempotencyBegin,
    IdempotencyComplete, IdempotencyKey, IdempotencyStore, RecoveryPoint, RecoveryPointSet,
    StoredResponse,
};
use std::sync::Arc;
use std::time::Duration;

/// A short lock or TTL, and how long to wait for it to pass.
const SHORT: Duration = Duration::from_millis(500);
const PAST_SHORT: Duration = Duration::from_millis(800);
const LONG: Duration = Duration::from_secs(3600);

struct Suite {
    store: Arc<dyn IdempotencyStore>,
    time: Time,
}

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k.into()).unwrap()
}

fn fp(s: &str) -> Fingerprint {
    Fingerprint::from_hex(format!("{s:0>64}"))
}

fn begin_req(principal: &str, k: &str, f: &str, lock: Duration) -> IdempotencyBegin {
    IdempotencyBegin {
        principal: principal.into(),
        key: key(k),
        fingerprint: fp(f),
        lock_ttl: lock,
        retention: LONG,
    }
}

fn entry(principal: &str, k: &str, token: &EntryToken) -> EntryRef {
    EntryRef {
        principal: principal.into(),
        key: key(k),
        token: token.clone(),
    }
}

fn response() -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("location".into(), "/v1/charges/ch_1".into()),
            ("link".into(), "<a>".into()),
            ("link".into(), "<b>".into()),
        ],
        body: vec![b'{', 0, 255, 1, b'}'],
    }
}

fn point(name: &str) -> RecoveryPoint {
    RecoveryPoint {
        name: name.into(),
        data: serde_json::json!({"charge": "ch_1", "n": [1, 2]}),
    }
}

fn token_of(o: &BeginOutcome) -> EntryToken {
    match o {
        BeginOutcome::Proceed { token, .. } => token.clone(),
        other => panic!("expected Proceed, got {other:?}"),
    }
}

impl Suite {
    async fn pass(&self, d: Duration) {
        match &self.time {
            Time::Manual(c) => c.advance(d),
            Time::Real => tokio::time::sleep(d).await,
        }
    }

    async fn begin(&self, t: &TenantId, p: &str, k: &str, f: &str, lock: Duration) -> BeginOutcome {
        self.store
            .idempotency_begin(t, &begin_req(p, k, f, lock))
            .await
            .unwrap()
    }

    async fn complete(&self, t: &TenantId, e: EntryRef, ttl: Duration) -> EntryUpdate {
        let req = IdempotencyComplete {
            entry: e,
            response: response(),
            ttl,
        };
        self.store.idempotency_complete(t, &req).await.unwrap()
    }

    async fn abandon(&self, t: &TenantId, e: EntryRef) -> EntryUpdate {
        self.store.idempotency_abandon(t, &e).await.unwrap()
    }

    async fn set_point(
        &self,
        t: &TenantId,
        e: EntryRef,
        name: &str,
        lock: Duration,
    ) -> EntryUpdate {
        let req = RecoveryPointSet {
            entry: e,
            point: point(name),
            lock_ttl: lock,
        };
        self.store
            .idempotency_recovery_point_set(t, &req)
            .await
            .unwrap()
    }

    /// Completes ("p", "k") with `tok` (applied); the next begin replays the response.
    async fn complete_then_replay(&self, t: &TenantId, tok: &EntryToken) {
        assert_eq!(
            self.complete(t, entry("p", "k", tok), LONG).await,
            EntryUpdate::Applied
        );
        assert_eq!(
            self.begin(t, "p", "k", "a", LONG).await,
            BeginOutcome::Replay(response())
        );
    }

    async fn race(&self, t: &TenantId, k: &str, lock: Duration) -> Vec<BeginOutcome> {
        let tasks = (0..50).map(|_| {
            let (s, t) = (self.store.clone(), t.clone());
            let req = begin_req("p", k, "a", lock);
            tokio::spawn(async move { s.idempotency_begin(&t, &req).await })
        });
        futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.unwrap().expect("a concurrent begin must not fail"))
            .collect()
    }
}

/// A new key proceeds; the same key again is in flight; another payload is a mismatch.
pub async fn new_then_in_flight_then_mismatch(store: Arc<dyn IdempotencyStore>, time: Time) {
    let s = Suite { store, time };
    let t = TenantId::generate();
    let first = s.begin(&t, "p", "k1", "a", LONG).await;
    assert!(matches!(
        first,
        BeginOutcome::Proceed {
            recovery_point: None,
            attempt: 1,
            ..
        }
    ));
    match s.begin(&t, "p", "k1", "a", LONG).await {
        BeginOutcome::InFlight { lock_remaining_ms } => {
            assert!(lock_remaining_ms > 0 && lock_remaining_ms <= 3_600_000)
        }
        other => panic!("same key in flight must be InFlight, got {other:?}"),
    }
    assert_eq!(
        s.begin(&t, "p", "k1", "b", LONG).await,
        BeginOutcome::Mismatch
    );
}

/// A completed entry replays its response exactly, and refuses every later update.
pub async fn complete_then_replay_exactly(store: Arc<dyn IdempotencyStore>, time: Time) {
    let s = Suite { store, time };
    let t = TenantId::generate();
    let tok = token_of(&s.begin(&t, "p", "k", "a", LONG).await);
    s.complete_then_replay(&t, &tok).await;
    assert_eq!(
        s.begin(&t, "p", "k", "b", LONG).await,
        BeginOutcome::Mismatch
    );
    assert_eq!(
        s.complete(&t, entry("p", "k", &tok), LONG).await,
        EntryUpdate::AlreadyCompleted
    );
    assert_eq!(
        s.set_point(&t, entry("p", "k", &tok), "x", LONG).await,
        EntryUpdate::AlreadyCompleted
    );
    assert_eq!(
        s.abandon(&t, entry("p", "k", &tok)).await,
        EntryUpdate::AlreadyCompleted
    );
    assert_eq!(
        s.begin(&t, "p", "k", "a", LONG).await,
        BeginOutcome::Replay(response()),
        "a completed entry survives abandon"
    );
}

/// Updates of an unknown entry find nothing; only the claimant abandons, which frees the key.
pub async fn unknown_and_abandoned_entries(store: Arc<dyn IdempotencyStore>, time: Time) {
    let s = Suite { store, time };
    let t = TenantId::generate();
    let stranger = EntryToken::generate();
    assert_eq!(
        s.complete(&t, entry("p", "none", &stranger), LONG).await,
        EntryUpdate::NotFound
    );
    let ab = s.abandon(&t, entry("p", "none", &stranger)).await;
    assert_eq!(ab, EntryUpdate::NotFound);

    let tok = token_of(&s.begin(&t, "p", "k", "a", LONG).await);
    let ab = s.abandon(&t, entry("p", "k", &stranger)).await;
    assert_eq!(ab, EntryUpdate::TokenMismatch, "wrong token cannot abandon");
    let ab = s.abandon(&t, entry("p", "k", &tok)).await;
    assert_eq!(ab, EntryUpdate::Applied);
    assert_eq!(
        s.complete(&t, entry("p", "k", &tok), LONG).await,
        EntryUpdate::NotFound
    );
    let again = s.begin(&t, "p", "k", "b", LONG).await;
    assert!(
        matches!(again, BeginOutcome::Proceed { attempt: 1, .. }),
        "an abandoned key is free, even for another payload: {again:?}"
    );
}

/// After the lock expires a retry takes over from the recovery point; the stale holder is superseded.
pub async fn lock_expiry_resumes_from_recovery_point(store: Arc<dyn IdempotencyStore>, time: Time) {
    let s = Suite { store, time };
    let t = TenantId::generate();
    let old = token_of(&s.begin(&t, "p", "k", "a", SHORT).await);
    assert_eq!(
        s.set_point(&t, entry("p", "k", &old), "charged", SHORT)
            .await,
        EntryUpdate::Applied
    );
    s.pass(PAST_SHORT).await;
    assert_eq!(
        s.begin(&t, "p", "k", "b", LONG).await,
        BeginOutcome::Mismatch,
        "an expired lock does not free the key for another payload"
    );
    let retry = s.begin(&t, "p", "k", "a", LONG).await;
    let new = match &retry {
        BeginOutcome::Proceed {
            token,
            recovery_point,
            attempt,
        } => {
            assert_eq!(recovery_point.as_ref(), Some(&point("charged")));
            assert_eq!(*attempt, 2);
            token.clone()
        }
        other => panic!("a retry after the lock deadline must proceed, got {other:?}"),
    };
    assert_ne!(new, old);
    assert_eq!(
        s.complete(&t, entry("p", "k", &old), LONG).await,
        EntryUpdate::TokenMismatch,
        "the stale holder cannot complete"
    );
    assert_eq!(
        s.set_point(&t, entry("p", "k", &old), "late", LONG).await,
        EntryUpdate::TokenMismatch
    );
    s.complete_then_replay(&t, &new).await;
}

/// A holder whose lock expired may still complete while nobody took over.
pub async fn late_holder_may_complete_until_taken_over(
    store: Arc<dyn IdempotencyStore>,
    time: Time,
) {
    let s = Suite { store, time };
    let t = TenantId::generate();
    let tok = token_of(&s.begin(&t, "p", "k", "a", SHORT).await);
    s.pass(PAST_SHORT).await;
    s.complete_then_replay(&t, &tok).await;
}

/// Setting a recovery point extends the lock.
pub async fn recovery_point_extends_the_lock(store: Arc<dyn IdempotencyStore>, time: Time) {
    let s = Suite { store, time };
    let t = TenantId::generate();
    let tok = token_of(&s.begin(&t, "p", "k", "a", SHORT).await);
    assert_eq!(
        s.set_point(&t, entry("p", "k", &tok), "one", LONG).await,
        EntryUpdate::Applied
    );
    s.pass(PAST_SHORT).await;
    assert!(matches!(
        s.begin(&t, "p", "k", "a", LONG).await,
        BeginOutcome::InFlight { .. }
    ));
}

/// Entries are scoped by tenant and by principal.
pub async fn tenants_and_principals_are_isolated(store: Arc<dyn IdempotencyStore>, time: Time) {
    let s = Suite { store, time };
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let tok = token_of(&s.begin(&a, "p", "shared", "a", LONG).await);
    assert_eq!(
        s.complete(&a, entry("p", "shared", &tok), LONG).await,
        EntryUpdate::Applied
    );
    let other_tenant = s.begin(&b, "p", "shared", "a", LONG).await;
    assert!(
        matches!(other_tenant, BeginOutcome::Proceed { attempt: 1, .. }),
        "another tenant must never get the stored response: {other_tenant:?}"
    );
    let other_principal = s.begin(&a, "q", "shared", "a", LONG).await;
    assert!(
        matches!(other_principal, BeginOutcome::Proceed { attempt: 1, .. }),
        "another principal must never get the stored response: {other_principal:?}"
    );
    let _ = s.begin(&a, "p", "only-a", "a", LONG).await;
    assert_eq!(
        s.complete(&b, entry("p", "only-a", &tok), LONG).await,
        EntryUpdate::NotFound,
        "another tenant cannot reach the entry"
    );
    // Principals whose concatenation with the key would collide stay apart.
    let x = s.begin(&a, "p:x", "y", "a", LONG).await;
    let y = s.begin(&a, "p", "x:y", "a", LONG).await;
    assert!(matches!(x, BeginOutcome::Proceed { .. }));
    assert!(matches!(y, BeginOutcome::Proceed { .. }));
}

/// Completed entries expire after their TTL and the sweep deletes them in batches.
pub async fn completed_entries_expire_and_are_swept(store: Arc<dyn IdempotencyStore>, time: Time) {
    let s = Suite { store, time };
    let t = TenantId::generate();
    for k in ["e1", "e2", "e3"] {
        let tok = token_of(&s.begin(&t, "p", k, "a", LONG).await);
        assert_eq!(
            s.complete(&t, entry("p", k, &tok), SHORT).await,
            EntryUpdate::Applied
        );
    }
    assert!(matches!(
        s.begin(&t, "p", "e1", "b", LONG).await,
        BeginOutcome::Mismatch
    ));
    s.pass(PAST_SHORT).await;
    let fresh = s.begin(&t, "p", "e1", "b", LONG).await;
    assert!(
        matches!(
            fresh,
            BeginOutcome::Proceed {
                attempt: 1,
                recovery_point: None,
                ..
            }
        ),
        "an expired key is used afresh: {fresh:?}"
    );
    if matches!(s.time, Time::Real) {
        assert_eq!(s.store.idempotency_expired_delete(100).await.unwrap(), 0);
        return;
    }
    assert_eq!(
        s.store.idempotency_expired_delete(1).await.unwrap(),
        1,
        "batched"
    );
    let mut total = 1;
    loop {
        let n = s.store.idempotency_expired_delete(100).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert!(total >= 2, "the expired entries e2 and e3 are swept");
    assert!(
        matches!(
            s.begin(&t, "p", "e1", "b", LONG).await,
            BeginOutcome::InFlight { .. }
        ),
        "the sweep keeps live entries"
    );
}

/// Exactly one of 50 concurrent begins proceeds.
pub async fn concurrent_begins_claim_once(store: Arc<dyn IdempotencyStore>, time: Time) {
    let s = Suite { store, time };
    let t = TenantId::generate();
    let outcomes = s.race(&t, "race", LONG).await;
    let proceeds = outcomes
        .iter()
        .filter(|o| matches!(o, BeginOutcome::Proceed { .. }))
        .count();
    assert_eq!(proceeds, 1, "exactly one of 50 concurrent begins proceeds");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        BeginOutcome::Proceed { .. } | BeginOutcome::InFlight { .. }
    )));
}

/// Exactly one of 50 concurrent retries takes over an expired lock.
pub async fn concurrent_takeovers_claim_once(store: Arc<dyn IdempotencyStore>, time: Time) {
    let s = Suite { store, time };
    let t = TenantId::generate();
    let _ = s.begin(&t, "p", "race", "a", SHORT).await;
    s.pass(PAST_SHORT).await;
    let outcomes = s.race(&t, "race", LONG).await;
    let winners: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, BeginOutcome::Proceed { attempt: 2, .. }))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one retry takes over an expired lock"
    );
}
