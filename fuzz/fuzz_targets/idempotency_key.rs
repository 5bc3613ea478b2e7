//! Fuzzes the `Idempotency-Key` header parser: never panics; a key that parses round-trips
//! through its quoted structured-field form, and through its bare form where one exists.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_idempotency::IdempotencyKey;

/// The RFC 8941 sf-string form of a decoded key.
fn quoted(key: &str) -> String {
    format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
}

fuzz_target!(|data: &[u8]| {
    let Ok(key) = IdempotencyKey::parse_header(data) else {
        return;
    };
    let s = key.as_str();
    assert!(!s.is_empty() && s.len() <= 255, "{s:?}");
    let again = IdempotencyKey::parse_header(quoted(s).as_bytes()).expect("quoted form parses");
    assert_eq!(again, key);
    assert_eq!(IdempotencyKey::new(s.to_owned()).as_ref(), Ok(&key));
    let bare = !s.bytes().any(|b| matches!(b, b' ' | b'"' | b'\\' | b',' | b';'));
    if bare {
        assert_eq!(IdempotencyKey::parse_header(s.as_bytes()).as_ref(), Ok(&key));
    }
});
