//! The error of lock operations, with classifiers callers decide on.

use crate::model::Lease;
use palisade_core::{FieldError, StoreError};

/// Why a lock operation did not succeed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The input was invalid; every invalid field is listed (a 400).
    #[error("invalid lock request")]
    Invalid(Vec<FieldError>),
    /// Another holder has the lock and the wait ended first (a 409 `lock-held`).
    #[error("lock is held by another holder")]
    Held(Box<Lease>),
    /// The caller is not the current holder: wrong holder or token, released, or taken over
    /// by a successor (a 409 `lock-not-holder`).
    #[error("caller does not hold the lock")]
    NotHolder,
    /// The caller's lease expired before it renewed or released it (a 409 `lock-expired`).
    #[error("lease expired")]
    Expired,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LockError {
    /// True for bad input.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }

    /// True when the lock's state refused the operation (held, not holder, expired).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Held(_) | Self::NotHolder | Self::Expired)
    }

    /// True when the caller's lease is gone (not holder or expired): stop the guarded work.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, Self::NotHolder | Self::Expired)
    }

    /// True when trying again later may succeed (held, or a retryable store failure).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Held(_) => true,
            Self::Store(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// A stable machine-readable code for problem responses.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::Held(_) => "lock-held",
            Self::NotHolder => "lock-not-holder",
            Self::Expired => "lock-expired",
            Self::Store(e) if e.is_retryable() => "store-unavailable",
            Self::Store(_) => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifiers() {
        assert!(LockError::Invalid(vec![]).is_invalid());
        assert!(LockError::NotHolder.is_conflict() && LockError::NotHolder.is_lease_lost());
        assert!(LockError::Expired.is_lease_lost());
        assert!(!LockError::Expired.is_retryable());
        assert!(LockError::Store(StoreError::Timeout).is_retryable());
        assert!(!LockError::Store(StoreError::Backend("x".into())).is_conflict());
        assert_eq!(LockError::NotHolder.code(), "lock-not-holder");
        assert_eq!(
            LockError::Store(StoreError::Timeout).code(),
            "store-unavailable"
        );
    }
}
