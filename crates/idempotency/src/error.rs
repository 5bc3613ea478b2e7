//! Errors of the idempotency capability and the problems they become.

use crate::key::KeyError;
use crate::model::EntryUpdate;
use http::StatusCode;
use palisade_core::{Problem, StoreError};

/// An idempotency failure.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key header is missing or malformed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// No live entry under this key (never begun, abandoned, or expired).
    #[error("no idempotency entry under this key")]
    NotFound,
    /// The token does not match the entry's: wrong, or a retry took the entry over.
    #[error("the entry token does not match the idempotency entry")]
    TokenMismatch,
    /// The entry is already completed.
    #[error("the idempotency entry is already completed")]
    AlreadyCompleted,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IdempotencyError {
    /// True when retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_retryable())
    }

    /// True when the entry is held by someone else or already done.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::TokenMismatch | Self::AlreadyCompleted)
    }

    /// True when no live entry exists.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound)
    }

    /// The public problem: 400 for keys, 404/409 for entries, 503 + `Retry-After` for stores.
    pub fn problem(&self) -> Problem {
        match self {
            Self::Key(k) => Problem::new(
                StatusCode::BAD_REQUEST,
                k.code(),
                "Bad idempotency key",
                k.to_string(),
            ),
            Self::NotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "idempotency-entry-not-found",
                "Idempotency entry not found",
                "no live entry under this key: never begun, abandoned, or expired",
            ),
            Self::TokenMismatch => Problem::new(
                StatusCode::CONFLICT,
                "idempotency-entry-token-mismatch",
                "Entry token does not match",
                "entry_token is not the entry's current token: it is wrong, or this attempt's lock \
                 expired and a retry took the entry over; this attempt may not update it",
            ),
            Self::AlreadyCompleted => Problem::new(
                StatusCode::CONFLICT,
                "idempotency-entry-completed",
                "Idempotency entry already completed",
                "the entry is already completed",
            ),
            Self::Store(_) => Problem::unavailable(1),
        }
    }
}

impl EntryUpdate {
    /// `Ok` when applied, the matching error otherwise.
    pub fn into_result(self) -> Result<(), IdempotencyError> {
        match self {
            Self::Applied => Ok(()),
            Self::NotFound => Err(IdempotencyError::NotFound),
            Self::TokenMismatch => Err(IdempotencyError::TokenMismatch),
            Self::AlreadyCompleted => Err(IdempotencyError::AlreadyCompleted),
        }
    }
}

/// 409 `idempotency-key-in-flight`, retry after the lock deadline.
pub fn in_flight_problem(lock_remaining_ms: i64) -> Problem {
    let secs = (lock_remaining_ms.max(0) as u64).div_ceil(1000).max(1);
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency-key-in-flight",
        "Request in progress",
        "a request with this idempotency key is still being processed; retry later",
    )
    .with_retry_after(secs)
}

/// 422 `idempotency-key-reused`.
pub fn mismatch_problem() -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
        "Idempotency key reused",
        "this idempotency key was used with a different request; use a new key",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_have_stable_codes_and_statuses() {
        let p = IdempotencyError::from(KeyError::Missing).problem();
        assert_eq!(
            (p.status.as_u16(), p.code),
            (400, "idempotency-key-missing")
        );
        assert_eq!(IdempotencyError::NotFound.problem().status, 404);
        assert_eq!(IdempotencyError::TokenMismatch.problem().status, 409);
        assert_ne!(
            IdempotencyError::TokenMismatch.problem().code,
            IdempotencyError::AlreadyCompleted.problem().code
        );
        let s = IdempotencyError::Store(StoreError::Timeout);
        assert!(s.is_retryable());
        assert_eq!(s.problem().status, 503);
        assert_eq!(s.problem().retry_after, Some(1));
        assert_eq!(in_flight_problem(1_500).retry_after, Some(2));
        assert_eq!(in_flight_problem(-5).retry_after, Some(1));
        assert_eq!(mismatch_problem().status, 422);
    }
}
