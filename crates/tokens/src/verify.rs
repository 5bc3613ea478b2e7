//! The pure verifier: parse a compact JWS (bounded), then check signature and claims with `jsonwebtoken`.

use crate::error::TokenError;
use crate::model::{Alg, IssuerSpec};
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value};

/// What a token says about itself before any check: read to find its issuer and key.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// The header's `alg`, as written.
    pub alg: String,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// The `iss` claim.
    pub iss: Option<String>,
    /// The `jti` claim.
    pub jti: Option<String>,
    /// The `sub` claim.
    pub sub: Option<String>,
}

fn part(s: &str) -> Result<Vec<u8>, TokenError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| TokenError::Malformed)
}

fn object(bytes: &[u8]) -> Result<Map<String, Value>, TokenError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(TokenError::Malformed),
    }
}

/// An optional string member; any other type is `err`.
fn text(m: &Map<String, Value>, k: &str, err: TokenError) -> Result<Option<String>, TokenError> {
    match m.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err),
    }
}

/// Reads a token's header and payload without checking anything but their shape: at most
/// `max_bytes`, three base64url parts (no padding), a JSON object header with a string `alg`
/// and no `crit`, a JSON object payload.
pub fn token_parse(token: &str, max_bytes: usize) -> Result<Unverified, TokenError> {
    if token.len() > max_bytes {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if h.is_empty() || p.is_empty() || sig.is_empty() {
        return Err(TokenError::Malformed);
    }
    part(sig)?;
    let header = object(&part(h)?)?;
    let payload = object(&part(p)?)?;
    if header.contains_key("crit") {
        return Err(TokenError::Malformed);
    }
    let Some(alg) = text(&header, "alg", TokenError::Malformed)? else {
        return Err(TokenError::Malformed);
    };
    Ok(Unverified {
        alg,
        kid: text(&header, "kid", TokenError::Malformed)?,
        iss: text(&payload, "iss", TokenError::UnknownIssuer)?,
        jti: text(&payload, "jti", TokenError::MissingClaim("jti"))?,
        sub: text(&payload, "sub", TokenError::MissingClaim("sub"))?,
    })
}

/// Checks `token`'s signature with `key` under `alg` and its claims against `issuer`: `iss`
/// is the issuer's, `aud` names one of its audiences, `exp` (required) and `nbf` hold within
/// `leeway_secs`. The claims when every check passes.
pub fn token_check(
    token: &str,
    key: &DecodingKey,
    alg: Alg,
    issuer: &IssuerSpec,
    leeway_secs: u64,
) -> Result<Map<String, Value>, TokenError> {
    let mut v = Validation::new(alg.jwt());
    v.leeway = leeway_secs;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_audience(&issuer.audiences);
    v.set_issuer(&[issuer.issuer.as_str()]);
    v.set_required_spec_claims(&["exp", "iss", "aud"]);
    match jsonwebtoken::decode::<Map<String, Value>>(token, key, &v) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::InvalidIssuer => TokenError::UnknownIssuer,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                TokenError::AlgNotAllowed
            }
            ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(match c.as_str() {
                "exp" => "exp",
                "aud" => "aud",
                "iss" => "iss",
                _ => "claim",
            }),
            // A key that cannot verify (a bad component surfaces only when used).
            ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => TokenError::BadSignature,
            _ => TokenError::Malformed,
        }),
    }
}

/// True when a subject revocation at `not_before_ms` covers a token with these claims: its
/// `iat` is at or before it (`iat` has whole seconds, so a token issued in the revocation's
/// second is refused too: fail closed), or it has no numeric `iat` (it cannot show it was
/// issued after).
pub fn subject_revoked(claims: &Map<String, Value>, not_before_ms: i64) -> bool {
    match claims.get("iat").and_then(Value::as_f64) {
        Some(iat) => iat * 1000.0 <= not_before_ms as f64,
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn shapes_that_are_not_a_jws_are_malformed() {
        let h = b64(r#"{"alg":"RS256","kid":"k"}"#);
        let p = b64(r#"{"iss":"i","sub":"u"}"#);
        for bad in [
            String::new(),
            "abc".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.sig.more"),
            format!("{h}.{p}."),
            format!("{h}==.{p}.c2ln"),
            format!("{}.{p}.c2ln", b64("[1]")),
            format!("{h}.{}.c2ln", b64("\"text\"")),
            format!("{}.{p}.c2ln", b64(r#"{"kid":"k"}"#)),
            format!("{}.{p}.c2ln", b64(r#"{"alg":"RS256","crit":["x"]}"#)),
            format!("{}.{p}.c2ln", b64(r#"{"alg":7}"#)),
        ] {
            assert!(
                matches!(token_parse(&bad, 8192), Err(TokenError::Malformed)),
                "{bad}"
            );
        }
        let ok = token_parse(&format!("{h}.{p}.c2ln"), 8192).unwrap();
        assert_eq!(ok.alg, "RS256");
        assert_eq!(ok.kid.as_deref(), Some("k"));
        assert_eq!(ok.iss.as_deref(), Some("i"));
        assert_eq!(ok.sub.as_deref(), Some("u"));
        assert!(matches!(
            token_parse(&"a".repeat(8193), 8192),
            Err(TokenError::TooLarge)
        ));
        let bad_iss = format!("{h}.{}.c2ln", b64(r#"{"iss":5}"#));
        assert!(matches!(
            token_parse(&bad_iss, 8192),
            Err(TokenError::UnknownIssuer)
        ));
    }

    #[test]
    fn subject_revocation_covers_earlier_and_unknown_iat() {
        let c = |v: Value| v.as_object().unwrap().clone();
        assert!(subject_revoked(
            &c(serde_json::json!({"iat": 999})),
            1_000_000
        ));
        assert!(subject_revoked(
            &c(serde_json::json!({"iat": 1000})),
            1_000_500
        ));
        assert!(!subject_revoked(
            &c(serde_json::json!({"iat": 1001})),
            1_000_999
        ));
        assert!(subject_revoked(&c(serde_json::json!({})), 1_000_000));
        assert!(subject_revoked(
            &c(serde_json::json!({"iat": "1000"})),
            1_000_000
        ));
    }
}
