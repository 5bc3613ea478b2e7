//! Stream tokens: claims, minting and constant-time verification under rotating keys.
//!
//! A token is `pst1.<key id>.<claims>.<signature>`: the claims are base64url JSON, the
//! signature base64url HMAC-SHA256, under the named key, of everything before it. Minting
//! uses the first key of the [`Keyring`]; verifying accepts any key of it, so a new key is
//! added first, then made the signing key, and an old one removed once its tokens expired.

use crate::error::TokenRejection;
use crate::model::TopicName;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use palisade_core::secret::secret_eq;
use palisade_core::TenantId;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;

/// The token's version prefix.
const PREFIX: &str = "pst1";
/// The longest token minted or verified (bytes): it travels in a request target of at most
/// 8 KiB with its path. A longer one is malformed.
pub const MAX_TOKEN_BYTES: usize = 6 * 1024;

/// What a token grants: read access to some topics and jobs of one tenant, for one principal,
/// until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The token's id (for revocation).
    #[serde(rename = "tid")]
    pub token_id: String,
    /// Its tenant.
    #[serde(rename = "ten")]
    pub tenant: TenantId,
    /// The app's end user it was minted for.
    #[serde(rename = "sub")]
    pub principal: String,
    /// The id of the tenant key that minted it (revoking the key revokes the token).
    #[serde(rename = "key", default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The topics it may read.
    #[serde(rename = "top", default)]
    pub topics: Vec<TopicName>,
    /// The jobs (ids) whose events it may read.
    #[serde(rename = "job", default)]
    pub jobs: Vec<String>,
    /// When it was minted (ms).
    #[serde(rename = "iat")]
    pub iat_ms: i64,
    /// When it expires (ms).
    #[serde(rename = "exp")]
    pub exp_ms: i64,
}

impl Claims {
    /// True when it may read `topic`.
    pub fn covers_topic(&self, topic: &TopicName) -> bool {
        self.topics.contains(topic)
    }

    /// True when it may read the job `id`.
    pub fn covers_job(&self, id: &str) -> bool {
        self.jobs.iter().any(|j| j == id)
    }
}

/// A mint's input (checked by [`crate::Realtime::token_mint`]).
#[derive(Debug, Clone)]
pub struct MintRequest {
    /// The app's end user.
    pub principal: String,
    /// Topics it may read.
    pub topics: Vec<TopicName>,
    /// Jobs it may read.
    pub jobs: Vec<String>,
    /// Lifetime; `None`: the default.
    pub ttl: Option<std::time::Duration>,
    /// The id of the tenant key minting it.
    pub key_id: Option<String>,
}

/// A minted token.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The token: a bearer secret, never logged.
    pub token: String,
    /// Its claims.
    pub claims: Claims,
}

type HmacSha256 = Hmac<Sha256>;

/// The signing keys: the first signs, every one verifies.
#[derive(Clone)]
pub struct Keyring {
    signing: String,
    keys: HashMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<_> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring")
            .field("signing", &self.signing)
            .field("key_ids", &ids)
            .finish()
    }
}

impl Keyring {
    /// A keyring of `(id, secret)` pairs, the first signing; `None` when empty.
    pub fn new(keys: impl IntoIterator<Item = (String, Vec<u8>)>) -> Option<Self> {
        let mut signing = None;
        let mut map = HashMap::new();
        for (id, secret) in keys {
            signing.get_or_insert_with(|| id.clone());
            map.insert(id, secret);
        }
        Some(Self {
            signing: signing?,
            keys: map,
        })
    }

    /// A keyring of one random key only this process knows (tokens die with the process and
    /// no other instance accepts them).
    pub fn ephemeral() -> Self {
        let secret = palisade_core::secret::random_token(43).into_bytes();
        Self::new([("ephemeral".to_owned(), secret)]).expect("one key")
    }

    /// The signing key's id.
    pub fn signing_id(&self) -> &str {
        &self.signing
    }

    fn mac(key: &[u8], signed: &str) -> Vec<u8> {
        let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        m.update(signed.as_bytes());
        m.finalize().into_bytes().to_vec()
    }

