//! Signature verifiers: pure functions over the raw body and headers of an inbound request.
//!
//! [`verify`] checks the signature only; the caller checks the signed timestamp
//! ([`Verified::timestamp`]) against its tolerance, then dedups by [`Verified::id`] or
//! [`Verified::digest`] — both covered by the signature. Every scheme accepts any of several
//! secrets (rotation) and, where the header carries several signatures, any of them; every
//! comparison is `palisade_core::secret::secret_eq` (length first, then constant time).
//! docs/webhook-providers.md tells, per provider, what is signed and what each field means.

mod body_id;
mod github;
mod header;
mod hmac;
mod mac;
mod shopify;
mod slack;
mod standard;
mod stripe;
mod twilio;

use http::HeaderMap;
use palisade_core::FieldError;

pub use self::hmac::{HmacScheme, SignatureEncoding};
pub use self::mac::HmacAlgorithm;

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

/// The signature scheme of a source (stored with the source as JSON, tagged by `kind`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Provider {
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`): `v1,`
    /// HMAC-SHA256 with `whsec_` secrets and `v1a,` ed25519 with `whpk_` public keys.
    StandardWebhooks,
    /// Stripe (`Stripe-Signature: t=…,v1=…`), the whole `whsec_…` string as the HMAC key.
    Stripe,
    /// GitHub (`X-Hub-Signature-256: sha256=<hex>`).
    #[serde(rename = "github")]
    GitHub,
    /// Shopify (`X-Shopify-Hmac-Sha256: <base64>`).
    Shopify,
    /// Slack (`X-Slack-Signature: v0=<hex>` over `v0:<timestamp>:<body>`).
    Slack,
    /// Twilio (`X-Twilio-Signature`: HMAC-SHA1 of the URL and the sorted form parameters, or
    /// of the URL alone with its `bodySHA256` parameter for JSON bodies).
    Twilio,
    /// A configurable HMAC scheme (header, algorithm, encoding, prefix, signed-content template).
    Hmac(HmacScheme),
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

/// The longest secret any provider accepts (bytes, as configured).
const SECRET_MAX: usize = 1024;

impl Provider {
    /// Checks that `secret` (as configured, e.g. `whsec_…`) suits this provider.
    pub fn secret_check(&self, secret: &[u8]) -> Result<(), SecretError> {
        match self {
            Provider::StandardWebhooks => standard::secret_check(secret),
            Provider::Stripe => stripe::secret_check(secret),
            Provider::GitHub | Provider::Shopify | Provider::Slack | Provider::Twilio => {
                plain_secret_check(secret)
            }
            Provider::Hmac(_) => plain_secret_check(secret),
        }
    }

    /// Checks the provider's settings (only [`Provider::Hmac`] has any), naming every bad
    /// field. A source must pass this before it is stored: [`verify`] refuses every request
    /// of an invalid scheme.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        match self {
            Provider::Hmac(scheme) => scheme.validate(),
            _ => Ok(()),
        }
    }
}

/// A secret used as the HMAC key byte for byte: 1 to [`SECRET_MAX`] bytes.
fn plain_secret_check(secret: &[u8]) -> Result<(), SecretError> {
    if secret.is_empty() || secret.len() > SECRET_MAX {
        return Err(SecretError {
            expected: "1 to 1024 bytes",
        });
    }
    Ok(())
}

/// Checks `req`'s signature against each of `secrets` (several during a rotation), each as
/// configured (the provider interprets it: `whsec_…` is decoded, Stripe's is used whole).
pub fn verify(
    provider: &Provider,
    secrets: &[&[u8]],
    req: &Inbound<'_>,
) -> Result<Verified, VerifyError> {
    match provider {
        Provider::StandardWebhooks => standard::verify(secrets, req),
        Provider::Stripe => stripe::verify(secrets, req),
        Provider::GitHub => github::verify(secrets, req),
        Provider::Shopify => shopify::verify(secrets, req),
        Provider::Slack => slack::verify(secrets, req),
        Provider::Twilio => twilio::verify(secrets, req),
        Provider::Hmac(scheme) => scheme.verify(secrets, req),
    }
}
