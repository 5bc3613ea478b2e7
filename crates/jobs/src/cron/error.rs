//! The error of schedule operations, with classifiers and its problem (RFC 9457) mapping.

use crate::JobError;
use http::StatusCode;
use palisade_core::{FieldError, Problem, StoreError};

/// Why a schedule operation did not succeed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    /// The input was invalid; every invalid field is listed (400 `invalid-request`).
    #[error("invalid schedule")]
    Invalid(Vec<FieldError>),
    /// The payload is larger than its cap (413 `payload-too-large`).
    #[error("{field} larger than {limit} bytes")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// The cap in bytes.
        limit: usize,
    },
    /// No such schedule in this tenant (404 `not-found`), also for another tenant's.
    #[error("schedule not found")]
    NotFound,
    /// A schedule of that name exists in this tenant (409 `cron-schedule-exists`).
    #[error("schedule exists")]
    Exists,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CronError {
    /// True for bad input.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_) | Self::TooLarge { .. })
    }

    /// True when the schedule exists already.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Exists)
    }

    /// True when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_retryable())
    }

    /// The invalid fields (a too-large payload as one), for settings errors.
    pub fn fields(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(v) => v.clone(),
            Self::TooLarge { field, limit } => {
                vec![FieldError::new(
                    *field,
                    format!("at most {limit} bytes as JSON"),
                )]
            }
            _ => Vec::new(),
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::TooLarge { .. } => "payload-too-large",
            Self::NotFound => "not-found",
            Self::Exists => "cron-schedule-exists",
            Self::Store(e) if e.is_retryable() => "store-unavailable",
            Self::Store(_) => "internal",
        }
    }

    /// The problem a client sees; store detail stays out of it.
    pub fn problem(&self) -> Problem {
        match self {
            Self::Invalid(errs) => Problem::invalid(errs.clone()),
            Self::TooLarge { field, limit } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                self.code(),
                "Payload too large",
                format!("{field}: at most {limit} bytes as JSON"),
            ),
            Self::NotFound => Problem::not_found("schedule"),
            Self::Exists => Problem::new(
                StatusCode::CONFLICT,
                self.code(),
                "Schedule exists",
                "a schedule of this name exists; update it with PUT",
            ),
            Self::Store(e) if e.is_retryable() => Problem::unavailable(1),
            Self::Store(_) => Problem::internal(),
        }
    }
}

impl From<JobError> for CronError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Invalid(v) => Self::Invalid(v),
            JobError::TooLarge { field, limit } => Self::TooLarge { field, limit },
            JobError::Store(s) => Self::Store(s),
            other => Self::Store(StoreError::Backend(format!("cron enqueue: {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_have_status_and_code() {
        let cases = [
            (CronError::NotFound, 404, "not-found"),
            (CronError::Exists, 409, "cron-schedule-exists"),
            (
                CronError::Invalid(vec![FieldError::new("cron", "x")]),
                400,
                "invalid-request",
            ),
            (
                CronError::Store(StoreError::Timeout),
                503,
                "store-unavailable",
            ),
            (
                CronError::Store(StoreError::Backend("secret sql".into())),
                500,
                "internal",
            ),
        ];
        for (e, status, code) in cases {
            let p = e.problem();
            assert_eq!((p.status.as_u16(), p.code), (status, code), "{e:?}");
            assert!(!p.detail.contains("secret sql"));
        }
        assert!(CronError::Exists.is_conflict() && !CronError::NotFound.is_conflict());
    }
}
