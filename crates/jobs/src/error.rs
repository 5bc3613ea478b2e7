//! The error of job operations, with classifiers and its problem (RFC 9457) mapping.

use http::StatusCode;
use palisade_core::{FieldError, Problem, StoreError};

/// Why a job operation did not succeed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The input was invalid; every invalid field is listed (400 `invalid-request`).
    #[error("invalid job request")]
    Invalid(Vec<FieldError>),
    /// A payload, checkpoint or progress detail is larger than its cap (413
    /// `payload-too-large`); `field` names it, `limit` is the cap in bytes.
    #[error("{field} larger than {limit} bytes")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// The cap in bytes.
        limit: usize,
    },
    /// No such job in this tenant (404 `not-found`), also for another tenant's job.
    #[error("job not found")]
    NotFound,
    /// The caller's lease token is not the job's current lease: the lease expired and was
    /// rescued, given to another attempt, or the job is no longer running (409
    /// `job-lease-lost`). Stop the work; do not retry the call.
    #[error("job lease lost")]
    LeaseLost,
    /// The job already finished (completed, dead or cancelled) (409 `job-finished`).
    #[error("job already finished")]
    Finished,
    /// Only a dead (or cancelled) job can be re-driven (409 `job-not-dead`).
    #[error("job is not dead")]
    NotDead,
    /// The job is running: stop it first (cancel) (409 `job-running`).
    #[error("job is running")]
    Running,
    /// Re-driving would make a second live job of a unique key (409 `job-unique-conflict`).
    #[error("another job holds the unique key")]
    UniqueConflict,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JobError {
    /// True for bad input (invalid or too large).
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_) | Self::TooLarge { .. })
    }

    /// True when the job does not exist for this tenant.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound)
    }

    /// True when the caller's lease is gone: stop the work.
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, Self::LeaseLost)
    }

    /// True when the job's state refused the operation (409s).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::LeaseLost | Self::Finished | Self::NotDead | Self::Running | Self::UniqueConflict
        )
    }

    /// True when trying again later may succeed (a retryable store failure).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_retryable())
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::TooLarge { .. } => "payload-too-large",
            Self::NotFound => "not-found",
            Self::LeaseLost => "job-lease-lost",
            Self::Finished => "job-finished",
            Self::NotDead => "job-not-dead",
            Self::Running => "job-running",
            Self::UniqueConflict => "job-unique-conflict",
            Self::Store(e) if e.is_retryable() => "store-unavailable",
            Self::Store(_) => "internal",
        }
    }

    /// The problem a client sees; store detail stays out of it.
    pub fn problem(&self) -> Problem {
        let conflict =
            |title, detail| Problem::new(StatusCode::CONFLICT, self.code(), title, detail);
        match self {
            Self::Invalid(errs) => Problem::invalid(errs.clone()),
            Self::TooLarge { field, limit } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                self.code(),
                "Payload too large",
                format!("{field}: at most {limit} bytes as JSON"),
            ),
            Self::NotFound => Problem::not_found("job"),
            Self::LeaseLost => conflict(
                "Job lease lost",
                "the lease token is not the job's current lease; stop working on this attempt",
            ),
            Self::Finished => conflict("Job finished", "the job already finished"),
            Self::NotDead => conflict(
                "Job not dead",
                "only a dead or cancelled job can be retried",
            ),
            Self::Running => conflict(
                "Job running",
                "the job holds a lease; cancel it and wait until it stops",
            ),
            Self::UniqueConflict => conflict(
                "Unique key taken",
                "another job with the same unique key is in a state the key applies to",
            ),
            Self::Store(e) if e.is_retryable() => Problem::unavailable(1),
            Self::Store(_) => Problem::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifiers() {
        assert!(JobError::LeaseLost.is_lease_lost() && JobError::LeaseLost.is_conflict());
        assert!(!JobError::Finished.is_lease_lost() && JobError::Finished.is_conflict());
        assert!(JobError::Invalid(vec![]).is_invalid());
        let big = JobError::TooLarge {
            field: "payload",
            limit: 1,
        };
        assert!(big.is_invalid() && !big.is_conflict());
        assert!(JobError::NotFound.is_not_found());
        assert!(JobError::Store(StoreError::Timeout).is_retryable());
        assert!(!JobError::Store(StoreError::Backend("x".into())).is_retryable());
    }

    #[test]
    fn problems_have_status_and_code() {
        let cases = [
            (JobError::LeaseLost, 409, "job-lease-lost"),
            (JobError::Finished, 409, "job-finished"),
            (JobError::NotDead, 409, "job-not-dead"),
            (JobError::Running, 409, "job-running"),
            (JobError::UniqueConflict, 409, "job-unique-conflict"),
            (JobError::NotFound, 404, "not-found"),
            (
                JobError::TooLarge {
                    field: "payload",
                    limit: 10,
                },
                413,
                "payload-too-large",
            ),
            (
                JobError::Invalid(vec![FieldError::new("queue", "x")]),
                400,
                "invalid-request",
            ),
            (
                JobError::Store(StoreError::Timeout),
                503,
                "store-unavailable",
            ),
            (
                JobError::Store(StoreError::Backend("secret sql".into())),
                500,
                "internal",
            ),
        ];
        for (e, status, code) in cases {
            let p = e.problem();
            assert_eq!((p.status.as_u16(), p.code), (status, code), "{e:?}");
            assert!(!p.detail.contains("secret sql"));
        }
    }
}
