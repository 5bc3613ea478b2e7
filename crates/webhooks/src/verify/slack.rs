//! Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 of `v0:<X-Slack-Request-Timestamp>:<body>`
//! with the app's signing secret.

use super::header::{self, unix_seconds};
use super::mac::{self, HmacAlgorithm};
use super::{body_id, Inbound, Verified, VerifyError};

const SIGNATURE: &str = "x-slack-signature";
const TIMESTAMP: &str = "x-slack-request-timestamp";

pub(super) fn verify(secrets: &[&[u8]], req: &Inbound<'_>) -> Result<Verified, VerifyError> {
    let value = header::one(req.headers, SIGNATURE)?;
    let ts = header::one(req.headers, TIMESTAMP)?;
    let timestamp = unix_seconds(ts, TIMESTAMP)?;
    let given = value
        .strip_prefix("v0=")
        .and_then(mac::hex_decode)
        .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
    let signed: [&[u8]; 4] = [b"v0:", ts.as_bytes(), b":", req.body];
    let found = secrets
        .iter()
        .filter_map(|s| mac::hmac(HmacAlgorithm::Sha256, s, &signed))
        .any(|expected| mac::matches(&expected, &given));
    if !found {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified {
        timestamp: Some(timestamp),
        id: body_id::slack_event(req.body),
        digest: mac::digest(&signed),
    })
}
