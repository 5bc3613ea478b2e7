//! The error every store backend reports, with classifiers callers decide on.

/// An error from a store backend (SQLite, PostgreSQL, Redis or memory).
///
/// Messages are for logs only: they may contain backend detail and never reach a response.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached, or its connection pool stayed exhausted past the deadline.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer within the deadline.
    #[error("store timed out")]
    Timeout,
    /// A uniqueness constraint refused the write (SQLSTATE 23505 and the like).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend does not implement this operation.
    #[error("not supported by this store: {0}")]
    Unsupported(&'static str),
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("store error: {0}")]
    Backend(String),
    /// A per-tenant cap refused a create (`what`: e.g. `policies`; `limit`: the cap).
    #[error("tenant limit reached: at most {limit} {what}")]
    LimitReached {
        /// What is capped, plural (`policies`, `overrides`).
        what: &'static str,
        /// The cap.
        limit: u64,
    },
}

impl StoreError {
    /// True when retrying later may succeed (unavailable or timed out).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout)
    }

    /// True when a uniqueness constraint refused the write.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict(_))
    }

    /// True when a per-tenant cap refused a create.
    pub fn is_limit_reached(&self) -> bool {
        matches!(self, Self::LimitReached { .. })
    }

    /// True when the backend lacks the operation.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifiers() {
        assert!(StoreError::Timeout.is_retryable());
        assert!(StoreError::Unavailable("x".into()).is_retryable());
        assert!(!StoreError::Backend("x".into()).is_retryable());
        assert!(StoreError::Conflict("k".into()).is_conflict());
        assert!(StoreError::Unsupported("op").is_unsupported());
        let cap = StoreError::LimitReached {
            what: "policies",
            limit: 3,
        };
        assert!(cap.is_limit_reached() && !cap.is_retryable());
    }
}
