//! Fuzzes stream-token verification and topic names (from `?token=` and paths): never panics;
//! a token that verifies is exactly what the key signs for its claims; a signed token within
//! the size cap verifies, and with one byte changed never verifies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_core::TenantId;
use palisade_realtime::{Claims, Keyring, TopicName};

fn ring() -> Keyring {
    let key = b"0123456789abcdef0123456789abcdef".to_vec();
    Keyring::new([("k1".to_owned(), key)]).expect("one key")
}

fuzz_target!(|input: (&str, u16, u8, &str)| {
    let (text, at, flip, principal) = input;
    let ring = ring();
    if let Ok(c) = ring.verify(text, 0) {
        assert_eq!(ring.sign(&c), text);
    }
    if let Ok(t) = TopicName::parse(text) {
        assert_eq!(TopicName::parse(t.as_str()).unwrap(), t);
    }
    let claims = Claims {
        token_id: "stok_x".into(),
        tenant: TenantId::generate(),
        principal: principal.to_owned(),
        key_id: None,
        topics: TopicName::parse(text).into_iter().collect(),
        jobs: vec![],
        iat_ms: 0,
        exp_ms: 1,
    };
    let token = ring.sign(&claims);
    if token.len() > palisade_realtime::MAX_TOKEN_BYTES {
        // Never minted (the mint refuses it) and never verified.
        assert!(ring.verify(&token, 0).is_err());
        return;
    }
    assert_eq!(ring.verify(&token, 0).unwrap(), claims);
    let mut bytes = token.into_bytes();
    let i = at as usize % bytes.len();
    bytes[i] ^= flip.max(1);
    if let Ok(changed) = String::from_utf8(bytes) {
        assert!(ring.verify(&changed, 0).is_err(), "a changed token verified");
    }
});
