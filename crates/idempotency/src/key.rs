//! The `Idempotency-Key` header: parsing and validation of a key.
//!
//! The IETF draft "The Idempotency-Key HTTP Header Field" makes the value a Structured Field
//! String (RFC 8941 §3.3.3): `Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"`, with the
//! escapes `\"` and `\\`. Palisade also accepts the **unquoted form** that many clients send, a
//! bare token of visible ASCII without `"`, `\`, `,` or `;` (`Idempotency-Key: 8e03978e-…`); both
//! forms of the same characters name the same key. Structured-field parameters (`"k";a=1`) are
//! rejected. After decoding, a key is 1 to [`MAX_KEY_LEN`] printable ASCII characters
//! (`0x20..=0x7E`; the space only inside quotes).

use std::fmt;

/// The header's name.
pub const HEADER: &str = "idempotency-key";

/// The longest key accepted, in characters.
pub const MAX_KEY_LEN: usize = 255;

/// A validated idempotency key (the decoded string, without quotes or escapes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

/// Why a key was refused. Each variant has a stable code (see [`KeyError::code`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The request carries no `Idempotency-Key` header.
    #[error("the Idempotency-Key header is required")]
    Missing,
    /// The key is empty (`""` or a blank header).
    #[error("the idempotency key is empty")]
    Empty,
    /// The key has more than [`MAX_KEY_LEN`] characters.
    #[error("the idempotency key is longer than 255 characters")]
    TooLong,
    /// The value is not a structured-field string or bare token, contains forbidden
    /// characters, or the header is repeated.
    #[error("the idempotency key is malformed: use a quoted string of printable ASCII")]
    Invalid,
}

impl KeyError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "idempotency-key-missing",
            Self::Empty => "idempotency-key-empty",
            Self::TooLong => "idempotency-key-too-long",
            Self::Invalid => "idempotency-key-invalid",
        }
    }
}

impl IdempotencyKey {
    /// Parses a header value: a structured-field string or a bare token (see the module docs).
    pub fn parse_header(value: &[u8]) -> Result<Self, KeyError> {
        let v = trim_ows(value);
        let key = match v.first() {
            None => return Err(KeyError::Empty),
            Some(b'"') => parse_sf_string(v)?,
            Some(_) => parse_token(v)?,
        };
        Self::new(key)
    }

    /// Validates an already decoded key (as the HTTP API receives it in JSON).
    pub fn new(key: String) -> Result<Self, KeyError> {
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if !key.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(KeyError::Invalid);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong);
        }
        Ok(Self(key))
    }

    /// The decoded key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => &v[s..=e],
        _ => &[],
    }
}

/// RFC 8941 §4.2.5: `"` chars with `\"` and `\\` escapes, nothing after the closing quote.
fn parse_sf_string(v: &[u8]) -> Result<String, KeyError> {
    let mut out = String::new();
    let mut i = 1;
    while i < v.len() {
        match v[i] {
            b'\\' => match v.get(i + 1) {
                Some(&c @ (b'"' | b'\\')) => {
                    out.push(c as char);
                    i += 2;
                    continue;
                }
                _ => return Err(KeyError::Invalid),
            },
            b'"' if i + 1 == v.len() => return Ok(out),
            b'"' => return Err(KeyError::Invalid),
            c if (0x20..=0x7e).contains(&c) => out.push(c as char),
            _ => return Err(KeyError::Invalid),
        }
        if out.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong);
        }
        i += 1;
    }
    Err(KeyError::Invalid)
}

fn parse_token(v: &[u8]) -> Result<String, KeyError> {
    let ok = v
        .iter()
        .all(|&b| (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b'\\' | b',' | b';'));
    if !ok {
        return Err(KeyError::Invalid);
    }
    Ok(String::from_utf8_lossy(v).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<String, KeyError> {
        IdempotencyKey::parse_header(s.as_bytes()).map(|k| k.0)
    }

    #[test]
    fn quoted_and_bare_forms() {
        assert_eq!(p("\"abc\"").unwrap(), "abc");
        assert_eq!(p("  \"8e03978e-40d5\"\t").unwrap(), "8e03978e-40d5");
        assert_eq!(p("abc").unwrap(), "abc");
        assert_eq!(p("\"a b\"").unwrap(), "a b");
        assert_eq!(p(r#""a\"b\\c""#).unwrap(), r#"a"b\c"#);
        assert_eq!(p("\"abc\"").unwrap(), p("abc").unwrap());
    }

    #[test]
    fn rejects_with_distinct_codes() {
        assert_eq!(p(""), Err(KeyError::Empty));
        assert_eq!(p("   "), Err(KeyError::Empty));
        assert_eq!(p("\"\""), Err(KeyError::Empty));
        for bad in [
            "\"abc",
            "\"a\"b\"",
            "\"a\\nb\"",
            "\"k\";a=1",
            "a b",
            "a,b",
            "a;b",
            "\"tab\there\"",
            "ä",
        ] {
            assert_eq!(p(bad), Err(KeyError::Invalid), "{bad:?}");
        }
        assert_eq!(p(&"x".repeat(256)), Err(KeyError::TooLong));
        assert_eq!(
            p(&format!("\"{}\"", "x".repeat(256))),
            Err(KeyError::TooLong)
        );
        assert!(p(&"x".repeat(255)).is_ok());
        assert_eq!(
            IdempotencyKey::parse_header(b"a\x01b"),
            Err(KeyError::Invalid)
        );
        let codes = [
            KeyError::Missing,
            KeyError::Empty,
            KeyError::TooLong,
            KeyError::Invalid,
        ]
        .map(|e| e.code());
        assert_eq!(codes[0], "idempotency-key-missing");
        assert_eq!(codes[3], "idempotency-key-invalid");
    }

    proptest::proptest! {
        #[test]
        fn quoting_round_trips(key in "[ -~]{1,255}") {
            let quoted = format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""));
            let parsed = IdempotencyKey::parse_header(quoted.as_bytes()).unwrap();
            proptest::prop_assert_eq!(parsed.as_str(), key.as_str());
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = IdempotencyKey::parse_header(&bytes);
        }
    }
}
