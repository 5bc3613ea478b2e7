//! Credential-bearing values (keys, connection URLs) whose `Debug`, `Display` and `Serialize` never show the credential.
//!
//! [`SecretString`] shows `[REDACTED]`; [`SecretUrl`] shows the URL with its password and any
//! credential-named query parameter replaced by `***`, so the host stays readable. The value
//! itself is reached only through `expose()`, which a reviewer can grep for.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What a hidden value is shown as.
const REDACTED: &str = "[REDACTED]";
/// What replaces a password inside a URL.
const MASK: &str = "***";

/// A secret string (an operator key, a token): never printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself: pass it to what needs it, never to a formatter.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

/// A connection URL that may carry a password (`postgres://user:pass@host/db`,
/// `redis://:pass@host`): shown as `postgres://user:***@host/db`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The URL with its credentials: pass it to the driver, never to a formatter.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The scheme (`postgres`, `redis`, …), when the URL parses.
    pub fn scheme(&self) -> Option<String> {
        url::Url::parse(&self.0).ok().map(|u| u.scheme().to_owned())
    }

    /// `host[:port]`, when the URL has one.
    pub fn host(&self) -> Option<String> {
        let u = url::Url::parse(&self.0).ok()?;
        let host = u.host_str().filter(|h| !h.is_empty())?;
        Some(match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        })
    }

    /// The URL with its password and credential-named query values masked; a URL that does not
    /// parse is hidden entirely (it may still hold a password).
    pub fn redacted(&self) -> String {
        let Ok(mut u) = url::Url::parse(&self.0) else {
            return format!("{REDACTED} (not a valid URL)");
        };
        if u.password().is_some() {
            // Fails only for URLs that cannot have credentials, which then have none.
            let _ = u.set_password(Some(MASK));
        }
        if u.query().is_some() {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if crate::redact::is_sensitive_field(&k) || k.contains("pass") {
                        MASK.to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
        }
        u.to_string()
    }
}

impl From<&str> for SecretUrl {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for SecretUrl {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_show_host_but_never_password() {
        for (url, shown) in [
            (
                "postgres://user:hunter2@db.internal:5432/app",
                "postgres://user:***@db.internal:5432/app",
            ),
            ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
            (
                "rediss://default:hunter2@cache.example.com",
                "rediss://default:***@cache.example.com",
            ),
            (
                "postgres://db/app?user=u&password=hunter2&sslmode=require",
                "postgres://db/app?user=u&password=***&sslmode=require",
            ),
            ("sqlite://./data/palisade.db", "sqlite://./data/palisade.db"),
        ] {
            let s = SecretUrl::new(url);
            assert_eq!(s.redacted(), shown);
            for text in [
                format!("{s}"),
                format!("{s:?}"),
                serde_json::to_string(&s).unwrap(),
            ] {
                assert!(!text.contains("hunter2"), "{text}");
            }
            assert_eq!(s.expose(), url);
        }
        let bad = SecretUrl::new("postgres://u:hunter2@[bad");
        assert!(!bad.to_string().contains("hunter2"));
        assert_eq!(
            SecretUrl::new("postgres://u:p@db:5432/x").host().as_deref(),
            Some("db:5432")
        );
    }

    #[test]
    fn strings_are_never_shown() {
        let s = SecretString::new("hunter2");
        for text in [
            format!("{s}"),
            format!("{s:?}"),
            serde_json::to_string(&s).unwrap(),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(s.expose(), "hunter2");
    }
}
