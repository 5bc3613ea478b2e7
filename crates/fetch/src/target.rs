//! URL canonicalisation and the checks on a URL before any connection: scheme, userinfo, port, host form.

use crate::error::FetchError;
use crate::rule::Rule;
use std::net::IpAddr;
use url::{Host, Url};

/// The host of a checked URL: an address to check as is, or a name for the checked resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// An IP literal in any of its forms (`0x7f.1`, `2130706433`, `[::1]` …), canonicalised.
    Ip(IpAddr),
    /// A domain name: lowercase, IDNA-encoded (punycode), without a trailing dot.
    Name(String),
}

/// Parses `raw` with WHATWG rules (the `url` crate) and canonicalises it: numeric IPv4 forms
/// become dotted quads, IDN becomes punycode, a trailing dot and the fragment are dropped.
///
/// Refuses URLs longer than `max_len`, zone ids, non-HTTP schemes, userinfo and missing hosts.
pub fn url_canonical(raw: &str, max_len: usize) -> Result<Url, FetchError> {
    if raw.len() > max_len {
        return Err(FetchError::BadUrl { reason: "too-long" });
    }
    if has_zone_id(raw) {
        return Err(FetchError::Blocked {
            rule: Rule::ZONE_ID,
        });
    }
    let mut url = Url::parse(raw).map_err(|_| FetchError::BadUrl {
        reason: "malformed",
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::BadScheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::BadUrl { reason: "userinfo" });
    }
    url.set_fragment(None);
    let trimmed = match url.host() {
        Some(Host::Domain(d)) if d.ends_with('.') => Some(d.trim_end_matches('.').to_owned()),
        Some(_) => None,
        None => return Err(FetchError::BadUrl { reason: "no-host" }),
    };
    if let Some(d) = trimmed {
        if d.is_empty() || url.set_host(Some(&d)).is_err() {
            return Err(FetchError::BadUrl {
                reason: "malformed",
            });
        }
    }
    Ok(url)
}

/// The host of a canonical URL, after checking that its port is allowed.
pub fn url_target(url: &Url, ports: &[u16]) -> Result<TargetHost, FetchError> {
    let port = url.port_or_known_default().unwrap_or(0);
    if !ports.contains(&port) {
        return Err(FetchError::Blocked { rule: Rule::PORT });
    }
    match url.host() {
        Some(Host::Ipv4(a)) => Ok(TargetHost::Ip(IpAddr::V4(a))),
        Some(Host::Ipv6(a)) => Ok(TargetHost::Ip(IpAddr::V6(a))),
        Some(Host::Domain(d)) => Ok(TargetHost::Name(d.to_owned())),
        None => Err(FetchError::BadUrl { reason: "no-host" }),
    }
}

/// True when the authority holds a bracketed host with a `%` (an IPv6 zone id, `[fe80::1%25eth0]`).
fn has_zone_id(raw: &str) -> bool {
    let rest = raw.split_once("//").map_or(raw, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .split_once('[')
        .is_some_and(|(_, h)| h.split(']').next().is_some_and(|h| h.contains('%')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(raw: &str) -> TargetHost {
        url_target(&url_canonical(raw, 2048).unwrap(), &[80, 443]).unwrap()
    }

    #[test]
    fn numeric_forms_become_addresses() {
        for raw in [
            "http://0x7f.1/",
            "http://2130706433/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://127.0.0.1./",
        ] {
            assert_eq!(
                host(raw),
                TargetHost::Ip("127.0.0.1".parse().unwrap()),
                "{raw}"
            );
        }
    }

    #[test]
    fn names_are_canonical() {
        assert_eq!(
            host("http://LocalHost./x"),
            TargetHost::Name("localhost".into())
        );
        assert_eq!(
            host("http://bücher.example/"),
            TargetHost::Name("xn--bcher-kva.example".into())
        );
    }

    #[test]
    fn refusals() {
        let err = |raw: &str| url_canonical(raw, 64).unwrap_err().code();
        assert_eq!(err("ftp://example.com/"), "fetch-bad-scheme");
        assert_eq!(err("http://user:pw@example.com/"), "fetch-bad-url");
        assert_eq!(err("http://[fe80::1%25eth0]/"), "fetch-blocked-address");
        assert_eq!(
            err(&format!("http://a.example/{}", "x".repeat(64))),
            "fetch-bad-url"
        );
        assert_eq!(err("http://exa mple.com/"), "fetch-bad-url");
        let url = url_canonical("http://example.com:8080/", 64).unwrap();
        assert_eq!(
            url_target(&url, &[80, 443]).unwrap_err().rule(),
            Some(Rule::PORT)
        );
    }
}
