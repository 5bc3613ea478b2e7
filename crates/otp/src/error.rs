//! The error of OTP operations, with classifiers callers decide on.

use palisade_core::{FieldError, StoreError};

/// Why an OTP operation did not succeed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    /// The input was invalid; every invalid field is listed (a 400).
    #[error("invalid OTP request")]
    Invalid(Vec<FieldError>),
    /// No live code of the identity matched: wrong, expired, already used, or never issued
    /// (one answer for all, a 401 `otp-invalid`).
    #[error("invalid code")]
    CodeInvalid,
    /// The identity is locked out after too many consecutive failures (a 423 `otp-locked`).
    #[error("identity locked out")]
    Locked {
        /// Seconds until the lockout ends.
        retry_after_secs: u64,
    },
    /// The identity's verify limit (or an IP's) is spent (a 429 `otp-rate-limited`).
    #[error("too many attempts")]
    RateLimited {
        /// Seconds until a retry may be decided.
        retry_after_secs: u64,
    },
    /// Too soon after the identity's last failure: the progressive delay (a 429 `otp-delayed`).
    #[error("too soon after a failed code")]
    Delayed {
        /// Seconds until a verify may be decided.
        retry_after_secs: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OtpError {
    /// True for bad input.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }

    /// True when the answer says "try later" (locked or rate-limited, or a retryable store
    /// failure).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Locked { .. } | Self::RateLimited { .. } | Self::Delayed { .. } => true,
            Self::Store(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Seconds after which a retry may succeed, when the error says.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Locked { retry_after_secs }
            | Self::RateLimited { retry_after_secs }
            | Self::Delayed { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// A stable machine-readable code for problem responses.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::CodeInvalid => "otp-invalid",
            Self::Locked { .. } => "otp-locked",
            Self::RateLimited { .. } => "otp-rate-limited",
            Self::Delayed { .. } => "otp-delayed",
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
        assert_eq!(OtpError::CodeInvalid.code(), "otp-invalid");
        let l = OtpError::Locked {
            retry_after_secs: 5,
        };
        assert_eq!((l.code(), l.retry_after_secs()), ("otp-locked", Some(5)));
        assert!(OtpError::RateLimited {
            retry_after_secs: 1
        }
        .is_retryable());
        assert!(!OtpError::CodeInvalid.is_retryable());
        assert!(OtpError::Invalid(vec![]).is_invalid());
        let d = OtpError::Delayed {
            retry_after_secs: 2,
        };
        assert_eq!((d.code(), d.retry_after_secs()), ("otp-delayed", Some(2)));
        assert!(d.is_retryable());
        assert_eq!(
            OtpError::Store(StoreError::Timeout).code(),
            "store-unavailable"
        );
    }
}
