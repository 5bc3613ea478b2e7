//! The error of token operations: a stable code per refusal, with classifiers.

use palisade_core::{FieldError, Problem, StoreError};

/// Why a token operation did not succeed.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The input was invalid; every invalid field is listed (a 400).
    #[error("invalid token request")]
    Invalid(Vec<FieldError>),
    /// No such issuer in this tenant (a 404).
    #[error("issuer not found")]
    IssuerNotFound,
    /// The tenant already has an issuer of this `iss` (a 409).
    #[error("issuer exists")]
    IssuerExists,
    /// The token is larger than `tokens.max_token_bytes`.
    #[error("token too large")]
    TooLarge,
    /// Not a compact JWS (three base64url parts, a JSON header and a JSON object payload).
    #[error("malformed token")]
    Malformed,
    /// The token's `iss` is missing or not an issuer of this tenant.
    #[error("unknown issuer")]
    UnknownIssuer,
    /// The token's algorithm is `none`, HMAC, not allowed for the issuer, or not the family
    /// of the key it names (algorithm confusion).
    #[error("algorithm not allowed")]
    AlgNotAllowed,
    /// The JWKS has no key of the token's `kid` (after a refetch, or within the cooldown).
    #[error("unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `aud` names none of the issuer's audiences.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is missing or of the wrong type (`exp`, `aud`).
    #[error("missing or invalid claim {0}")]
    MissingClaim(&'static str),
    /// The token's `jti` or subject is revoked.
    #[error("token revoked")]
    Revoked,
    /// The issuer's JWKS could not be fetched and no key within the stale bound is cached.
    #[error("JWKS unavailable")]
    JwksUnavailable,
    /// The issuer's JWKS is not a JWKS (not JSON, too large, no usable key).
    #[error("JWKS invalid")]
    JwksInvalid,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TokenError {
    /// True when the token itself was refused (a 401): everything but bad input, missing
    /// issuers (API resources) and store failures.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Self::Invalid(_) | Self::IssuerNotFound | Self::IssuerExists | Self::Store(_)
        )
    }

    /// True when trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::JwksUnavailable => true,
            Self::Store(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// A stable machine-readable code for problem responses.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid-request",
            Self::IssuerNotFound => "not-found",
            Self::IssuerExists => "token-issuer-exists",
            Self::TooLarge => "token-too-large",
            Self::Malformed => "token-malformed",
            Self::UnknownIssuer => "token-unknown-issuer",
            Self::AlgNotAllowed => "token-alg-not-allowed",
            Self::UnknownKey => "token-unknown-key",
            Self::BadSignature => "token-bad-signature",
            Self::Expired => "token-expired",
            Self::NotYetValid => "token-not-yet-valid",
            Self::WrongAudience => "token-wrong-audience",
            Self::MissingClaim(_) => "token-missing-claim",
            Self::Revoked => "token-revoked",
            Self::JwksUnavailable => "token-jwks-unavailable",
            Self::JwksInvalid => "token-jwks-invalid",
            Self::Store(e) if e.is_retryable() => "store-unavailable",
            Self::Store(_) => "internal",
        }
    }

    /// The problem a client sees: 401 for a refused token (with the code), 400 for bad input,
    /// 404 and 409 for issuers, 503 for an unavailable store, 500 for anything else.
    pub fn problem(&self) -> Problem {
        use http::StatusCode;
        match self {
            Self::Invalid(errors) => Problem::invalid(errors.clone()),
            Self::IssuerNotFound => Problem::not_found("issuer"),
            Self::IssuerExists => Problem::new(
                StatusCode::CONFLICT,
                "token-issuer-exists",
                "Issuer exists",
                "this tenant already has an issuer of this iss",
            ),
            Self::Store(e) if e.is_retryable() => Problem::unavailable(1),
            Self::Store(_) => Problem::internal(),
            refused => Problem::new(
                StatusCode::UNAUTHORIZED,
                refused.code(),
                "Token refused",
                refused.detail(),
            ),
        }
    }

    /// A safe explanation (never the token or a claim's value).
    pub fn detail(&self) -> String {
        match self {
            Self::TooLarge => "the token is larger than tokens.max_token_bytes".into(),
            Self::Malformed => {
                "the token is not a compact JWS: three base64url parts, a JSON header with alg, a JSON object payload".into()
            }
            Self::UnknownIssuer => "the token's iss is missing or not an issuer of this tenant".into(),
            Self::AlgNotAllowed => {
                "the token's alg is not allowed for its issuer or does not match its key's type".into()
            }
            Self::UnknownKey => "the issuer's JWKS has no usable key of the token's kid".into(),
            Self::BadSignature => "the signature does not verify".into(),
            Self::Expired => "the token's exp has passed".into(),
            Self::NotYetValid => "the token's nbf is in the future".into(),
            Self::WrongAudience => "the token's aud names none of the issuer's audiences".into(),
            Self::MissingClaim(c) => format!("the token's {c} claim is missing or of the wrong type"),
            Self::Revoked => "the token or its subject is revoked".into(),
            Self::JwksUnavailable => "the issuer's JWKS could not be fetched".into(),
            Self::JwksInvalid => "the issuer's JWKS is not a valid JWKS document".into(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifiers() {
        assert!(TokenError::Expired.is_refusal());
        assert!(!TokenError::IssuerNotFound.is_refusal());
        assert!(TokenError::JwksUnavailable.is_retryable());
        assert_eq!(TokenError::Revoked.code(), "token-revoked");
        assert_eq!(
            TokenError::Store(StoreError::Timeout).code(),
            "store-unavailable"
        );
        assert!(TokenError::MissingClaim("exp").detail().contains("exp"));
    }
}
