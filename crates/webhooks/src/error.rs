//! The error of webhook operations, with classifiers and its problem (RFC 9457) mapping.

use crate::verify::VerifyError;
use http::StatusCode;
use palisade_core::{FieldError, Problem, StoreError};

/// Why a webhook operation (ingress, source or event management) did not succeed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The input was invalid; every invalid field is listed (400 `invalid-request`).
    #[error("invalid webhooks request")]
    Invalid(Vec<FieldError>),
    /// No such source or event in this tenant (404 `not-found`), also another tenant's, and
    /// an unknown tenant at ingress.
    #[error("not found")]
    NotFound,
    /// A source of that name exists (409 `webhook-source-exists`).
    #[error("source exists")]
    SourceExists,
    /// The source changed since it was read (409 `webhook-source-changed`): read it again.
    #[error("source changed concurrently")]
    SourceChanged,
    /// The body is larger than the source's limit (413 `webhook-body-too-large`).
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The signature did not verify (401; the code says how).
    #[error("signature refused: {0}")]
    Signature(VerifyError),
    /// The signed timestamp is older than the tolerance (401 `webhook-timestamp-stale`).
    #[error("timestamp too old")]
    TimestampStale,
    /// The signed timestamp is ahead of the clock beyond the skew (401
    /// `webhook-timestamp-future`).
    #[error("timestamp in the future")]
    TimestampFuture,
    /// A stored secret cannot be opened with the configured keys (503
    /// `webhooks-key-unavailable`): the operator's key configuration is wrong.
    #[error("a sealed secret cannot be opened")]
    KeyUnavailable,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WebhookError {
    /// True for bad input.
    pub fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid(_) | Self::TooLarge { .. })
    }

    /// True for a refused ingress (signature or timestamp): an audit event.
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            Self::Signature(_) | Self::TimestampStale | Self::TimestampFuture
        )
    }

    /// True when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_retryable()) || matches!(self, Self::KeyUnavailable)
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::NotFound => "not-found",
            Self::SourceExists => "webhook-source-exists",
            Self::SourceChanged => "webhook-source-changed",
            Self::TooLarge { .. } => "webhook-body-too-large",
            Self::Signature(VerifyError::MissingHeader(_)) => "webhook-signature-missing",
            Self::Signature(VerifyError::DuplicateHeader(_)) => "webhook-signature-duplicate",
            Self::Signature(VerifyError::MalformedHeader(_)) => "webhook-signature-malformed",
            Self::Signature(_) => "webhook-signature-invalid",
            Self::TimestampStale => "webhook-timestamp-stale",
            Self::TimestampFuture => "webhook-timestamp-future",
            Self::KeyUnavailable => "webhooks-key-unavailable",
            Self::Store(e) if e.is_retryable() => "store-unavailable",
            Self::Store(_) => "internal",
        }
    }

    /// The metric reason of a refused ingress (bounded).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound => "unknown_source",
            Self::TooLarge { .. } => "too_large",
            Self::Signature(VerifyError::BadSignature) => "bad_signature",
            Self::Signature(_) => "bad_signature_header",
            Self::TimestampStale => "stale",
            Self::TimestampFuture => "future",
            Self::Store(_) | Self::KeyUnavailable => "unavailable",
            _ => "invalid",
        }
    }

    /// The problem a client sees; store detail and received values stay out of it.
    pub fn problem(&self) -> Problem {
        let unauth = |title, detail: String| {
            Problem::new(StatusCode::UNAUTHORIZED, self.code(), title, detail)
        };
        let conflict =
            |title, detail| Problem::new(StatusCode::CONFLICT, self.code(), title, detail);
        match self {
            Self::Invalid(errs) => Problem::invalid(errs.clone()),
            Self::NotFound => Problem::not_found("webhook resource"),
            Self::SourceExists => conflict("Source exists", "a source of this name exists"),
            Self::SourceChanged => conflict(
                "Source changed",
                "the source changed while this request was applied; read it and try again",
            ),
            Self::TooLarge { limit } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                self.code(),
                "Payload too large",
                format!("body: at most {limit} bytes for this source"),
            ),
            Self::Signature(e) => unauth("Invalid signature", e.to_string()),
            Self::TimestampStale => unauth(
                "Stale timestamp",
                "the signed timestamp is older than the source's tolerance".into(),
            ),
            Self::TimestampFuture => unauth(
                "Future timestamp",
                "the signed timestamp is ahead of the server's clock beyond the allowed skew"
                    .into(),
            ),
            Self::KeyUnavailable => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                self.code(),
                "Secrets unavailable",
                "the source's secrets cannot be read with the configured keys; retry later",
            )
            .with_retry_after(60),
            Self::Store(e) if e.is_retryable() => Problem::unavailable(1),
            Self::Store(_) => Problem::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_have_status_and_code() {
        let cases = [
            (WebhookError::NotFound, 404, "not-found"),
            (WebhookError::SourceExists, 409, "webhook-source-exists"),
            (
                WebhookError::TooLarge { limit: 5 },
                413,
                "webhook-body-too-large",
            ),
            (
                WebhookError::Signature(VerifyError::BadSignature),
                401,
                "webhook-signature-invalid",
            ),
            (
                WebhookError::Signature(VerifyError::MissingHeader("webhook-id")),
                401,
                "webhook-signature-missing",
            ),
            (
                WebhookError::Signature(VerifyError::DuplicateHeader("webhook-id")),
                401,
                "webhook-signature-duplicate",
            ),
            (WebhookError::TimestampStale, 401, "webhook-timestamp-stale"),
            (
                WebhookError::TimestampFuture,
                401,
                "webhook-timestamp-future",
            ),
            (
                WebhookError::KeyUnavailable,
                503,
                "webhooks-key-unavailable",
            ),
            (
                WebhookError::Store(StoreError::Timeout),
                503,
                "store-unavailable",
            ),
            (
                WebhookError::Store(StoreError::Backend("secret sql".into())),
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
