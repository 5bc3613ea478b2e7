//! GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the body. GitHub signs no
//! timestamp and no id (`X-GitHub-Delivery` is not signed).

use super::header;
use super::mac;
use super::{Inbound, Verified, VerifyError};

const HEADER: &str = "x-hub-signature-256";

pub(super) fn verify(secrets: &[&[u8]], req: &Inbound<'_>) -> Result<Verified, VerifyError> {
    let value = header::one(req.headers, HEADER)?;
    let given = value
        .strip_prefix("sha256=")
        .and_then(mac::hex_decode)
        .ok_or(VerifyError::MalformedHeader(HEADER))?;
    super::shopify::body_mac(secrets, req.body, &given)
}
