//! Input of the OTP operations: identities, codes and their alphabets, store requests.

use crate::decide::OtpLimits;
use crate::hash::{CodeHash, IdentityHash};
use palisade_core::FieldError;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Longest identity, in bytes.
pub const MAX_IDENTITY_BYTES: usize = 512;

/// An identity as the app names it (an email, a phone number, a user id): 1 ..= 512 bytes, no
/// control characters. Compared byte for byte: normalise it (case, spaces) before calling.
/// Never stored or logged: only its keyed hash is.
#[derive(Clone)]
pub struct Identity(String);

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity(…)")
    }
}

impl Identity {
    /// `s` as an identity, or the reason naming `field` (never echoing the value).
    pub fn parse(s: &str, field: &str) -> Result<Self, FieldError> {
        let ok = !s.is_empty() && s.len() <= MAX_IDENTITY_BYTES && !s.chars().any(char::is_control);
        match ok {
            true => Ok(Self(s.to_owned())),
            false => Err(FieldError::new(
                field,
                "required: 1 to 512 bytes of text without control characters",
            )),
        }
    }

    /// The identity's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The characters of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CodeAlphabet {
    /// Digits `0-9` (10 symbols).
    #[default]
    Numeric,
    /// Digits and upper-case letters without `0 O 1 I` ambiguity: `2-9 A-H J-N P-Z` (32
    /// symbols); verify accepts lower case.
    Alphanumeric,
}

const ALNUM: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

impl CodeAlphabet {
    /// The symbols.
    fn symbols(self) -> &'static [u8] {
        match self {
            Self::Numeric => b"0123456789",
            Self::Alphanumeric => ALNUM,
        }
    }

    /// How many symbols it has.
    pub fn size(self) -> u32 {
        self.symbols().len() as u32
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Numeric => "digits",
            Self::Alphanumeric => "characters of 2-9 and A-Z without I and O",
        }
    }
}

/// A code in clear: handed to the app once at issue, never stored.
#[derive(Clone)]
pub struct Code(String);

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Code(…)")
    }
}

impl Code {
    /// A fresh code of `len` symbols of `alphabet`, from the OS-seeded CSPRNG.
    pub fn generate(alphabet: CodeAlphabet, len: usize) -> Self {
        let symbols = alphabet.symbols();
        let mut rng = rand::rng();
        let s = (0..len)
            .map(|_| symbols[rng.random_range(0..symbols.len())] as char)
            .collect();
        Self(s)
    }

    /// A presented code: exactly `len` symbols of `alphabet` (letters in any case), else the
    /// reason naming `field`.
    pub fn parse(
        s: &str,
        alphabet: CodeAlphabet,
        len: usize,
        field: &str,
    ) -> Result<Self, FieldError> {
        let upper = s.to_ascii_uppercase();
        let ok = upper.len() == len && upper.bytes().all(|b| alphabet.symbols().contains(&b));
        match ok {
            true => Ok(Self(upper)),
            false => Err(FieldError::new(
                field,
                format!("required: exactly {len} {}", alphabet.describe()),
            )),
        }
    }

    /// The code's text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Issue a code: store its hash as the identity's one live code.
#[derive(Debug, Clone)]
pub struct OtpIssue {
    /// Whose code.
    pub identity: IdentityHash,
    /// The new code's hash.
    pub code: CodeHash,
    /// How long the code is valid (ms).
    pub ttl_ms: i64,
}

/// What an issue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueOutcome {
    /// The code is the identity's live code until then (ms).
    Issued {
        /// Expiry (ms since the epoch).
        expires_at_ms: i64,
    },
    /// The identity is locked out: nothing issued.
    Locked {
        /// When the lockout ends (ms).
        until_ms: i64,
    },
}

/// Verify a presented code against the identity's live code, under `limits`.
#[derive(Debug, Clone)]
pub struct OtpVerify {
    /// Whose code.
    pub identity: IdentityHash,
    /// The presented code's hash.
    pub code: CodeHash,
    /// The per-identity limits.
    pub limits: OtpLimits,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let c = Code::generate(CodeAlphabet::Numeric, 10);
        assert_eq!(c.expose().len(), 10);
        assert!(c.expose().bytes().all(|b| b.is_ascii_digit()));
        let a = Code::generate(CodeAlphabet::Alphanumeric, 12);
        assert!(a.expose().bytes().all(|b| ALNUM.contains(&b)));
        let lower = a.expose().to_ascii_lowercase();
        let p = Code::parse(&lower, CodeAlphabet::Alphanumeric, 12, "code").unwrap();
        assert_eq!(p.expose(), a.expose());
        assert!(Code::parse("12345", CodeAlphabet::Numeric, 6, "code").is_err());
        assert!(Code::parse("12345a", CodeAlphabet::Numeric, 6, "code").is_err());
        assert!(Code::parse("1234567", CodeAlphabet::Numeric, 6, "code").is_err());
        assert!(Code::parse("ABCDE0", CodeAlphabet::Alphanumeric, 6, "code").is_err());
        let e = Code::parse("９９９９９９", CodeAlphabet::Numeric, 6, "code").unwrap_err();
        assert!(!e.message.contains('９'));
        assert_eq!(format!("{c:?}"), "Code(…)");
    }

    #[test]
    fn identities() {
        assert!(Identity::parse("a@example.com", "identity").is_ok());
        assert!(Identity::parse("", "identity").is_err());
        assert!(Identity::parse("a\nb", "identity").is_err());
        assert!(Identity::parse(&"x".repeat(513), "identity").is_err());
        let e = Identity::parse("bad\u{0}secret", "identity").unwrap_err();
        assert_eq!(e.field, "identity");
        assert!(!e.message.contains("secret"));
    }
}
