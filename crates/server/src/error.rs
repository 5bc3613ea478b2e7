//! The server's one error type: renders a public problem, logs the private detail.

use axum::response::{IntoResponse, Response};
use palisade_core::{Problem, StoreError};

/// An error of a request handler.
#[derive(Debug)]
pub enum ApiError {
    /// A public problem, shown as is.
    Problem(Problem),
    /// A store failure: 503 when retryable, otherwise 500; detail only in the log.
    Store(StoreError),
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Problem(p) => p.into_response(),
            Self::Store(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "store unavailable");
                metrics::counter!("palisade_store_unavailable_total").increment(1);
                Problem::unavailable(1).into_response()
            }
            Self::Store(e) => {
                tracing::error!(error = %e, "store error");
                Problem::internal().into_response()
            }
        }
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
