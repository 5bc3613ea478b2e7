//! Fuzzes every webhook signature-header parser through `verify`: arbitrary values for the
//! headers each provider reads, an arbitrary URL and body. Never panics, and a request the
//! fuzzer did not sign with the source's secrets never verifies.
#![no_main]
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use palisade_webhooks::{verify, HmacAlgorithm, HmacScheme, Inbound, Provider, SignatureEncoding};

/// Every header some provider reads (plus one no provider reads).
const NAMES: [&str; 14] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-shopify-hmac-sha256",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-twilio-signature",
    "x-twilio-webhooks-signature-settings",
    "x-sig",
    "x-ts",
    "x-id",
    "x-other",
];

fn generic(encoding: SignatureEncoding, algorithm: HmacAlgorithm, full: bool) -> Provider {
    Provider::Hmac(HmacScheme {
        header: "X-Sig".into(),
        algorithm,
        encoding,
        prefix: if full { "v1=".into() } else { String::new() },
        timestamp_header: full.then(|| "X-Ts".into()),
        id_header: full.then(|| "X-Id".into()),
        template: full.then(|| "{id}.{timestamp}.{url}.{body}".into()),
    })
}

fn provider(which: u8) -> Provider {
    match which % 10 {
        0 => Provider::StandardWebhooks,
        1 => Provider::Stripe,
        2 => Provider::GitHub,
        3 => Provider::Shopify,
        4 => Provider::Slack,
        5 => Provider::Twilio,
        6 => generic(SignatureEncoding::Hex, HmacAlgorithm::Sha1, false),
        7 => generic(SignatureEncoding::Base64, HmacAlgorithm::Sha256, true),
        8 => generic(SignatureEncoding::Base64url, HmacAlgorithm::Sha512, true),
        _ => generic(SignatureEncoding::Hex, HmacAlgorithm::Sha256, true),
    }
}

/// A symmetric secret and the public key of the Standard Webhooks test seed.
const SECRETS: [&[u8]; 2] = [
    b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    b"whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=",
];

fuzz_target!(|input: (u8, String, Vec<(u8, Vec<u8>)>, Vec<u8>)| {
    let (which, url, values, body) = input;
    let mut headers = HeaderMap::new();
    for (n, v) in values.iter().take(16) {
        let name = HeaderName::from_static(NAMES[usize::from(*n) % NAMES.len()]);
        if let Ok(v) = HeaderValue::from_bytes(v) {
            headers.append(name, v);
        }
    }
    let provider = provider(which);
    let req = Inbound {
        url: &url,
        headers: &headers,
        body: &body,
    };
    let r = verify(&provider, &SECRETS, &req);
    assert!(r.is_err(), "an unsigned request verified: {r:?}");
});