    /// Signs `claims` with the signing key.
    pub fn sign(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).expect("claims serialise");
        let signed = format!("{PREFIX}.{}.{}", self.signing, B64.encode(json));
        let key = &self.keys[&self.signing];
        let sig = B64.encode(Self::mac(key, &signed));
        format!("{signed}.{sig}")
    }

    /// The claims of a token signed by one of the keys and not expired at `now_ms`.
    /// (Revocation is the store's: see [`crate::Realtime::token_verify`].)
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<Claims, TokenRejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenRejection::Malformed);
        }
        let (signed, sig) = token.rsplit_once('.').ok_or(TokenRejection::Malformed)?;
        let mut parts = signed.splitn(3, '.');
        let (Some(PREFIX), Some(kid), Some(payload)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRejection::Malformed);
        };
        let key = self.keys.get(kid).ok_or(TokenRejection::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| TokenRejection::Malformed)?;
        if !secret_eq(&sig, &Self::mac(key, signed)) {
            return Err(TokenRejection::Malformed);
        }
        let json = B64.decode(payload).map_err(|_| TokenRejection::Malformed)?;
        let claims: Claims =
            serde_json::from_slice(&json).map_err(|_| TokenRejection::Malformed)?;
        if claims.exp_ms <= now_ms {
            return Err(TokenRejection::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_ms: i64) -> Claims {
        Claims {
            token_id: "tok1".into(),
            tenant: TenantId::parse("ten_a").unwrap_or_else(|_| TenantId::generate()),
            principal: "user-1".into(),
            key_id: Some("key_1".into()),
            topics: vec![TopicName::parse("orders").unwrap()],
            jobs: vec![],
            iat_ms: 0,
            exp_ms,
        }
    }

    fn ring(keys: &[(&str, &str)]) -> Keyring {
        Keyring::new(
            keys.iter()
                .map(|(i, s)| (i.to_string(), s.as_bytes().to_vec())),
        )
        .unwrap()
    }

    #[test]
    fn round_trip_and_expiry() {
        let k = ring(&[("k1", "0123456789abcdef0123456789abcdef")]);
        let c = claims(1_000);
        let t = k.sign(&c);
        assert!(t.starts_with("pst1.k1."));
        assert_eq!(k.verify(&t, 999).unwrap(), c);
        assert_eq!(k.verify(&t, 1_000), Err(TokenRejection::Expired));
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = ring(&[("k1", "0123456789abcdef0123456789abcdef")]);
        let t = old.sign(&claims(1_000));
        let rotated = ring(&[
            ("k2", "fedcba9876543210fedcba9876543210"),
            ("k1", "0123456789abcdef0123456789abcdef"),
        ]);
        assert!(rotated.verify(&t, 0).is_ok());
        assert!(rotated.sign(&claims(1_000)).starts_with("pst1.k2."));
        let dropped = ring(&[("k2", "fedcba9876543210fedcba9876543210")]);
        assert_eq!(dropped.verify(&t, 0), Err(TokenRejection::Malformed));
    }

    #[test]
    fn tampering_is_refused() {
        let k = ring(&[("k1", "0123456789abcdef0123456789abcdef")]);
        let t = k.sign(&claims(1_000));
        let (signed, _) = t.rsplit_once('.').unwrap();
        // Another payload under the same signature.
        let mut other = claims(1_000);
        other.topics.push(TopicName::parse("secrets").unwrap());
        let forged_payload = B64.encode(serde_json::to_vec(&other).unwrap());
        let sig = t.rsplit_once('.').unwrap().1;
        let forged = format!("pst1.k1.{forged_payload}.{sig}");
        assert_eq!(k.verify(&forged, 0), Err(TokenRejection::Malformed));
        // A signature by another key.
        let stranger = ring(&[("k1", "ffffffffffffffffffffffffffffffff")]);
        assert_eq!(
            k.verify(&stranger.sign(&claims(1_000)), 0),
            Err(TokenRejection::Malformed)
        );
        for bad in [
            "",
            "pst1",
            "pst1.k1.x",
            &format!("{signed}.!!"),
            &"a".repeat(9000),
        ] {
            assert_eq!(k.verify(bad, 0), Err(TokenRejection::Malformed), "{bad:?}");
        }
    }
}
