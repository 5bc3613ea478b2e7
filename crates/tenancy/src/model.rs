//! Tenants and API keys as stored and as shown.

use palisade_core::{FieldError, TenantId};
use serde::{Deserialize, Serialize};

/// A tenant: the unit of isolation of every record Palisade keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Palisade's id (`ten_…`).
    pub id: TenantId,
    /// The caller's own id for this tenant; creating twice with one external id is idempotent.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
}

/// Validated input of `tenant_create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCreate {
    /// 1..=128 characters of `A-Z a-z 0-9 . _ : -`.
    pub external_id: String,
    /// 1..=200 characters, no control characters.
    pub name: String,
}

impl TenantCreate {
    /// Validates both fields, reporting every problem at once.
    pub fn new(external_id: &str, name: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let ext_ok = (1..=128).contains(&external_id.len())
            && external_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
        if !ext_ok {
            errors.push(FieldError::new(
                "external_id",
                "1 to 128 characters of A-Z a-z 0-9 . _ : -",
            ));
        }
        let name = tenant_name(name).map_err(|e| errors.push(e)).ok();
        if errors.is_empty() {
            Ok(Self {
                external_id: external_id.to_owned(),
                name: name.unwrap_or_default(),
            })
        } else {
            Err(errors)
        }
    }
}

/// A tenant's display name, trimmed: 1..=200 characters without control characters.
pub fn tenant_name(name: &str) -> Result<String, FieldError> {
    let trimmed = name.trim();
    let ok = (1..=200).contains(&trimmed.chars().count()) && !trimmed.chars().any(char::is_control);
    ok.then(|| trimmed.to_owned())
        .ok_or_else(|| FieldError::new("name", "1 to 200 characters without control characters"))
}

/// An API key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Key id (`key_…`), also the public part of the token.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Display name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last successful authentication, ms since the epoch (updated at most once a minute).
    pub last_used_at_ms: Option<i64>,
    /// Revocation time; a revoked key never authenticates again.
    pub revoked_at_ms: Option<i64>,
}

/// Which keys a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Keys that still authenticate.
    #[default]
    Active,
    /// Revoked keys.
    Revoked,
    /// Every key.
    All,
}

impl KeyStatus {
    /// True when `key` belongs in a listing with this status.
    pub fn admits(self, key: &ApiKey) -> bool {
        match self {
            Self::Active => key.revoked_at_ms.is_none(),
            Self::Revoked => key.revoked_at_ms.is_some(),
            Self::All => true,
        }
    }

    /// The SQL condition selecting this status (a constant; never built from input).
    pub fn sql(self) -> &'static str {
        match self {
            Self::Active => "revoked_at_ms IS NULL",
            Self::Revoked => "revoked_at_ms IS NOT NULL",
            Self::All => "TRUE",
        }
    }
}

/// An API key with the hash of its secret, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key.
    pub key: ApiKey,
    /// Lower-case hex SHA-256 of the secret part of the token.
    pub secret_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_reports_every_field() {
        let e = TenantCreate::new("", "\u{7}").unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(TenantCreate::new("acme:1", " Acme ").unwrap().name == "Acme");
        assert!(TenantCreate::new("a b", "x").is_err());
        assert!(TenantCreate::new(&"x".repeat(129), "x").is_err());
    }
}
