//! Idempotency entries, the parameters and outcomes of store operations, and the state machine.
//!
//! An entry is keyed by tenant + principal + key and is either **in flight** (claimed by the
//! holder of an [`EntryToken`] until its lock deadline) or **completed** (its stored response is
//! replayed until the entry expires). The pure functions here are the reference semantics: the
//! memory store applies them under a mutex, the SQL and Lua implementations encode the same rules.

use crate::fingerprint::Fingerprint;
use crate::key::IdempotencyKey;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The secret that proves a caller holds an in-flight entry; needed to set a recovery point,
/// complete or abandon. A retry that takes over an expired lock gets a new token.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntryToken(pub String);

impl EntryToken {
    /// A new random token (32 alphanumerics).
    pub fn generate() -> Self {
        Self(palisade_core::secret::random_token(32))
    }
}

impl std::fmt::Debug for EntryToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntryToken(…)")
    }
}

/// A named point between the phases of a multi-step operation, with the data needed to resume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryPoint {
    /// The phase reached, e.g. `charge_created`.
    pub name: String,
    /// Whatever the operation needs to resume from there.
    pub data: serde_json::Value,
}

/// A response stored for replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status code.
    pub status: u16,
    /// The allow-listed headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// Parameters of [`crate::IdempotencyStore::idempotency_begin`].
#[derive(Clone, Debug)]
pub struct IdempotencyBegin {
    /// Who inside the tenant.
    pub principal: String,
    /// The client's key.
    pub key: IdempotencyKey,
    /// The request's fingerprint.
    pub fingerprint: Fingerprint,
    /// How long the claim holds before a retry may take it over.
    pub lock_ttl: Duration,
    /// How long an in-flight entry (and its recovery point) is kept if never completed.
    pub retention: Duration,
}

/// What a begin decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BeginOutcome {
    /// Run the operation. `recovery_point` is the last one recorded by a previous holder whose
    /// lock expired; `attempt` counts claims of this entry (1 for a new one).
    Proceed {
        /// Proves the claim.
        token: EntryToken,
        /// Where a previous attempt got to.
        recovery_point: Option<RecoveryPoint>,
        /// 1 for a new entry, more after lock takeovers.
        attempt: u32,
    },
    /// Another request with this key holds the lock (409).
    InFlight {
        /// Milliseconds until the lock deadline.
        lock_remaining_ms: i64,
    },
    /// The key was used with another fingerprint (422).
    Mismatch,
    /// The request completed before: replay this.
    Replay(StoredResponse),
}

/// Names an entry and proves its claim.
#[derive(Clone, Debug)]
pub struct EntryRef {
    /// Who inside the tenant.
    pub principal: String,
    /// The client's key.
    pub key: IdempotencyKey,
    /// The token [`BeginOutcome::Proceed`] returned.
    pub token: EntryToken,
}

/// Parameters of [`crate::IdempotencyStore::idempotency_recovery_point_set`].
#[derive(Clone, Debug)]
pub struct RecoveryPointSet {
    /// The entry.
    pub entry: EntryRef,
    /// The point reached.
    pub point: RecoveryPoint,
    /// The lock is extended to now + this.
    pub lock_ttl: Duration,
}

/// Parameters of [`crate::IdempotencyStore::idempotency_complete`].
#[derive(Clone, Debug)]
pub struct IdempotencyComplete {
    /// The entry.
    pub entry: EntryRef,
    /// What to replay.
    pub response: StoredResponse,
    /// How long the response is replayed.
    pub ttl: Duration,
}

/// What a token-checked update (recovery point, complete, abandon) found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryUpdate {
    /// Done.
    Applied,
    /// No live entry under this key: never begun, abandoned, or expired.
    NotFound,
    /// The token is not the entry's current one: wrong, or a retry took the entry over after
    /// this holder's lock expired.
    TokenMismatch,
    /// The entry is already completed by this token.
    AlreadyCompleted,
}

/// An entry's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryState {
    /// Claimed until `locked_until_ms`.
    InFlight {
        /// The lock deadline.
        locked_until_ms: i64,
        /// The last recovery point.
        recovery_point: Option<RecoveryPoint>,
    },
    /// Done; replayed until the entry expires.
    Completed(StoredResponse),
}

/// A stored entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The fingerprint the key is bound to.
    pub fingerprint: Fingerprint,
    /// The current holder's token.
    pub token: EntryToken,
    /// Claims so far.
    pub attempt: u32,
    /// When the entry may be deleted (and a new request may use the key afresh).
    pub expires_at_ms: i64,
    /// In flight or completed.
    pub state: EntryState,
}

