//! Signed double-submit tokens (OWASP): `hmac.random`, the HMAC over the session id and the random value.
//!
//! Stateless: the app sets the token in a cookie and echoes it in a header or form field; the
//! server checks the two are equal (the app's job) and that the token verifies for the session
//! ([`double_submit_verify`]). Binding to the session stops an attacker who can plant cookies
//! from using their own token.

use hmac::{Hmac, Mac};
use palisade_core::secret::{random_token, secret_eq};
use sha2::Sha256;

/// The HMAC key (at least 32 bytes). Its `Debug` never shows it.
#[derive(Clone)]
pub struct DoubleSubmitKey(Vec<u8>);

impl std::fmt::Debug for DoubleSubmitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DoubleSubmitKey(…)")
    }
}

impl DoubleSubmitKey {
    /// The key of `bytes`; `None` when shorter than 32 bytes.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= 32).then_some(Self(bytes))
    }

    /// `HMAC-SHA256(key, len(session) "!" session "!" len(random) "!" random)` in hex, as the
    /// OWASP cheat sheet builds it (lengths make the message unambiguous).
    fn mac(&self, session: &str, random: &str) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        let msg = format!("{}!{session}!{}!{random}", session.len(), random.len());
        m.update(msg.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }
}

/// A fresh token for `session`: 64 hex characters, a dot, 32 random characters.
pub fn double_submit_token(key: &DoubleSubmitKey, session: &str) -> String {
    let random = random_token(32);
    format!("{}.{random}", key.mac(session, &random))
}

/// True when `token` was made by [`double_submit_token`] with `key` for `session`; the MAC is
/// compared in constant time.
pub fn double_submit_verify(key: &DoubleSubmitKey, session: &str, token: &str) -> bool {
    let Some((mac, random)) = token.split_once('.') else {
        return false;
    };
    if random.is_empty() || random.len() > 128 || !random.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    secret_eq(mac.as_bytes(), key.mac(session, random).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_to_session_and_key() {
        let k = DoubleSubmitKey::new(vec![7; 32]).unwrap();
        let t = double_submit_token(&k, "sess-a");
        assert!(double_submit_verify(&k, "sess-a", &t));
        assert!(!double_submit_verify(&k, "sess-b", &t));
        let other = DoubleSubmitKey::new(vec![8; 32]).unwrap();
        assert!(!double_submit_verify(&other, "sess-a", &t));
        let (mac, random) = t.split_once('.').unwrap();
        assert!(!double_submit_verify(
            &k,
            "sess-a",
            &format!("{mac}.{random}x")
        ));
        assert!(!double_submit_verify(&k, "sess-a", mac));
        assert!(!double_submit_verify(&k, "sess-a", ""));
        assert_ne!(t, double_submit_token(&k, "sess-a"));
        assert!(DoubleSubmitKey::new(vec![0; 31]).is_none());
    }
}
