//! Keyed hashes of identities and codes: HMAC-SHA256 under the server's OTP key.

use hmac::{Hmac, Mac};
use palisade_core::secret::secret_eq;
use palisade_core::TenantId;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The server key of the keyed hashes (at least 32 bytes). Its `Debug` never shows it.
#[derive(Clone)]
pub struct OtpKey(Vec<u8>);

impl std::fmt::Debug for OtpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtpKey(…)")
    }
}

/// The shortest accepted key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

impl OtpKey {
    /// The key of `bytes`; `None` when shorter than 32 bytes.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= MIN_KEY_BYTES).then_some(Self(bytes))
    }

    /// A fresh random 32-byte key.
    pub fn generate() -> Self {
        Self(rand::random::<[u8; 32]>().to_vec())
    }

    /// The key's bytes (to store it; never log them).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// The identity's hash within `tenant`: the store key of its OTP state.
    pub fn identity_hash(&self, tenant: &TenantId, identity: &str) -> IdentityHash {
        let h = self.mac(&[
            b"palisade.otp.identity",
            tenant.as_str().as_bytes(),
            identity.as_bytes(),
        ]);
        IdentityHash(hex::encode(h))
    }

    /// The hash of `code` for `identity`: what the store keeps of a code.
    pub fn code_hash(&self, identity: &IdentityHash, code: &str) -> CodeHash {
        let h = self.mac(&[b"palisade.otp.code", identity.0.as_bytes(), code.as_bytes()]);
        CodeHash(hex::encode(h))
    }
}

/// An identity's keyed hash (64 lower-case hex characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentityHash(String);

impl IdentityHash {
    /// The hash as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hash read back from a store.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

/// A code's keyed hash (64 lower-case hex characters). Compared only with [`CodeHash::matches`].
#[derive(Debug, Clone)]
pub struct CodeHash(String);

impl CodeHash {
    /// The hash as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hash read back from a store.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// Constant-time comparison with `other` (lengths first).
    pub fn matches(&self, other: &CodeHash) -> bool {
        secret_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_and_tenant_bound() {
        let (k1, k2) = (OtpKey::generate(), OtpKey::generate());
        let (t1, t2) = (TenantId::generate(), TenantId::generate());
        let a = k1.identity_hash(&t1, "a@example.com");
        assert_eq!(a, k1.identity_hash(&t1, "a@example.com"));
        assert_ne!(a, k2.identity_hash(&t1, "a@example.com"));
        assert_ne!(a, k1.identity_hash(&t2, "a@example.com"));
        assert_eq!(a.as_str().len(), 64);
        assert!(!a.as_str().contains("example"));
        let c = k1.code_hash(&a, "1234567890");
        assert!(c.matches(&k1.code_hash(&a, "1234567890")));
        assert!(!c.matches(&k1.code_hash(&a, "1234567891")));
        assert!(OtpKey::new(vec![0; 31]).is_none());
        assert_eq!(format!("{k1:?}"), "OtpKey(…)");
    }
}
