//! HMAC of signed content given in pieces, its SHA-256 digest, and signature comparison.

use ::hmac::{Hmac, Mac};
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};

/// The hash of an HMAC scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HmacAlgorithm {
    /// HMAC-SHA1 (Twilio; legacy schemes).
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// HMAC of the concatenation of `pieces` under `key` (None only if the MAC refuses the key,
/// which HMAC never does: callers treat None as "no match").
pub(super) fn hmac(alg: HmacAlgorithm, key: &[u8], pieces: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<M: Mac + ::hmac::digest::KeyInit>(key: &[u8], pieces: &[&[u8]]) -> Option<Vec<u8>> {
        let mut mac = <M as ::hmac::digest::KeyInit>::new_from_slice(key).ok()?;
        for p in pieces {
            mac.update(p);
        }
        Some(mac.finalize().into_bytes().to_vec())
    }
    match alg {
        HmacAlgorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, pieces),
        HmacAlgorithm::Sha256 => run::<Hmac<Sha256>>(key, pieces),
        HmacAlgorithm::Sha512 => run::<Hmac<Sha512>>(key, pieces),
    }
}

/// SHA-256 of the concatenation of `pieces`: [`super::Verified::digest`].
pub(super) fn digest(pieces: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in pieces {
        h.update(p);
    }
    h.finalize().into()
}

/// Whether a received signature equals the expected MAC: lengths first, then constant time.
/// An empty expected value never matches.
pub(super) fn matches(expected: &[u8], given: &[u8]) -> bool {
    !expected.is_empty() && palisade_core::secret::secret_eq(given, expected)
}

/// Lower- or upper-case hex, at least one byte.
pub(super) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok().filter(|b| !b.is_empty())
}

/// Standard base64 (`+/`) with its padding (as every provider sends it; so does every SDK's
/// string comparison require), at least one byte.
pub(super) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    base64_engine(false)
        .decode(s)
        .ok()
        .filter(|b| !b.is_empty())
}

/// URL-safe base64 (`-_`), padded or not, at least one byte.
pub(super) fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    base64_engine(true).decode(s).ok().filter(|b| !b.is_empty())
}

fn base64_engine(url: bool) -> base64::engine::GeneralPurpose {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let (alphabet, padding) = if url {
        (&base64::alphabet::URL_SAFE, DecodePaddingMode::Indifferent)
    } else {
        (
            &base64::alphabet::STANDARD,
            DecodePaddingMode::RequireCanonical,
        )
    };
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_padding_mode(padding),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 (key "Jefe") and RFC 2202 test case 2 for HMAC-SHA1.
    #[test]
    fn rfc_4231_and_2202_vectors() {
        let data: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
        let h = |alg| hex::encode(hmac(alg, b"Jefe", data).unwrap());
        assert_eq!(
            h(HmacAlgorithm::Sha1),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            h(HmacAlgorithm::Sha256),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            h(HmacAlgorithm::Sha512),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn empty_expected_never_matches() {
        assert!(!matches(b"", b""));
        assert!(matches(b"ab", b"ab"));
        assert!(!matches(b"ab", b"abc"));
    }

    #[test]
    fn base64_padded_base64url_either_and_alphabets_differ() {
        assert_eq!(base64_decode("+/8="), Some(vec![0xfb, 0xff]));
        assert_eq!(base64_decode("+/8"), None);
        assert_eq!(base64url_decode("-_8="), Some(vec![0xfb, 0xff]));
        assert_eq!(base64_decode("-_8="), None);
        assert_eq!(base64url_decode("-_8"), Some(vec![0xfb, 0xff]));
    }
}
