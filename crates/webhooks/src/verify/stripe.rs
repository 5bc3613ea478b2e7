//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 of `<t>.<body>` keyed
//! by the whole `whsec_…` string.

use super::header::{self, unix_seconds};
use super::mac::{self, HmacAlgorithm};
use super::{body_id, Inbound, SecretError, Verified, VerifyError};

const HEADER: &str = "stripe-signature";
/// The most `v1` signatures one header may carry (each costs a comparison per secret).
const MAX_SIGNATURES: usize = 16;

/// The parsed header: the timestamp as sent (it is signed as text) and the `v1` signatures.
struct Signature<'a> {
    t: &'a str,
    timestamp: i64,
    v1: Vec<Vec<u8>>,
}

/// Parses `t=…,v1=…`: exactly one `t`; other schemes (`v0`, future ones) ignored; `v1`
/// values that are not hex ignored; no usable `v1` at all is malformed.
fn parse(value: &str) -> Result<Signature<'_>, VerifyError> {
    let malformed = VerifyError::MalformedHeader(HEADER);
    let (mut t, mut v1, mut seen) = (None, Vec::new(), 0usize);
    for item in value.split(',') {
        let (k, v) = item.split_once('=').ok_or(malformed.clone())?;
        match k {
            "t" if t.is_some() => return Err(malformed),
            "t" => t = Some(v),
            "v1" => {
                seen += 1;
                if seen > MAX_SIGNATURES {
                    return Err(malformed);
                }
                v1.extend(mac::hex_decode(v));
            }
            _ => {}
        }
    }
    let t = t.ok_or(malformed.clone())?;
    let timestamp = unix_seconds(t, HEADER)?;
    if v1.is_empty() {
        return Err(malformed);
    }
    Ok(Signature { t, timestamp, v1 })
}

/// A Stripe endpoint secret: `whsec_` and more, used byte for byte.
pub(super) fn secret_check(secret: &[u8]) -> Result<(), SecretError> {
    let ok = secret.len() > "whsec_".len()
        && secret.len() <= super::SECRET_MAX
        && secret.starts_with(b"whsec_")
        && secret.iter().all(u8::is_ascii_graphic);
    ok.then_some(()).ok_or(SecretError {
        expected: "the endpoint's signing secret, whsec_ followed by its characters",
    })
}

pub(super) fn verify(secrets: &[&[u8]], req: &Inbound<'_>) -> Result<Verified, VerifyError> {
    let sig = parse(header::one(req.headers, HEADER)?)?;
    let signed: [&[u8]; 3] = [sig.t.as_bytes(), b".", req.body];
    let found = secrets
        .iter()
        .filter_map(|s| mac::hmac(HmacAlgorithm::Sha256, s, &signed))
        .any(|expected| sig.v1.iter().any(|given| mac::matches(&expected, given)));
    if !found {
        return Err(VerifyError::BadSignature);
    }
    Ok(Verified {
        timestamp: Some(sig.timestamp),
        id: body_id::stripe_event(req.body),
        digest: mac::digest(&signed),
    })
}
