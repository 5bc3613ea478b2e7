//! The error of an outbound fetch, with stable codes and classifiers.

use crate::rule::Rule;

/// Why an outbound fetch did not return a response.
///
/// Messages and codes never carry the URL's resolved address: a tenant may see them.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL is malformed, too long, carries userinfo or has no host (`reason` says which).
    #[error("bad url: {reason}")]
    BadUrl {
        /// What is wrong, e.g. `userinfo`, `too-long`, `malformed`.
        reason: &'static str,
    },
    /// The scheme is not `http` or `https`.
    #[error("scheme must be http or https")]
    BadScheme,
    /// A deny rule refused the address or port (the rule, never the address).
    #[error("blocked by rule {rule}")]
    Blocked {
        /// The rule that matched.
        rule: Rule,
    },
    /// More redirects than allowed.
    #[error("too many redirects")]
    TooManyRedirects,
    /// The response is larger than the cap (declared in `Content-Length`, or while streaming,
    /// decompressed bytes included).
    #[error("response larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
        /// True when `Content-Length` declared it before any byte of the body was read.
        declared: bool,
    },
    /// A time cap passed (`phase`: `connect`, `first-byte` or `total`).
    #[error("timed out ({phase})")]
    Timeout {
        /// Which cap.
        phase: &'static str,
    },
    /// The response's content type is not among those the call accepts.
    #[error("content type not accepted")]
    BadContentType,
    /// The host did not resolve, refused or dropped the connection, or broke HTTP.
    #[error("unreachable")]
    Unreachable,
}

impl FetchError {
    /// True when the request itself is wrong (URL, scheme): a 400 for whoever gave the URL.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::BadUrl { .. } | Self::BadScheme)
    }

    /// True when the SSRF policy refused the target (address, port, or a redirect's).
    pub fn is_blocked(&self) -> bool {
        matches!(self, Self::Blocked { .. })
    }

    /// True when a size or time cap ended the fetch.
    pub fn is_cap(&self) -> bool {
        matches!(self, Self::TooLarge { .. } | Self::Timeout { .. })
    }

    /// True when trying again later may succeed (timeouts, unreachable targets).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::Unreachable)
    }

    /// The rule that refused the target, if blocked.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            Self::Blocked { rule } => Some(*rule),
            _ => None,
        }
    }

    /// A stable machine-readable code for problem responses.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUrl { .. } => "fetch-bad-url",
            Self::BadScheme => "fetch-bad-scheme",
            Self::Blocked { .. } => "fetch-blocked-address",
            Self::TooManyRedirects => "fetch-too-many-redirects",
            Self::TooLarge { .. } => "fetch-too-large",
            Self::Timeout { .. } => "fetch-timeout",
            Self::BadContentType => "fetch-bad-content-type",
            Self::Unreachable => "fetch-unreachable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifiers_and_codes() {
        let b = FetchError::Blocked {
            rule: Rule::LOOPBACK,
        };
        assert!(b.is_blocked() && !b.is_retryable());
        assert_eq!(b.code(), "fetch-blocked-address");
        assert_eq!(b.rule(), Some(Rule::LOOPBACK));
        assert_eq!(b.to_string(), "blocked by rule loopback");
        assert!(FetchError::BadScheme.is_bad_input());
        assert!(FetchError::Timeout { phase: "total" }.is_cap());
        assert!(FetchError::Unreachable.is_retryable());
        assert_eq!(
            FetchError::TooManyRedirects.code(),
            "fetch-too-many-redirects"
        );
    }
}
