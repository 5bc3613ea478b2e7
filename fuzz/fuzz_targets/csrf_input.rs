//! Fuzzes the CSRF parsers of untrusted input: presented tokens, double-submit tokens, and the
//! Fetch-Metadata/Origin headers. Never panics; only Palisade's own tokens verify.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_csrf::double_submit::{double_submit_token, double_submit_verify, DoubleSubmitKey};
use palisade_csrf::origin::{origin_check, OriginPolicy};
use palisade_csrf::Token;

fuzz_target!(|input: (&str, &str, Vec<(u8, &[u8])>, bool)| {
    let (session, token, headers, post) = input;
    if let Ok(t) = Token::parse(token, "token") {
        assert_eq!(t.expose(), token);
        assert!(token.starts_with("csrf_") && token.len() == 48);
    }
    let key = DoubleSubmitKey::new(vec![42; 32]).unwrap();
    // A token the fuzzer made would need an HMAC forgery to verify.
    assert!(!double_submit_verify(&key, session, token));
    let fresh = double_submit_token(&key, session);
    assert!(double_submit_verify(&key, session, &fresh));
    let names = ["sec-fetch-site", "origin", "referer", "host"];
    let mut map = http::HeaderMap::new();
    for (n, v) in headers.iter().take(8) {
        if let Ok(v) = http::HeaderValue::from_bytes(v) {
            map.append(names[usize::from(*n) % names.len()], v);
        }
    }
    let policy = OriginPolicy {
        allowed_origins: vec!["https://app.example.com".into()],
        allow_same_site: false,
    };
    let method = if post { http::Method::POST } else { http::Method::GET };
    let verdict = origin_check(&policy, &method, &map);
    if !post {
        assert!(verdict.is_ok(), "safe methods pass");
    }
});
