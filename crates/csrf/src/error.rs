//! The error of CSRF operations, with classifiers callers decide on.

use palisade_core::{FieldError, StoreError};

/// Why a CSRF operation did not succeed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CsrfError {
    /// The input was invalid; every invalid field is listed (a 400).
    #[error("invalid CSRF request")]
    Invalid(Vec<FieldError>),
    /// The token is unknown, expired, already used, or bound to another session (a 403
    /// `csrf-invalid`, one answer for all).
    #[error("invalid CSRF token")]
    TokenInvalid,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CsrfError {
    /// True for bad input.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }

    /// A stable machine-readable code for problem responses.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::TokenInvalid => "csrf-invalid",
            Self::Store(e) if e.is_retryable() => "store-unavailable",
            Self::Store(_) => "internal",
        }
    }
}
