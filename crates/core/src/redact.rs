//! Redaction of personal data and secrets from log text, and the sensitive-field-name test.
//!
//! [`redact`] replaces what it finds with `[REDACTED:<kind>]` markers (kinds: `secret`,
//! `api_key`, `jwt`, `bearer`, `basic`, `email`, `card`, `phone`). It is idempotent and returns
//! [`Cow::Borrowed`] when nothing matched. `docs/logging.md` lists the exact rules.

mod card;
mod rules;

use std::borrow::Cow;

/// Upper bound on rule passes: a marker can expose a new match (it adds word boundaries), so the
/// rules run until nothing changes; in practice two passes suffice.
const MAX_PASSES: usize = 6;

/// Replaces personal data and secrets in `text` with `[REDACTED:kind]` markers.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut current = Cow::Borrowed(text);
    for _ in 0..MAX_PASSES {
        let mut changed = false;
        let mut summary = rules::Summary::of(&current);
        for rule in rules::all() {
            if let Some(next) = rule.apply(&current, &summary) {
                summary = rules::Summary::of(&next);
                current = Cow::Owned(next);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    current
}

/// Fragments that make a field name sensitive (compared ASCII case-insensitively, `-` = `_`).
const SENSITIVE_NAME_PARTS: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "token",
    "authorization",
    "cookie",
    "api_key",
    "apikey",
    "private_key",
    "credential",
];

/// Whether a field called `name` holds a secret whatever its value (`password`, `x_auth_token`,
/// `Set-Cookie`, `apiKey`, …): its value is logged as `[REDACTED]`.
pub fn is_sensitive_field(name: &str) -> bool {
    SENSITIVE_NAME_PARTS
        .iter()
        .any(|part| contains_name_part(name.as_bytes(), part.as_bytes()))
}

/// `hay` contains `part`, ignoring ASCII case and treating `-` as `_`.
fn contains_name_part(hay: &[u8], part: &[u8]) -> bool {
    let norm = |b: u8| {
        if b == b'-' {
            b'_'
        } else {
            b.to_ascii_lowercase()
        }
    };
    hay.windows(part.len())
        .any(|w| w.iter().zip(part).all(|(&a, &b)| norm(a) == b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed() {
        let text = "GET /v1/tenants 200 in 12ms on port 8080, id 12345";
        assert!(matches!(redact(text), Cow::Borrowed(_)));
    }

    #[test]
    fn sensitive_field_names() {
        for name in [
            "password",
            "x_auth_token",
            "Set-Cookie",
            "apiKey",
            "api-key",
            "PRIVATE_KEY",
            "client_secret",
            "authorization",
            "aws_credentials",
            "passwd",
        ] {
            assert!(is_sensitive_field(name), "{name}");
        }
        for name in [
            "request_id",
            "tenant",
            "route",
            "status",
            "email_count",
            "key_id",
        ] {
            assert!(!is_sensitive_field(name), "{name}");
        }
    }

    #[test]
    fn markers_name_the_kind() {
        assert_eq!(redact("mail a@b.io"), "mail [REDACTED:email]");
        assert_eq!(redact("card 4111 1111 1111 1111."), "card [REDACTED:card].");
        assert_eq!(redact("call +14155552671"), "call [REDACTED:phone]");
    }
}
