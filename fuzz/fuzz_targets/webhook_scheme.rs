//! Fuzzes the generic HMAC scheme as a source stores it (provider JSON): never panics; what
//! parses serialises back to the same provider; a valid scheme's own headers filled with
//! arbitrary values never verify (the fuzzer holds no secret).
#![no_main]
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use palisade_webhooks::{verify, Inbound, Provider};

fuzz_target!(|input: (&[u8], Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>)| {
    let (json, sig, ts, id, body) = input;
    let Ok(provider) = serde_json::from_slice::<Provider>(json) else {
        return;
    };
    let again: Provider = serde_json::from_value(serde_json::to_value(&provider).unwrap())
        .expect("a parsed provider parses again");
    assert_eq!(again, provider);
    let Provider::Hmac(scheme) = &provider else {
        return;
    };
    let valid = provider.validate().is_ok();
    let mut headers = HeaderMap::new();
    let names = [
        Some(&scheme.header),
        scheme.timestamp_header.as_ref(),
        scheme.id_header.as_ref(),
    ];
    for (name, value) in names.into_iter().zip([sig, ts, id]) {
        let (Some(name), Ok(value)) = (name, HeaderValue::from_bytes(&value)) else {
            continue;
        };
        match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(name) => {
                headers.append(name, value);
            }
            Err(_) => assert!(!valid, "a valid scheme names a bad header"),
        }
    }
    let req = Inbound {
        url: "https://example.com/hook",
        headers: &headers,
        body: &body,
    };
    let r = verify(&provider, &[b"fuzz-secret"], &req);
    assert!(r.is_err(), "an unsigned request verified: {r:?}");
});
