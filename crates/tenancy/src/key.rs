//! The API key token: `pal_<key id>_<secret>`; only the secret's hash is ever stored.

use crate::model::KeyRecord;
use palisade_core::secret::{random_token, secret_eq, sha256_hex};

/// Every Palisade key starts with this, so leaked keys are easy to scan for and redact.
pub const KEY_PREFIX: &str = "pal_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 40;

/// A parsed key token.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyToken {
    /// Key id, `key_` + 16 alphanumerics.
    pub id: String,
    secret: String,
}

impl std::fmt::Debug for ApiKeyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ApiKeyToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        Self {
            id: format!("key_{}", random_token(ID_LEN)),
            secret: random_token(SECRET_LEN),
        }
    }

    /// Parses `pal_key_<id>_<secret>`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(KEY_PREFIX)?.strip_prefix("key_")?;
        let (id, secret) = rest.split_once('_')?;
        let alnum = |v: &str, n| v.len() == n && v.bytes().all(|b| b.is_ascii_alphanumeric());
        (alnum(id, ID_LEN) && alnum(secret, SECRET_LEN)).then(|| Self {
            id: format!("key_{id}"),
            secret: secret.to_owned(),
        })
    }

    /// The token to hand to the client, once.
    pub fn expose(&self) -> String {
        format!("{KEY_PREFIX}{}_{}", self.id, self.secret)
    }

    /// The hash to store.
    pub fn secret_hash(&self) -> String {
        sha256_hex(self.secret.as_bytes())
    }

    /// Checks the secret against a stored hash in constant time (after a length check).
    pub fn matches(&self, stored_hash: &str) -> bool {
        secret_eq(self.secret_hash().as_bytes(), stored_hash.as_bytes())
    }
}

/// Why a presented token does not authenticate; the caller answers both alike (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRejection {
    /// No key has this id, or the secret does not match the stored hash.
    WrongSecret,
    /// The secret matches, but the key was revoked.
    Revoked,
}

/// SHA-256 hex of nothing in particular: compared against when no key has the token's id, so
/// an unknown id costs the same comparison as a known one.
const NO_KEY_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl ApiKeyToken {
    /// Authenticates this token against the stored record of its id (`None`: no such key).
    ///
    /// The secret is compared first, in constant time, whatever the record says; revocation is
    /// checked only after, so a revoked key costs the same work whether its secret is right or
    /// wrong. (That a key id exists is not secret: ids are listed to the tenant and shown in
    /// logs; only the secret part is.)
    pub fn authenticate<'r>(
        &self,
        rec: Option<&'r KeyRecord>,
    ) -> Result<&'r KeyRecord, KeyRejection> {
        let stored = rec.map_or(NO_KEY_HASH, |r| r.secret_hash.as_str());
        let secret_ok = self.matches(stored);
        match rec {
            Some(r) if secret_ok && r.key.revoked_at_ms.is_none() => Ok(r),
            Some(_) if secret_ok => Err(KeyRejection::Revoked),
            _ => Err(KeyRejection::WrongSecret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApiKey;
    use palisade_core::TenantId;

    fn record(t: &ApiKeyToken, revoked: bool) -> KeyRecord {
        KeyRecord {
            key: ApiKey {
                id: t.id.clone(),
                tenant_id: TenantId::parse("tenant_a").unwrap(),
                name: "k".into(),
                created_at_ms: 0,
                last_used_at_ms: None,
                revoked_at_ms: revoked.then_some(1),
            },
            secret_hash: t.secret_hash(),
        }
    }

    #[test]
    fn the_secret_is_compared_before_revocation() {
        let right = ApiKeyToken::generate();
        let wrong = ApiKeyToken {
            id: right.id.clone(),
            secret: random_token(SECRET_LEN),
        };
        let revoked = record(&right, true);
        // A wrong secret is rejected as such even on a revoked key: the secret was compared
        // (the old order stopped at "revoked" without comparing).
        assert_eq!(
            wrong.authenticate(Some(&revoked)),
            Err(KeyRejection::WrongSecret)
        );
        assert_eq!(
            right.authenticate(Some(&revoked)),
            Err(KeyRejection::Revoked)
        );
        let active = record(&right, false);
        assert!(right.authenticate(Some(&active)).is_ok());
        assert_eq!(
            wrong.authenticate(Some(&active)),
            Err(KeyRejection::WrongSecret)
        );
        assert_eq!(right.authenticate(None), Err(KeyRejection::WrongSecret));
    }

    #[test]
    fn round_trip_and_match() {
        let t = ApiKeyToken::generate();
        let s = t.expose();
        assert!(s.starts_with("pal_key_"));
        let back = ApiKeyToken::parse(&s).unwrap();
        assert_eq!(back, t);
        assert!(back.matches(&t.secret_hash()));
        assert!(!ApiKeyToken::generate().matches(&t.secret_hash()));
        assert!(!format!("{t:?}").contains(&t.secret));
    }

    #[test]
    fn rejects_malformed() {
        let good = ApiKeyToken::generate().expose();
        for bad in [
            "",
            "pal_",
            "key_abc",
            &good[..good.len() - 1],
            &good.replace("pal_", "pak_"),
            &format!("{good}x"),
            &good.replacen('_', "-", 3),
        ] {
            assert!(ApiKeyToken::parse(bad).is_none(), "{bad}");
        }
    }
}
