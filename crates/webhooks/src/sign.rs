//! Palisade's signature on deliveries: Standard Webhooks v1 (HMAC-SHA256 over
//! `id.timestamp.body`), so the app verifies them with any Standard Webhooks library.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A fresh delivery secret in Standard Webhooks form: `whsec_` and 32 random bytes in base64.
pub fn secret_generate() -> String {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    format!("whsec_{}", B64.encode(k))
}

/// True for a delivery secret in Standard Webhooks form: `whsec_` and 24 to 64 bytes in
/// base64.
pub fn secret_valid(secret: &str) -> bool {
    secret
        .strip_prefix("whsec_")
        .and_then(|k| B64.decode(k).ok())
        .is_some_and(|k| (24..=64).contains(&k.len()))
}

/// The `webhook-signature` value (`v1,<base64>`) of `body` sent as event `id` at
/// `timestamp` (Unix seconds) with `secret` (`whsec_…`); `None` for a secret not in that form.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = B64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()
        .filter(|k| !k.is_empty())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// The headers of a signed delivery: `content-type`, `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` (one or several space-separated signatures); `None` when `id` or
/// `signatures` cannot be a header value.
pub fn headers(
    content_type: http::HeaderValue,
    id: &str,
    timestamp: i64,
    signatures: &str,
) -> Option<http::HeaderMap> {
    use http::HeaderValue;
    let mut h = http::HeaderMap::new();
    h.insert(http::header::CONTENT_TYPE, content_type);
    h.insert("webhook-id", HeaderValue::from_str(id).ok()?);
    h.insert("webhook-timestamp", HeaderValue::from(timestamp));
    h.insert("webhook-signature", HeaderValue::from_str(signatures).ok()?);
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's test vectors.
    #[test]
    fn standard_webhooks_vector() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert!(signature("whsec_!!", "a", 1, b"").is_none());
        assert!(secret_valid(&secret_generate()));
        assert!(!secret_valid("whsec_c2hvcnQ="));
        assert!(!secret_valid("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    }
}
