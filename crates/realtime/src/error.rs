//! The errors of realtime operations, with the codes the server answers.

use palisade_core::{FieldError, StoreError};

/// Why a stream token was refused (every case is a 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// Absent, malformed, tampered, or signed by no known key.
    #[error("invalid stream token")]
    Malformed,
    /// Past its expiry.
    #[error("stream token expired")]
    Expired,
    /// Revoked (by id or by principal).
    #[error("stream token revoked")]
    Revoked,
}

impl TokenRejection {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "stream-token-invalid",
            Self::Expired => "stream-token-expired",
            Self::Revoked => "stream-token-revoked",
        }
    }
}

/// Why a realtime operation did not succeed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    /// Bad input; every invalid field is listed (a 400).
    #[error("invalid realtime request")]
    Invalid(Vec<FieldError>),
    /// An event larger than the cap (a 413).
    #[error("event larger than {limit} bytes")]
    TooLarge {
        /// The cap (bytes).
        limit: usize,
    },
    /// The stream token was refused (a 401).
    #[error(transparent)]
    Token(#[from] TokenRejection),
    /// The topic or job is not covered by the token, or does not exist (a 404).
    #[error("not found")]
    NotFound,
    /// Too many open streams for the principal or the tenant, across the cluster (a 429).
    #[error("too many open streams for this {}", scope.as_str())]
    TooManyStreams {
        /// The cap hit.
        scope: crate::slots::SlotScope,
        /// When a slot may free up at the earliest (ms).
        retry_after_ms: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RealtimeError {
    /// True for bad input.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_) | Self::TooLarge { .. })
    }

    /// True when the token was refused.
    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, Self::Token(_))
    }

    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::TooLarge { .. } => "event-too-large",
            Self::Token(t) => t.code(),
            Self::NotFound => "not-found",
            Self::TooManyStreams { .. } => "too-many-streams",
            Self::Store(e) if e.is_retryable() => "store-unavailable",
            Self::Store(_) => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(
            RealtimeError::from(TokenRejection::Expired).code(),
            "stream-token-expired"
        );
        assert!(RealtimeError::TooLarge { limit: 1 }.is_invalid());
        assert_eq!(
            RealtimeError::Store(StoreError::Timeout).code(),
            "store-unavailable"
        );
        assert!(RealtimeError::Token(TokenRejection::Malformed).is_unauthenticated());
    }
}
