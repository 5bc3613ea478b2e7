//! Shopify: `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 of the body with the app's client
//! secret. Shopify signs no timestamp and no id (`X-Shopify-Webhook-Id` is not signed).

use super::header;
use super::mac::{self, HmacAlgorithm};
use super::{Inbound, Verified, VerifyError};

const HEADER: &str = "x-shopify-hmac-sha256";

pub(super) fn verify(secrets: &[&[u8]], req: &Inbound<'_>) -> Result<Verified, VerifyError> {
    let value = header::one(req.headers, HEADER)?;
    let given = mac::base64_decode(value).ok_or(VerifyError::MalformedHeader(HEADER))?;
    body_mac(secrets, req.body, &given)
}

/// Schemes that sign the body alone with HMAC-SHA256 (GitHub, Shopify).
pub(super) fn body_mac(
    secrets: &[&[u8]],
    body: &[u8],
    given: &[u8],
) -> Result<Verified, VerifyError> {
    let signed: [&[u8]; 1] = [body];
    let found = secrets
        .iter()
        .filter_map(|s| mac::hmac(HmacAlgorithm::Sha256, s, &signed))
        .any(|expected| mac::matches(&expected, given));
    if !found {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified {
        timestamp: None,
        id: None,
        digest: mac::digest(&signed),
    })
}
