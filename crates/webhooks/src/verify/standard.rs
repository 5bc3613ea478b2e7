//! Standard Webhooks: `webhook-id`, `webhook-timestamp` and a space-separated list of
//! signatures in `webhook-signature` over `<id>.<timestamp>.<body>` — `v1,<base64>` HMAC-SHA256
//! keyed by a `whsec_<base64>` secret, `v1a,<base64>` ed25519 checked with a `whpk_<base64>`
//! public key.

use ed25519_dalek::{Signature, VerifyingKey};

use super::header::{self, id_ok, unix_seconds};
use super::mac::{self, HmacAlgorithm};
use super::{Inbound, SecretError, Verified, VerifyError};

const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";
/// The most signatures one header may carry (each costs a comparison or an ed25519 check).
const MAX_SIGNATURES: usize = 16;

/// A configured secret, told apart by its prefix.
enum Key {
    /// `whsec_<base64>` (or bare base64): an HMAC-SHA256 key.
    Symmetric(Vec<u8>),
    /// `whpk_<base64>`: an ed25519 public key.
    Public(VerifyingKey),
}

fn key(secret: &[u8]) -> Option<Key> {
    let text = std::str::from_utf8(secret).ok()?;
    if let Some(b64) = text.strip_prefix("whpk_") {
        let bytes: [u8; 32] = mac::base64_decode(b64)?.try_into().ok()?;
        return VerifyingKey::from_bytes(&bytes).ok().map(Key::Public);
    }
    if text.starts_with("whsk_") {
        return None;
    }
    let b64 = text.strip_prefix("whsec_").unwrap_or(text);
    mac::base64_decode(b64)
        .filter(|k| !k.is_empty() && k.len() <= super::SECRET_MAX)
        .map(Key::Symmetric)
}

/// `whsec_` + base64 (HMAC key) or `whpk_` + base64 of a 32-byte ed25519 public key.
pub(super) fn secret_check(secret: &[u8]) -> Result<(), SecretError> {
    key(secret).map(drop).ok_or(SecretError {
        expected: "whsec_ followed by base64 (HMAC key) or whpk_ followed by the base64 of a \
                   32-byte ed25519 public key (never the whsk_ private key)",
    })
}

/// The signatures of the header, by version; unknown versions are skipped.
struct Signatures {
    v1: Vec<Vec<u8>>,
    v1a: Vec<Signature>,
}

fn parse(value: &str) -> Result<Signatures, VerifyError> {
    let malformed = VerifyError::MalformedHeader(SIGNATURE);
    let mut sigs = Signatures {
        v1: Vec::new(),
        v1a: Vec::new(),
    };
    for (n, item) in value.split(' ').filter(|s| !s.is_empty()).enumerate() {
        if n >= MAX_SIGNATURES {
            return Err(malformed);
        }
        match item.split_once(',') {
            Some(("v1", b64)) => sigs.v1.extend(mac::base64_decode(b64)),
            Some(("v1a", b64)) => sigs.v1a.extend(
                mac::base64_decode(b64)
                    .and_then(|b| <[u8; 64]>::try_from(b).ok())
                    .map(|b| Signature::from_bytes(&b)),
            ),
            Some(_) => {}
            None => return Err(malformed),
        }
    }
    if sigs.v1.is_empty() && sigs.v1a.is_empty() {
        return Err(malformed);
    }
    Ok(sigs)
}

pub(super) fn verify(secrets: &[&[u8]], req: &Inbound<'_>) -> Result<Verified, VerifyError> {
    let id = header::one(req.headers, ID)?;
    // The spec forbids `.` in the id: `<id>.<ts>.<body>` must split one way only.
    if !id_ok(id) || id.contains('.') {
        return Err(VerifyError::MalformedHeader(ID));
    }
    let ts = header::one(req.headers, TIMESTAMP)?;
    let timestamp = unix_seconds(ts, TIMESTAMP)?;
    let sigs = parse(header::one(req.headers, SIGNATURE)?)?;
    let signed: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", req.body];
    let found = secrets.iter().filter_map(|s| key(s)).any(|k| match k {
        Key::Symmetric(k) => mac::hmac(HmacAlgorithm::Sha256, &k, &signed)
            .is_some_and(|e| sigs.v1.iter().any(|g| mac::matches(&e, g))),
        Key::Public(pk) if !sigs.v1a.is_empty() => {
            let message = signed.concat();
            sigs.v1a
                .iter()
                .any(|s| pk.verify_strict(&message, s).is_ok())
        }
        Key::Public(_) => false,
    });
    if !found {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified {
        timestamp: Some(timestamp),
        id: Some(id.to_owned()),
        digest: mac::digest(&signed),
    })
}
