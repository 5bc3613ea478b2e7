//! Secrets at rest: XChaCha20-Poly1305 with a key id beside each ciphertext, so keys rotate.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A sealed secret: the id of the key that sealed it, the nonce and the ciphertext (base64).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The sealing key's id.
    pub key_id: String,
    /// The 24-byte nonce, base64.
    pub nonce: String,
    /// Ciphertext and tag, base64.
    pub data: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Why a sealed secret could not be opened (never carries the secret or the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key that sealed it is not configured.
    #[error("sealing key {0} is not configured")]
    UnknownKey(String),
    /// The ciphertext or its associated data does not match (tampered, or another record's).
    #[error("sealed secret does not open")]
    Tampered,
}

/// The sealing keys: the current one seals, every one opens.
#[derive(Clone)]
pub struct SecretBox {
    current: String,
    keys: BTreeMap<String, XChaCha20Poly1305>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl SecretBox {
    /// A box sealing with `current` (id, 32-byte key) and opening with it and `older`.
    pub fn new(current: (String, [u8; 32]), older: Vec<(String, [u8; 32])>) -> Self {
        let mut keys = BTreeMap::new();
        for (id, k) in older.into_iter().chain([current.clone()]) {
            keys.insert(id, XChaCha20Poly1305::new(Key::from_slice(&k)));
        }
        Self {
            current: current.0,
            keys,
        }
    }

    /// A 32-byte key from its base64 form, if it is one.
    pub fn key_from_base64(b64: &str) -> Option<[u8; 32]> {
        B64.decode(b64.trim()).ok()?.try_into().ok()
    }

    /// A fresh random 32-byte key in base64.
    pub fn key_generate() -> String {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        B64.encode(k)
    }

    /// Seals `plain` bound to `aad` with the current key.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Sealed {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let cipher = &self.keys[&self.current];
        let data = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("XChaCha20-Poly1305 seals any input");
        Sealed {
            key_id: self.current.clone(),
            nonce: B64.encode(nonce),
            data: B64.encode(data),
        }
    }

    /// Opens `sealed`, which must have been sealed with `aad`.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let cipher = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| SealError::UnknownKey(sealed.key_id.clone()))?;
        let nonce = B64.decode(&sealed.nonce).map_err(|_| SealError::Tampered)?;
        let data = B64.decode(&sealed.data).map_err(|_| SealError::Tampered)?;
        if nonce.len() != 24 {
            return Err(SealError::Tampered);
        }
        cipher
            .decrypt(XNonce::from_slice(&nonce), Payload { msg: &data, aad })
            .map_err(|_| SealError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_binds_aad_and_rotates() {
        let k1 = [1u8; 32];
        let old = SecretBox::new(("k1".into(), k1), vec![]);
        let s = old.seal(b"whsec_abc", b"t|a");
        assert_eq!(s.key_id, "k1");
        assert!(!s.data.contains("whsec"));
        assert_eq!(old.open(&s, b"t|a").unwrap(), b"whsec_abc");
        assert_eq!(old.open(&s, b"t|b"), Err(SealError::Tampered));
        let new = SecretBox::new(("k2".into(), [2u8; 32]), vec![("k1".into(), k1)]);
        assert_eq!(new.open(&s, b"t|a").unwrap(), b"whsec_abc");
        assert_eq!(new.seal(b"x", b"").key_id, "k2");
        let only2 = SecretBox::new(("k2".into(), [2u8; 32]), vec![]);
        assert_eq!(
            only2.open(&s, b"t|a"),
            Err(SealError::UnknownKey("k1".into()))
        );
        assert!(!format!("{s:?}").contains(&s.data));
    }
}
