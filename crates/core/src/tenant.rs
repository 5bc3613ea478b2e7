//! Tenant identifiers: the scope every stored record and every store call carries.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The id of a tenant. Every store method takes one, so an unscoped query does not compile.
///
/// 1 to 64 characters of `A-Z a-z 0-9 _ -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

/// A string that is not a valid tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant id: 1 to 64 characters of A-Z a-z 0-9 _ -")]
pub struct InvalidTenantId;

impl TenantId {
    /// A new random id, `ten_` followed by 20 alphanumerics.
    pub fn generate() -> Self {
        Self(format!("ten_{}", crate::secret::random_token(20)))
    }

    /// The scope of requests without a caller (`anonymous`), for the layers that count them.
    pub fn anonymous() -> Self {
        Self("anonymous".to_owned())
    }

    /// Validates `s` as a tenant id.
    pub fn parse(s: &str) -> Result<Self, InvalidTenantId> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidTenantId)
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_safe_ids_only() {
        assert!(TenantId::parse("ten_abc-1").is_ok());
        for bad in ["", "a:b", "a b", "ä", &"x".repeat(65), "{t}"] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TenantId::generate().as_str().starts_with("ten_"));
        assert_eq!(TenantId::anonymous(), TenantId::parse("anonymous").unwrap());
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<TenantId>("\"ok_1\"").is_ok());
        assert!(serde_json::from_str::<TenantId>("\"no:way\"").is_err());
    }
}
