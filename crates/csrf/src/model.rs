//! Tokens, sessions and their hashes, and the store requests.

use palisade_core::{FieldError, TenantId};
use sha2::{Digest, Sha256};

/// A token in clear: `csrf_` and 43 random characters (256 bits). Handed out once, never stored.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

const PREFIX: &str = "csrf_";
const RANDOM_LEN: usize = 43;

impl Token {
    /// A fresh token from the OS-seeded CSPRNG.
    pub fn generate() -> Self {
        Self(format!(
            "{PREFIX}{}",
            palisade_core::secret::random_token(RANDOM_LEN)
        ))
    }

    /// A presented token of the right shape, else the field error naming `field`.
    pub fn parse(s: &str, field: &str) -> Result<Self, FieldError> {
        let ok = s.len() == PREFIX.len() + RANDOM_LEN
            && s.starts_with(PREFIX)
            && s[PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric());
        match ok {
            true => Ok(Self(s.to_owned())),
            false => Err(FieldError::new(
                field,
                "required: a token handed out by Palisade (csrf_…)",
            )),
        }
    }

    /// The token's text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The SHA-256 (hex) of a token: the store key of a token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub String);

/// The SHA-256 (hex) of a tenant's session id: what a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionHash(pub String);

/// The hash of `token`.
pub fn token_hash(token: &Token) -> TokenHash {
    TokenHash(palisade_core::secret::sha256_hex(token.expose().as_bytes()))
}

/// The hash of `session` within `tenant`; `session` must be 1 ..= 512 bytes without control
/// characters, else the field error naming `field` (never echoing it).
pub fn session_hash(
    tenant: &TenantId,
    session: &str,
    field: &str,
) -> Result<SessionHash, FieldError> {
    let ok = !session.is_empty() && session.len() <= 512 && !session.chars().any(char::is_control);
    if !ok {
        return Err(FieldError::new(
            field,
            "required: 1 to 512 bytes of text without control characters",
        ));
    }
    let mut h = Sha256::new();
    h.update(b"palisade.csrf.session\0");
    h.update(tenant.as_str().as_bytes());
    h.update(b"\0");
    h.update(session.as_bytes());
    Ok(SessionHash(hex::encode(h.finalize())))
}

/// Store a new token for a session.
#[derive(Debug, Clone)]
pub struct CsrfIssue {
    /// The token's hash.
    pub token: TokenHash,
    /// The session it is bound to.
    pub session: SessionHash,
    /// How long it is valid (ms).
    pub ttl_ms: i64,
}

/// Consume a token presented for a session.
#[derive(Debug, Clone)]
pub struct CsrfConsume {
    /// The presented token's hash.
    pub token: TokenHash,
    /// The session it is presented with.
    pub session: SessionHash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_sessions() {
        let t = Token::generate();
        assert!(Token::parse(t.expose(), "token").is_ok());
        assert!(Token::parse("csrf_short", "token").is_err());
        assert!(Token::parse(&t.expose().replace("csrf_", "xsrf_"), "token").is_err());
        assert_eq!(format!("{t:?}"), "Token(…)");
        let tenant = TenantId::generate();
        let a = session_hash(&tenant, "sess-1", "session_id").unwrap();
        assert_ne!(
            a,
            session_hash(&TenantId::generate(), "sess-1", "session_id").unwrap()
        );
        assert!(session_hash(&tenant, "", "session_id").is_err());
        assert!(session_hash(&tenant, "a\nb", "session_id").is_err());
    }
}
