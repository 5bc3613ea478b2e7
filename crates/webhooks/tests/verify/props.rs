//! Properties over generated requests, each signed here as the provider documents: a signed
//! request verifies with exactly the signed timestamp, id and digest; one flipped body bit never
//! verifies; Twilio's form parameters verify in any order.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use palisade_webhooks::{Provider, VerifyError};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use crate::common::Case;

const KEY: &[u8] = b"prop-secret";

fn mac256(key: &[u8], content: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(content);
    m.finalize().into_bytes().to_vec()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A signed case per provider, and the content it signs.
fn signed(
    which: u8,
    id: &str,
    ts: u64,
    body: &[u8],
) -> (Case, Vec<u8>, Option<i64>, Option<String>) {
    let ts_s = ts.to_string();
    match which % 4 {
        0 => {
            let content = [id.as_bytes(), b".", ts_s.as_bytes(), b".", body].concat();
            let sig = format!("v1,{}", b64(&mac256(KEY, &content)));
            let secret = format!("whsec_{}", b64(KEY));
            let h = [
                ("webhook-id", id),
                ("webhook-timestamp", &ts_s),
                ("webhook-signature", &sig),
            ];
            let c = Case::new(Provider::StandardWebhooks, &secret, &h, body);
            (c, content, Some(ts as i64), Some(id.to_owned()))
        }
        1 => {
            let secret = "whsec_prop";
            let content = [ts_s.as_bytes(), b".", body].concat();
            let sig = format!(
                "t={ts},v1={}",
                hex::encode(mac256(secret.as_bytes(), &content))
            );
            let c = Case::new(
                Provider::Stripe,
                secret,
                &[("Stripe-Signature", &sig)],
                body,
            );
            (c, content, Some(ts as i64), None)
        }
        2 => {
            let content = [b"v0:", ts_s.as_bytes(), b":", body].concat();
            let sig = format!("v0={}", hex::encode(mac256(KEY, &content)));
            let h = [
                ("X-Slack-Signature", sig.as_str()),
                ("X-Slack-Request-Timestamp", &ts_s),
            ];
            let c = Case::new(Provider::Slack, "prop-secret", &h, body);
            (c, content, Some(ts as i64), None)
        }
        _ => {
            let sig = format!("sha256={}", hex::encode(mac256(KEY, body)));
            let c = Case::new(
                Provider::GitHub,
                "prop-secret",
                &[("X-Hub-Signature-256", &sig)],
                body,
            );
            (c, body.to_vec(), None, None)
        }
    }
}

proptest! {
    #[test]
    fn signed_requests_verify_and_flipped_bits_do_not(
        which in 0u8..4,
        id in "[A-Za-z0-9_-]{1,40}",
        ts in 0u64..=999_999_999_999,
        body in proptest::collection::vec(any::<u8>(), 1..256),
        bit in any::<prop::sample::Index>(),
    ) {
        let (case, content, ts, id) = signed(which, &id, ts, &body);
        let v = case.run().expect("a signed request verifies");
        prop_assert_eq!(v.digest, <[u8; 32]>::from(Sha256::digest(&content)));
        prop_assert_eq!(v.timestamp, ts);
        if which % 4 == 0 {
            prop_assert_eq!(v.id, id);
        }
        let mut flipped = body.clone();
        let i = bit.index(flipped.len() * 8);
        flipped[i / 8] ^= 1 << (i % 8);
        prop_assert_eq!(case.with_body(&flipped).run(), Err(VerifyError::BadSignature));
    }

    #[test]
    fn twilio_parameters_verify_in_any_order(
        params in proptest::collection::vec(("[A-Za-z]{1,8}", "[ -~]{0,12}"), 1..8),
        seed in any::<u64>(),
    ) {
        let url = "https://example.com/twilio?x=1";
        let mut sorted = params.clone();
        sorted.sort();
        sorted.dedup();
        let mut signed = url.to_string();
        for (k, v) in &sorted {
            signed.push_str(k);
            signed.push_str(v);
        }
        let mut m = Hmac::<sha1::Sha1>::new_from_slice(KEY).unwrap();
        m.update(signed.as_bytes());
        let sig = b64(&m.finalize().into_bytes());
        // The body in another order (a rotation of the list by `seed`).
        let mut shuffled = params.clone();
        let n = shuffled.len();
        shuffled.rotate_left((seed as usize) % n);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(shuffled.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .finish();
        let case = Case::new(Provider::Twilio, "prop-secret", &[("X-Twilio-Signature", &sig)], body.as_bytes())
            .url(url);
        let v = case.run();
        prop_assert!(v.is_ok(), "{:?}", v);
        prop_assert_eq!(v.unwrap().digest, <[u8; 32]>::from(Sha256::digest(signed.as_bytes())));
    }
}
