//! Signature verifiers: pure functions over the raw body and headers of an inbound request.
//!
//! [`verify`] checks the signature only; the caller checks the signed timestamp
//! ([`Verified::timestamp`]) against its tolerance, then dedups by [`Verified::id`] or
//! [`Verified::digest`] — both covered by the signature.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

/// An inbound request as the provider sent it: nothing re-serialised.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The URL the provider called, as it configured it (Twilio signs it).
    pub url: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The raw body bytes.
    pub body: &'a [u8],
}

/// The signature scheme of a source (stored with the source as JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Provider {
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    StandardWebhooks,
}

/// What a valid signature vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed timestamp (Unix seconds), when the scheme signs one.
    pub timestamp: Option<i64>,
    /// An event id covered by the signature (e.g. `webhook-id`), when the scheme signs one.
    pub id: Option<String>,
    /// SHA-256 of the exact signed content: the dedup key where the scheme signs no id.
    pub digest: [u8; 32],
}

/// Why a request's signature is refused. Never carries the received values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the scheme needs is absent.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// A header the scheme needs once appears several times.
    #[error("the {0} header appears more than once")]
    DuplicateHeader(&'static str),
    /// A header is not in the scheme's format.
    #[error("the {0} header is malformed")]
    MalformedHeader(&'static str),
    /// No signature matches any of the source's secrets.
    #[error("no signature matches")]
    BadSignature,
}

/// Why a secret cannot serve a provider (checked when a source's secret is added).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret must be {expected}")]
pub struct SecretError {
    /// What the provider expects, in words (never the secret).
    pub expected: &'static str,
}

impl Provider {
    /// Checks that `secret` (as configured, e.g. `whsec_…`) suits this provider.
    pub fn secret_check(&self, secret: &[u8]) -> Result<(), SecretError> {
        match self {
            Provider::StandardWebhooks => sw_key(secret).map(drop).ok_or(SecretError {
                expected: "whsec_ followed by base64",
            }),
        }
    }
}

/// The HMAC key of a Standard Webhooks secret: `whsec_` + base64 (the prefix optional).
fn sw_key(secret: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let b64 = secret.strip_prefix(b"whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|k| !k.is_empty())
}

/// Checks `req`'s signature against each of `secrets` (several during a rotation), each as
/// configured (the provider interprets it: `whsec_…` is decoded, Stripe's is used whole).
pub fn verify(
    provider: &Provider,
    secrets: &[&[u8]],
    req: &Inbound<'_>,
) -> Result<Verified, VerifyError> {
    match provider {
        Provider::StandardWebhooks => standard_webhooks(secrets, req),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    let mut all = headers.get_all(name).iter();
    let first = all.next().ok_or(VerifyError::MissingHeader(name))?;
    if all.next().is_some() {
        return Err(VerifyError::DuplicateHeader(name));
    }
    first
        .to_str()
        .map_err(|_| VerifyError::MalformedHeader(name))
}

/// Standard Webhooks `v1,` HMAC-SHA256 (a placeholder until the full verifier set lands).
fn standard_webhooks(secrets: &[&[u8]], req: &Inbound<'_>) -> Result<Verified, VerifyError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let id = header(req.headers, "webhook-id")?;
    let ts = header(req.headers, "webhook-timestamp")?;
    let sigs = header(req.headers, "webhook-signature")?;
    let timestamp: i64 = ts
        .parse()
        .map_err(|_| VerifyError::MalformedHeader("webhook-timestamp"))?;
    let mut signed = Vec::with_capacity(id.len() + ts.len() + req.body.len() + 2);
    signed.extend_from_slice(format!("{id}.{ts}.").as_bytes());
    signed.extend_from_slice(req.body);
    for key in secrets.iter().filter_map(|s| sw_key(s)) {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac takes any key");
        mac.update(&signed);
        let expected = mac.finalize().into_bytes();
        for sig in sigs.split(' ').filter_map(|s| s.strip_prefix("v1,")) {
            let Ok(given) = b64.decode(sig) else { continue };
            if palisade_core::secret::secret_eq(&given, &expected) {
                return Ok(Verified {
                    timestamp: Some(timestamp),
                    id: Some(id.to_owned()),
                    digest: Sha256::digest(&signed).into(),
                });
            }
        }
    }
    Err(VerifyError::BadSignature)
}
