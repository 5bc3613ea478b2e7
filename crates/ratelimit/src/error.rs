//! Errors of rate limiting: bad input (every invalid field at once) or a failing store.

use palisade_core::{FieldError, Problem, StoreError};

/// An error from deciding or configuring rate limits.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The input is invalid; every bad field is listed.
    #[error("invalid rate limit input: {0:?}")]
    Invalid(Vec<FieldError>),
    /// A named policy does not exist.
    #[error("unknown rate limit policy")]
    UnknownPolicy(String),
    /// The store failed and the policy's `on_store_error` could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RateLimitError {
    /// True for bad input (answer 400).
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }

    /// True when a named policy is unknown (answer 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::UnknownPolicy(_))
    }

    /// True when retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_retryable())
    }

    /// The public problem for this error; store details stay out of it.
    pub fn to_problem(&self) -> Problem {
        match self {
            Self::Invalid(errors) => Problem::invalid(errors.clone()),
            Self::UnknownPolicy(_) => Problem::not_found("rate limit policy"),
            Self::Store(e) if e.is_retryable() => Problem::unavailable(1),
            Self::Store(_) => Problem::internal(),
        }
    }
}

impl From<Vec<FieldError>> for RateLimitError {
    fn from(v: Vec<FieldError>) -> Self {
        Self::Invalid(v)
    }
}
