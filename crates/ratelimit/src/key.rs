//! Key parts of a policy and how a request's key is built from them.

use palisade_core::redact::is_sensitive_field;
use palisade_core::secret::sha256_hex;
use palisade_core::TenantId;
use serde::{Deserialize, Serialize};
use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// The largest key (after composition) a check may carry.
pub const MAX_KEY_BYTES: usize = 512;

/// One component of a rate-limit key. Written as a string: `ip`, `ip/64` (IPv6 addresses
/// aggregated to their /64; any prefix 1..=128 works), `tenant`, `principal`, `route`,
/// `header:<name>`, `custom:<value>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum KeyPart {
    /// The client address; IPv6 addresses masked to `ipv6_prefix` bits when set.
    Ip {
        /// Prefix length IPv6 addresses are aggregated to (e.g. 64).
        ipv6_prefix: Option<u8>,
    },
    /// The caller's tenant.
    Tenant,
    /// The caller's principal (API key id, user id).
    Principal,
    /// The matched route (or the path when no route matched).
    Route,
    /// The value of a request header (lower-case name).
    Header(String),
    /// A fixed string (e.g. one global bucket).
    Custom(String),
}

impl KeyPart {
    /// Parses the string form.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "ip" => return Ok(Self::Ip { ipv6_prefix: None }),
            "tenant" => return Ok(Self::Tenant),
            "principal" => return Ok(Self::Principal),
            "route" => return Ok(Self::Route),
            _ => {}
        }
        if let Some(p) = s.strip_prefix("ip/") {
            return match p.parse::<u8>() {
                Ok(n) if (1..=128).contains(&n) => Ok(Self::Ip {
                    ipv6_prefix: Some(n),
                }),
                _ => Err("expected ip/<prefix> with a prefix from 1 to 128".to_owned()),
            };
        }
        if let Some(h) = s.strip_prefix("header:") {
            let ok = !h.is_empty()
                && h.len() <= 64
                && http::HeaderName::from_bytes(h.as_bytes()).is_ok();
            return ok
                .then(|| Self::Header(h.to_ascii_lowercase()))
                .ok_or_else(|| {
                    "expected header:<name> with a header name of 1 to 64 characters".to_owned()
                });
        }
        if let Some(c) = s.strip_prefix("custom:") {
            let ok = !c.is_empty() && c.len() <= 128 && c.bytes().all(|b| b.is_ascii_graphic());
            return ok.then(|| Self::Custom(c.to_owned())).ok_or_else(|| {
                "expected custom:<value> with 1 to 128 visible ASCII characters".to_owned()
            });
        }
        Err(
            "expected ip, ip/<prefix>, tenant, principal, route, header:<name> or custom:<value>"
                .to_owned(),
        )
    }
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip { ipv6_prefix: None } => f.write_str("ip"),
            Self::Ip {
                ipv6_prefix: Some(n),
            } => write!(f, "ip/{n}"),
            Self::Tenant => f.write_str("tenant"),
            Self::Principal => f.write_str("principal"),
            Self::Route => f.write_str("route"),
            Self::Header(h) => write!(f, "header:{h}"),
            Self::Custom(c) => write!(f, "custom:{c}"),
        }
    }
}

impl TryFrom<String> for KeyPart {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<KeyPart> for String {
    fn from(k: KeyPart) -> String {
        k.to_string()
    }
}

/// What a request offers to build keys from.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyContext<'a> {
    /// The client address.
    pub ip: Option<IpAddr>,
    /// The caller's tenant.
    pub tenant: Option<&'a TenantId>,
    /// The caller's principal.
    pub principal: Option<&'a str>,
    /// The matched route or path.
    pub route: Option<&'a str>,
    /// The request headers.
    pub headers: Option<&'a http::HeaderMap>,
}

/// Masks an IPv6 address to its first `prefix` bits; IPv4 addresses are kept whole.
pub fn aggregate_ip(ip: IpAddr, ipv6_prefix: Option<u8>) -> IpAddr {
    match (ip, ipv6_prefix) {
        (IpAddr::V6(v6), Some(n)) => {
            let n = u32::from(n.min(128));
            let mask = if n == 0 { 0 } else { u128::MAX << (128 - n) };
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        (ip, _) => ip,
    }
}

/// Builds the key `part=value|part=value`. A missing or empty value is `-`; in a value, `%`,
/// `|` and a whole value `-` are percent-encoded (`%25`, `%7C`, `%2D`), so two different
/// contexts never build the same key (a request cannot spend another's quota by putting `|`
/// in its principal, route or header). A header whose name marks a secret (`authorization`,
/// `x-api-key`, `cookie`, … as the log redaction decides) is keyed by the SHA-256 of its value,
/// so no store holds the secret. The result may exceed [`MAX_KEY_BYTES`]; checks reject such
/// keys.
pub fn build_key(parts: &[KeyPart], ctx: &KeyContext<'_>) -> String {
    let mut out = String::with_capacity(64);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        let _ = match p {
            KeyPart::Ip { ipv6_prefix } => match ctx.ip {
                Some(ip) => write!(out, "ip={}", aggregate_ip(ip, *ipv6_prefix)),
                None => write!(out, "ip=-"),
            },
            KeyPart::Tenant => write!(out, "tenant={}", Value(ctx.tenant.map(|t| t.as_str()))),
            KeyPart::Principal => write!(out, "principal={}", Value(ctx.principal)),
            KeyPart::Route => write!(out, "route={}", Value(ctx.route)),
            KeyPart::Header(h) => {
                let v = ctx
                    .headers
                    .and_then(|m| m.get(h.as_str()))
                    .and_then(|v| v.to_str().ok());
                match v.filter(|v| !v.is_empty() && is_sensitive_field(h)) {
                    Some(secret) => {
                        write!(out, "header:{h}=sha256:{}", sha256_hex(secret.as_bytes()))
                    }
                    None => write!(out, "header:{h}={}", Value(v)),
                }
            }
            KeyPart::Custom(c) => write!(out, "custom={c}"),
        };
    }
    out
}