/// The decision of a begin over the current entry (`None` when absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BeginDecision {
    /// Write this entry and proceed.
    Claim(Entry),
    /// Leave the entry as is and answer this.
    Refuse(BeginOutcome),
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Entry {
    /// True once `expires_at_ms` passed.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms <= now_ms
    }
}

/// The begin rules: absent or expired → new claim; other fingerprint → mismatch; completed →
/// replay; in flight past its lock deadline → takeover keeping the recovery point; else in flight.
pub fn decide_begin(current: Option<&Entry>, req: &IdempotencyBegin, now_ms: i64) -> BeginDecision {
    let fresh = |attempt: u32, recovery_point: Option<RecoveryPoint>| {
        BeginDecision::Claim(Entry {
            fingerprint: req.fingerprint.clone(),
            token: EntryToken::generate(),
            attempt,
            expires_at_ms: now_ms.saturating_add(ms(req.retention)),
            state: EntryState::InFlight {
                locked_until_ms: now_ms.saturating_add(ms(req.lock_ttl)),
                recovery_point,
            },
        })
    };
    let e = match current {
        Some(e) if !e.is_expired(now_ms) => e,
        _ => return fresh(1, None),
    };
    if e.fingerprint != req.fingerprint {
        return BeginDecision::Refuse(BeginOutcome::Mismatch);
    }
    match &e.state {
        EntryState::Completed(r) => BeginDecision::Refuse(BeginOutcome::Replay(r.clone())),
        EntryState::InFlight {
            locked_until_ms,
            recovery_point,
        } if *locked_until_ms <= now_ms => fresh(e.attempt + 1, recovery_point.clone()),
        EntryState::InFlight {
            locked_until_ms, ..
        } => BeginDecision::Refuse(BeginOutcome::InFlight {
            lock_remaining_ms: locked_until_ms - now_ms,
        }),
    }
}

/// The claim that a `BeginDecision::Claim` grants, as a begin outcome.
pub fn proceed_of(e: &Entry) -> BeginOutcome {
    let recovery_point = match &e.state {
        EntryState::InFlight { recovery_point, .. } => recovery_point.clone(),
        EntryState::Completed(_) => None,
    };
    BeginOutcome::Proceed {
        token: e.token.clone(),
        recovery_point,
        attempt: e.attempt,
    }
}

/// Whether the holder of `token` may update the entry; `None` when it may.
///
/// A holder whose lock deadline passed may still update while nobody took the entry over:
/// storing a late result beats running the operation twice.
pub fn check_holder(
    current: Option<&Entry>,
    token: &EntryToken,
    now_ms: i64,
) -> Option<EntryUpdate> {
    let e = match current {
        Some(e) if !e.is_expired(now_ms) => e,
        _ => return Some(EntryUpdate::NotFound),
    };
    if !palisade_core::secret::secret_eq(e.token.0.as_bytes(), token.0.as_bytes()) {
        return Some(EntryUpdate::TokenMismatch);
    }
    match e.state {
        EntryState::Completed(_) => Some(EntryUpdate::AlreadyCompleted),
        EntryState::InFlight { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(fp: &str) -> IdempotencyBegin {
        IdempotencyBegin {
            principal: "p".into(),
            key: IdempotencyKey::new("k".into()).unwrap(),
            fingerprint: Fingerprint::from_hex(fp),
            lock_ttl: Duration::from_secs(60),
            retention: Duration::from_secs(3600),
        }
    }

    fn claim(d: BeginDecision) -> Entry {
        match d {
            BeginDecision::Claim(e) => e,
            other => panic!("expected claim, got {other:?}"),
        }
    }

    #[test]
    fn state_machine() {
        let e = claim(decide_begin(None, &req("a"), 0));
        assert_eq!(e.attempt, 1);
        assert_eq!(e.expires_at_ms, 3_600_000);
        assert_eq!(
            decide_begin(Some(&e), &req("a"), 1_000),
            BeginDecision::Refuse(BeginOutcome::InFlight {
                lock_remaining_ms: 59_000
            })
        );
        assert_eq!(
            decide_begin(Some(&e), &req("b"), 1_000),
            BeginDecision::Refuse(BeginOutcome::Mismatch)
        );
        let taken = claim(decide_begin(Some(&e), &req("a"), 60_000));
        assert_eq!(taken.attempt, 2);
        assert_ne!(taken.token, e.token);
        assert_eq!(
            check_holder(Some(&taken), &e.token, 60_001),
            Some(EntryUpdate::TokenMismatch)
        );
        assert_eq!(check_holder(Some(&taken), &taken.token, 60_001), None);
        assert_eq!(
            check_holder(Some(&taken), &taken.token, 9_999_999),
            Some(EntryUpdate::NotFound)
        );
        let again = claim(decide_begin(Some(&taken), &req("b"), 9_999_999));
        assert_eq!(again.attempt, 1, "an expired entry is replaced afresh");
    }
}
