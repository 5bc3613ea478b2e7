//! Fuzzes verification of correctly signed requests: the target signs the fuzzer's id,
//! timestamp and body as each provider does, then checks that `verify` either accepts with
//! exactly the signed timestamp, id and digest, or refuses it only when the id or timestamp
//! breaks the documented rules; and that a request with one body bit flipped never verifies.
#![no_main]
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use palisade_webhooks::{
    verify, HmacAlgorithm, HmacScheme, Inbound, Provider, SignatureEncoding, Verified, VerifyError,
};
use sha2::{Digest, Sha256, Sha512};

const KEY: &[u8] = b"fuzz-secret-0123456789abcdef";
const SEED: [u8; 32] = *b"fuzz-ed25519-seed-0123456789abcd";

fn mac256(pieces: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
    pieces.iter().for_each(|p| m.update(p));
    m.finalize().into_bytes().to_vec()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A signed request: provider, secret, URL, headers, signed content, and which of the
/// timestamp and id the provider signs.
struct Signed {
    provider: Provider,
    secret: Vec<u8>,
    url: String,
    headers: Vec<(&'static str, String)>,
    content: Vec<u8>,
    signs_ts: bool,
    signs_id: bool,
    id_in_body: bool,
}

fn sign(which: u8, id: &str, ts: &str, body: &[u8]) -> Signed {
    let cat = |parts: &[&[u8]]| parts.concat();
    let mut s = Signed {
        provider: Provider::GitHub,
        secret: KEY.to_vec(),
        url: "https://example.com/hook".into(),
        headers: Vec::new(),
        content: body.to_vec(),
        signs_ts: false,
        signs_id: false,
        id_in_body: false,
    };
    match which % 8 {
        0 | 7 => {
            s.provider = Provider::StandardWebhooks;
            s.content = cat(&[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            let sig = if which % 8 == 0 {
                s.secret = format!("whsec_{}", b64(KEY)).into_bytes();
                format!("v1,{}", b64(&mac256(&[&s.content])))
            } else {
                let key = SigningKey::from_bytes(&SEED);
                s.secret = format!("whpk_{}", b64(key.verifying_key().as_bytes())).into_bytes();
                format!("v1a,{}", b64(&key.sign(&s.content).to_bytes()))
            };
            s.headers = vec![
                ("webhook-id", id.into()),
                ("webhook-timestamp", ts.into()),
                ("webhook-signature", sig),
            ];
            (s.signs_ts, s.signs_id) = (true, true);
        }
        1 => {
            s.provider = Provider::Stripe;
            s.secret = b"whsec_fuzz".to_vec();
            s.content = cat(&[ts.as_bytes(), b".", body]);
            let mut m = Hmac::<Sha256>::new_from_slice(&s.secret).unwrap();
            m.update(&s.content);
            let sig = hex::encode(m.finalize().into_bytes());
            s.headers = vec![("stripe-signature", format!("t={ts},v1={sig}"))];
            (s.signs_ts, s.id_in_body) = (true, true);
        }
        2 => {
            s.headers = vec![(
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(mac256(&[body]))),
            )];
        }
        3 => {
            s.provider = Provider::Shopify;
            s.headers = vec![("x-shopify-hmac-sha256", b64(&mac256(&[body])))];
        }
        4 => {
            s.provider = Provider::Slack;
            s.content = cat(&[b"v0:", ts.as_bytes(), b":", body]);
            let sig = format!("v0={}", hex::encode(mac256(&[&s.content])));
            s.headers = vec![
                ("x-slack-signature", sig),
                ("x-slack-request-timestamp", ts.into()),
            ];
            (s.signs_ts, s.id_in_body) = (true, true);
        }
        5 => {
            s.provider = Provider::Twilio;
            s.url = format!(
                "https://example.com/hook?id={}&bodySHA256={}",
                hex::encode(id),
                hex::encode(Sha256::digest(body))
            );
            let mut m = Hmac::<sha1::Sha1>::new_from_slice(KEY).unwrap();
            m.update(s.url.as_bytes());
            s.content = s.url.clone().into_bytes();
            s.headers = vec![("x-twilio-signature", b64(&m.finalize().into_bytes()))];
        }
        _ => {
            s.provider = Provider::Hmac(HmacScheme {
                header: "X-Sig".into(),
                algorithm: HmacAlgorithm::Sha512,
                encoding: SignatureEncoding::Base64url,
                prefix: "s=".into(),
                timestamp_header: Some("X-Ts".into()),
                id_header: Some("X-Id".into()),
                template: Some("{id}:{timestamp}:{url}:{body}".into()),
            });
            s.content = cat(&[
                id.as_bytes(),
                b":",
                ts.as_bytes(),
                b":",
                s.url.as_bytes(),
                b":",
                body,
            ]);
            let mut m = Hmac::<Sha512>::new_from_slice(KEY).unwrap();
            m.update(&s.content);
            let sig =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
            s.headers = vec![
                ("x-sig", format!("s={sig}")),
                ("x-ts", ts.into()),
                ("x-id", id.into()),
            ];
            (s.signs_ts, s.signs_id) = (true, true);
        }
    }
    s
}

/// The documented rules: a timestamp is 1–12 digits; an id 1–255 visible ASCII characters
/// (Standard Webhooks: without `.`).
fn well_formed(s: &Signed, id: &str, ts: &str) -> bool {
    let ts_ok = (1..=12).contains(&ts.len()) && ts.bytes().all(|b| b.is_ascii_digit());
    let id_ok = (1..=255).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_graphic())
        && !(s.provider == Provider::StandardWebhooks && id.contains('.'));
    (!s.signs_ts || ts_ok) && (!s.signs_id || id_ok)
}

fn run(s: &Signed, body: &[u8]) -> Option<Result<Verified, VerifyError>> {
    let mut headers = HeaderMap::new();
    for (k, v) in &s.headers {
        headers.append(HeaderName::from_static(k), HeaderValue::from_str(v).ok()?);
    }
    let req = Inbound {
        url: &s.url,
        headers: &headers,
        body,
    };
    Some(verify(&s.provider, &[b"an-older-secret", &s.secret], &req))
}

fuzz_target!(|input: (u8, String, String, Vec<u8>, u16)| {
    let (which, id, ts, body, flip) = input;
    let s = sign(which, &id, &ts, &body);
    let Some(r) = run(&s, &body) else { return };
    match r {
        Ok(v) => {
            assert!(
                well_formed(&s, &id, &ts),
                "accepted a malformed id or timestamp"
            );
            assert_eq!(v.digest, <[u8; 32]>::from(Sha256::digest(&s.content)));
            let ts_signed = s.signs_ts.then(|| ts.parse::<i64>().unwrap());
            assert_eq!(v.timestamp, ts_signed);
            if !s.id_in_body {
                assert_eq!(v.id, s.signs_id.then(|| id.clone()));
            }
        }
        // Only a malformed id or timestamp is refused (one spliced into a Stripe header may
        // also leave the signature not matching).
        Err(e) => assert!(
            !well_formed(&s, &id, &ts),
            "a well-formed signed request refused: {e}"
        ),
    }
    if body.is_empty() {
        return;
    }
    let mut tampered = body.clone();
    let i = usize::from(flip) % tampered.len();
    tampered[i] ^= 1 << (flip >> 13);
    if let Some(r) = run(&s, &tampered) {
        assert!(r.is_err(), "a tampered body verified: {r:?}");
    }
});
