//! Issuers (a tenant's trusted token issuers), algorithms, revocations and verified tokens.

use palisade_core::FieldError;
use serde::{Deserialize, Serialize};

/// The id of an issuer: `tki_` and 20 alphanumerics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IssuerId(String);

const ID_PREFIX: &str = "tki_";

impl IssuerId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(format!(
            "{ID_PREFIX}{}",
            palisade_core::secret::random_token(20)
        ))
    }

    /// An id of the right shape, else `None` (an unknown shape is never found, so a caller
    /// answers it 404 like any unknown id).
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == ID_PREFIX.len() + 20
            && s.starts_with(ID_PREFIX)
            && s[ID_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric());
        ok.then(|| Self(s.to_owned()))
    }

    /// An id read back from a store.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IssuerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A signature algorithm an issuer may allow. `none` and the HMAC family (`HS*`) do not
/// exist here: a public JWKS cannot carry a shared secret, so they are refused by parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

/// The key family an algorithm needs: a JWK's `kty` (and `crv`) must match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC` with this `crv`.
    Ec(&'static str),
    /// `kty: OKP` with `crv: Ed25519`.
    Okp,
}

impl Alg {
    /// Every algorithm, in a stable order.
    pub const ALL: [Self; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The JOSE name (`RS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm named `s` (exact JOSE name), if it is one Palisade verifies.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s) // ct-ok: algorithm names are public
    }

    /// The key family it verifies with.
    pub fn family(self) -> KeyFamily {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                KeyFamily::Rsa
            }
            Self::ES256 => KeyFamily::Ec("P-256"),
            Self::ES384 => KeyFamily::Ec("P-384"),
            Self::EdDSA => KeyFamily::Okp,
        }
    }

    /// The `jsonwebtoken` algorithm.
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::RS256 => A::RS256,
            Self::RS384 => A::RS384,
            Self::RS512 => A::RS512,
            Self::PS256 => A::PS256,
            Self::PS384 => A::PS384,
            Self::PS512 => A::PS512,
            Self::ES256 => A::ES256,
            Self::ES384 => A::ES384,
            Self::EdDSA => A::EdDSA,
        }
    }
}

/// A tenant's trusted issuer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// Its id.
    pub id: IssuerId,
    /// Its settings.
    pub spec: IssuerSpec,
    /// When it was created (ms since the epoch, store clock).
    pub created_at_ms: i64,
    /// When it last changed.
    pub updated_at_ms: i64,
}

/// What an issuer is: checked input ([`IssuerSpec::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSpec {
    /// The `iss` claim its tokens carry (unique per tenant), 1..=512 bytes.
    pub issuer: String,
    /// Its JWKS document's absolute `https` (or `http`) URL, fetched through the safe-fetch client.
    pub jwks_url: String,
    /// Accepted `aud` values (1..=20, each 1..=512 bytes): a token must name one of them.
    pub audiences: Vec<String>,
    /// Allowed algorithms (1..=9, no duplicates).
    pub algorithms: Vec<Alg>,
    /// Clock leeway for `exp`, `nbf` (and `iat`), 0..=300 s; `None`: the deployment's default.
    pub leeway_secs: Option<u32>,
}

/// The most audiences an issuer lists.
pub const MAX_AUDIENCES: usize = 20;
/// The most bytes of an `iss`, an audience, a subject or a jti.
pub const MAX_NAME_BYTES: usize = 512;
/// The largest leeway an issuer may set (seconds).
pub const MAX_LEEWAY_SECS: u32 = 300;

/// 1..=512 bytes without control characters, else the error naming `field`.
pub fn name_check(s: &str, field: &str) -> Result<(), FieldError> {
    let ok = (1..=MAX_NAME_BYTES).contains(&s.len()) && !s.chars().any(char::is_control);
    match ok {
        true => Ok(()),
        false => Err(FieldError::new(
            field,
            "required: 1 to 512 bytes of text without control characters",
        )),
    }
}

/// An issuer's input before checks (every member optional, so each missing one is named).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IssuerInput {
    /// See [`IssuerSpec::issuer`].
    pub issuer: Option<String>,
    /// See [`IssuerSpec::jwks_url`].
    pub jwks_url: Option<String>,
    /// See [`IssuerSpec::audiences`].
    pub audiences: Option<Vec<String>>,
    /// Algorithm names; see [`IssuerSpec::algorithms`].
    pub algorithms: Option<Vec<String>>,
    /// See [`IssuerSpec::leeway_secs`].
    pub leeway_secs: Option<u32>,
}

impl IssuerSpec {
    /// The checked spec, or every invalid field (never echoing a value).
    pub fn parse(input: IssuerInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let issuer = input.issuer.unwrap_or_default();
        if let Err(e) = name_check(&issuer, "issuer") {
            errors.push(e);
        }
        let jwks_url = input.jwks_url.unwrap_or_default();
        let url_ok = jwks_url.len() <= 2048
            && url::Url::parse(&jwks_url).is_ok_and(|u| {
                matches!(u.scheme(), "https" | "http") && u.has_host() && u.username().is_empty()
            });
        if !url_ok {
            errors.push(FieldError::new(
                "jwks_url",
                "required: an absolute http(s) URL without userinfo, at most 2048 bytes",
            ));
        }
        let audiences = input.audiences.unwrap_or_default();
        if audiences.is_empty() || audiences.len() > MAX_AUDIENCES {
            errors.push(FieldError::new("audiences", "required: 1 to 20 audiences"));
        }
        for (i, a) in audiences.iter().enumerate() {
            if let Err(e) = name_check(a, &format!("audiences[{i}]")) {
                errors.push(e);
            }
        }
        let names = input.algorithms.unwrap_or_default();
        let mut algorithms = Vec::new();
        if names.is_empty() || names.len() > Alg::ALL.len() {
            errors.push(FieldError::new(
                "algorithms",
                "required: 1 to 9 of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA",
            ));
        }
        for (i, n) in names.iter().enumerate() {
            match Alg::parse(n) {
                Some(a) if !algorithms.contains(&a) => algorithms.push(a),
                Some(_) => errors.push(FieldError::new(
                    format!("algorithms[{i}]"),
                    "listed twice",
                )),
                None => errors.push(FieldError::new(
                    format!("algorithms[{i}]"),
                    "one of RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA (none and HS* are refused)",
                )),
            }
        }
        if input.leeway_secs.is_some_and(|l| l > MAX_LEEWAY_SECS) {
            errors.push(FieldError::new("leeway_secs", "at most 300 seconds"));
        }
        match errors.is_empty() {
            true => Ok(Self {
                issuer,
                jwks_url,
                audiences,
                algorithms,
                leeway_secs: input.leeway_secs,
            }),
            false => Err(errors),
        }
    }
}

/// A revocation to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// One token by its `jti`, refused until `expires_at_ms` (the token's `exp`), then purged.
    Jti {
        /// The token's `jti`.
        jti: String,
        /// The token's `exp`, in ms since the epoch.
        expires_at_ms: i64,
    },
    /// Every token of `subject` issued (`iat`) before `not_before_ms`.
    Subject {
        /// The `sub` claim.
        subject: String,
        /// Tokens with `iat` before this (ms since the epoch) are refused; the store keeps the
        /// latest of several.
        not_before_ms: i64,
    },
}

/// What a verify needs from the store in one read: the issuer of a token's `iss` and the
/// revocations of its `jti` and `sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLookup {
    /// The issuer.
    pub issuer: Issuer,
    /// True when the `jti` asked about is revoked (and its revocation has not expired).
    pub jti_revoked: bool,
    /// The subject's revocation: tokens issued before this (ms) are refused.
    pub subject_not_before_ms: Option<i64>,
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// Its claims, as the token carries them.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The issuer that vouched for it.
    pub issuer: IssuerId,
    /// The key id it was verified with (`None` when the token named none and the JWKS had one
    /// usable key).
    pub kid: Option<String>,
    /// The algorithm it was signed with.
    pub alg: Alg,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> IssuerInput {
        IssuerInput {
            issuer: Some("https://idp.example".into()),
            jwks_url: Some("https://idp.example/jwks.json".into()),
            audiences: Some(vec!["api".into()]),
            algorithms: Some(vec!["RS256".into(), "EdDSA".into()]),
            leeway_secs: None,
        }
    }