/// A request-supplied value as written into a key (see [`build_key`]).
struct Value<'a>(Option<&'a str>);

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None | Some("") => f.write_str("-"),
            Some("-") => f.write_str("%2D"),
            Some(s) => {
                let mut rest = s;
                while let Some(i) = rest.find(['%', '|']) {
                    f.write_str(&rest[..i])?;
                    f.write_str(if rest.as_bytes()[i] == b'%' {
                        "%25"
                    } else {
                        "%7C"
                    })?;
                    rest = &rest[i + 1..];
                }
                f.write_str(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_and_reject_garbage() {
        for s in [
            "ip",
            "ip/64",
            "tenant",
            "principal",
            "route",
            "header:x-api-key",
            "custom:global",
        ] {
            assert_eq!(KeyPart::parse(s).unwrap().to_string(), s);
        }
        for bad in [
            "",
            "ip/0",
            "ip/129",
            "header:",
            "header:a b",
            "custom:",
            "user",
        ] {
            assert!(KeyPart::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_cannot_forge_another_contexts_key() {
        let parts = ["principal", "route"].map(|s| KeyPart::parse(s).unwrap());
        let key = |principal, route| {
            let ctx = KeyContext {
                principal,
                route,
                ..KeyContext::default()
            };
            build_key(&parts, &ctx)
        };
        // Without encoding both would be `principal=a|route=x|route=-`.
        let forged = key(Some("a|route=x"), None);
        assert_ne!(forged, key(Some("a"), Some("x|route=-")));
        assert_eq!(forged, "principal=a%7Croute=x|route=-");
        // A literal `-` is not "missing"; `%` is encoded so `%7C` cannot pose as `|`.
        assert_ne!(key(Some("-"), None), key(None, None));
        assert_eq!(key(Some("-"), Some("")), "principal=%2D|route=-");
        assert_ne!(key(Some("a%7C"), None), key(Some("a|"), None));
        assert_eq!(key(Some("50%|x"), None), "principal=50%25%7Cx|route=-");
    }

    #[test]
    fn secret_headers_are_keyed_by_digest() {
        let parts = ["header:x-api-key", "header:x-team"].map(|s| KeyPart::parse(s).unwrap());
        let key = |api_key: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("x-api-key", api_key.parse().unwrap());
            h.insert("x-team", "blue".parse().unwrap());
            let ctx = KeyContext {
                headers: Some(&h),
                ..KeyContext::default()
            };
            build_key(&parts, &ctx)
        };
        let k = key("sk_live_abc");
        assert!(!k.contains("sk_live_abc"), "{k}");
        assert_eq!(
            k,
            format!(
                "header:x-api-key=sha256:{}|header:x-team=blue",
                sha256_hex(b"sk_live_abc")
            )
        );
        assert_ne!(k, key("sk_live_abd"));
        let none = build_key(&parts, &KeyContext::default());
        assert_eq!(none, "header:x-api-key=-|header:x-team=-");
    }

    #[test]
    fn ipv6_aggregates_to_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(aggregate_ip(a, Some(64)), aggregate_ip(b, Some(64)));
        assert_ne!(aggregate_ip(a, None), aggregate_ip(b, None));
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(aggregate_ip(v4, Some(64)), v4);
    }

    #[test]
    fn builds_keys_from_context() {
        let t = TenantId::parse("acme").unwrap();
        let mut h = http::HeaderMap::new();
        h.insert("x-team", "blue".parse().unwrap());
        let ctx = KeyContext {
            ip: Some("2001:db8::5".parse().unwrap()),
            tenant: Some(&t),
            principal: None,
            route: Some("/v1/things"),
            headers: Some(&h),
        };
        let parts = [
            "ip/64",
            "tenant",
            "principal",
            "route",
            "header:x-team",
            "custom:g",
        ]
        .map(|s| KeyPart::parse(s).unwrap());
        assert_eq!(
            build_key(&parts, &ctx),
            "ip=2001:db8::|tenant=acme|principal=-|route=/v1/things|header:x-team=blue|custom=g"
        );
    }
}
