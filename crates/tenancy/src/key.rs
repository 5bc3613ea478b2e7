//! The API key token: `pal_<key id>_<secret>`; only the secret's hash is ever stored.

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

#[cfg(test)]
mod tests {
    use super::*;

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
