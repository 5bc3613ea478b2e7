//! Header lookup for verifiers: each header a scheme needs, exactly once, as visible ASCII.

use http::HeaderMap;

use super::VerifyError;

/// The longest event id a verifier passes on (bytes).
pub(super) const ID_MAX: usize = 255;

/// The value of `name`, which must appear exactly once, be visible ASCII and not be empty.
pub(super) fn one<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    named(headers, name, name)
}

/// Like [`one`], for a header whose name is configured (errors name its `role` instead).
pub(super) fn named<'a>(
    headers: &'a HeaderMap,
    name: &str,
    role: &'static str,
) -> Result<&'a str, VerifyError> {
    optional(headers, name, role)?.ok_or(VerifyError::MissingHeader(role))
}

/// The value of `name` if present: once, visible ASCII, not empty.
pub(super) fn optional<'a>(
    headers: &'a HeaderMap,
    name: &str,
    role: &'static str,
) -> Result<Option<&'a str>, VerifyError> {
    let mut all = headers.get_all(name).iter();
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(VerifyError::DuplicateHeader(role));
    }
    match first.to_str() {
        Ok(v) if !v.is_empty() => Ok(Some(v)),
        _ => Err(VerifyError::MalformedHeader(role)),
    }
}

/// A Unix timestamp in seconds: 1 to 12 ASCII digits, nothing else (no sign, no spaces).
pub(super) fn unix_seconds(s: &str, role: &'static str) -> Result<i64, VerifyError> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::MalformedHeader(role));
    }
    s.parse().map_err(|_| VerifyError::MalformedHeader(role))
}

/// An event id fit to pass on: 1 to [`ID_MAX`] visible ASCII characters.
pub(super) fn id_ok(id: &str) -> bool {
    (1..=ID_MAX).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn once_visible_and_not_empty() {
        let mut h = HeaderMap::new();
        assert_eq!(one(&h, "x-a"), Err(VerifyError::MissingHeader("x-a")));
        h.insert("x-a", HeaderValue::from_static("v"));
        assert_eq!(one(&h, "x-a"), Ok("v"));
        assert_eq!(named(&h, "X-A", "signature"), Ok("v"));
        h.append("x-a", HeaderValue::from_static("w"));
        assert_eq!(one(&h, "x-a"), Err(VerifyError::DuplicateHeader("x-a")));
        h.insert("x-a", HeaderValue::from_static(""));
        assert_eq!(one(&h, "x-a"), Err(VerifyError::MalformedHeader("x-a")));
        h.insert("x-a", HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        assert_eq!(one(&h, "x-a"), Err(VerifyError::MalformedHeader("x-a")));
        assert_eq!(
            named(&h, "bad name", "signature"),
            Err(VerifyError::MissingHeader("signature"))
        );
    }

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(unix_seconds("1614265330", "t"), Ok(1_614_265_330));
        for bad in ["", "+1", "-1", " 1", "1 ", "1e9", "0x10", "1234567890123"] {
            assert_eq!(
                unix_seconds(bad, "t"),
                Err(VerifyError::MalformedHeader("t")),
                "{bad:?}"
            );
        }
    }
}