    #[test]
    fn a_good_spec_parses() {
        let s = IssuerSpec::parse(input()).unwrap();
        assert_eq!(s.algorithms, vec![Alg::RS256, Alg::EdDSA]);
    }

    #[test]
    fn none_and_hmac_are_refused_and_every_bad_field_named_without_its_value() {
        let e = IssuerSpec::parse(IssuerInput {
            issuer: None,
            jwks_url: Some("ftp://secret-host/x".into()),
            audiences: Some(vec![]),
            algorithms: Some(vec![
                "none".into(),
                "HS256".into(),
                "RS256".into(),
                "RS256".into(),
            ]),
            leeway_secs: Some(301),
        })
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "issuer",
                "jwks_url",
                "audiences",
                "algorithms[0]",
                "algorithms[1]",
                "algorithms[3]",
                "leeway_secs"
            ]
        );
        assert!(e.iter().all(|f| !f.message.contains("secret-host")));
    }

    #[test]
    fn families() {
        assert_eq!(Alg::PS512.family(), KeyFamily::Rsa);
        assert_eq!(Alg::ES384.family(), KeyFamily::Ec("P-384"));
        assert_eq!(Alg::EdDSA.family(), KeyFamily::Okp);
        assert_eq!(Alg::parse("none"), None);
        assert_eq!(Alg::parse("HS256"), None);
        assert_eq!(Alg::parse("rs256"), None);
        assert!(IssuerId::parse(IssuerId::generate().as_str()).is_some());
        assert!(IssuerId::parse("tki_x").is_none());
    }
}
