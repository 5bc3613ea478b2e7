//! Twilio: `X-Twilio-Signature: <base64>`, HMAC (SHA-1, or SHA-256 when
//! `X-Twilio-Webhooks-Signature-Settings` names `HMAC_SHA256`) of the URL followed by the form
//! parameters sorted by name (`name` + `value` each); for JSON bodies the URL carries
//! `bodySHA256=<hex>` and is signed alone. The URL is tried as configured, without its port and
//! with the scheme's default port, as Twilio's SDKs do.

use super::header;
use super::mac::{self, HmacAlgorithm};
use super::{Inbound, Verified, VerifyError};

const HEADER: &str = "x-twilio-signature";
const SETTINGS: &str = "x-twilio-webhooks-signature-settings";

/// The algorithm the settings header names (no header or no `algorithm=`: HMAC-SHA1).
fn algorithm(settings: Option<&str>) -> Result<HmacAlgorithm, VerifyError> {
    let named = settings
        .into_iter()
        .flat_map(|s| s.split(','))
        .find_map(|part| {
            let (k, v) = part.split_once('=')?;
            (k.trim() == "algorithm" && !v.trim().is_empty()).then(|| v.trim())
        });
    match named {
        None => Ok(HmacAlgorithm::Sha1),
        Some(a) if a.eq_ignore_ascii_case("HMAC_SHA1") => Ok(HmacAlgorithm::Sha1),
        Some(a) if a.eq_ignore_ascii_case("HMAC_SHA256") => Ok(HmacAlgorithm::Sha256),
        Some(_) => Err(VerifyError::MalformedHeader(SETTINGS)),
    }
}

/// The `bodySHA256` query parameter of `url`, if any.
fn body_sha256(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v.into_owned())
}

/// `name` + `value` of every form parameter, names sorted, repeated values deduplicated and
/// sorted (UTF-16 order, as the SDKs' string sort).
fn params(body: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort_by(|a, b| {
        a.0.encode_utf16()
            .cmp(b.0.encode_utf16())
            .then_with(|| a.1.encode_utf16().cmp(b.1.encode_utf16()))
    });
    pairs.dedup();
    pairs.into_iter().map(|(k, v)| k + &v).collect()
}

/// The URL as configured, without its port, and with the scheme's default port added.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    if let Some(p) = split(url) {
        out.push(format!("{}{}{}", p.prefix, p.host, p.rest));
        if p.port.is_empty() {
            let port = if p.scheme.eq_ignore_ascii_case("https") {
                ":443"
            } else {
                ":80"
            };
            out.push(format!("{}{}{}{}", p.prefix, p.host, port, p.rest));
        }
    }
    out.dedup();
    out.sort();
    out.dedup();
    out
}

/// A URL cut around its port without normalising anything.
struct Parts<'a> {
    scheme: &'a str,
    /// `scheme://` and any userinfo.
    prefix: &'a str,
    host: &'a str,
    /// `:port` or empty.
    port: &'a str,
    rest: &'a str,
}

fn split(url: &str) -> Option<Parts<'_>> {
    let (scheme, after) = url.split_once("://")?;
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b));
    if !valid_scheme {
        return None;
    }
    let auth_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(auth_end);
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    let port_from = host_port.rfind(']').map_or(0, |i| i + 1);
    let port_at = host_port[port_from..].find(':').map(|i| port_from + i);
    let (host, port) = host_port.split_at(port_at.unwrap_or(host_port.len()));
    let prefix_len = scheme.len() + 3 + host_start;
    Some(Parts {
        scheme,
        prefix: &url[..prefix_len],
        host,
        port,
        rest,
    })
}

pub(super) fn verify(secrets: &[&[u8]], req: &Inbound<'_>) -> Result<Verified, VerifyError> {
    let given = header::one(req.headers, HEADER)?;
    let given = mac::base64_decode(given).ok_or(VerifyError::MalformedHeader(HEADER))?;
    let alg = algorithm(header::optional(req.headers, SETTINGS, SETTINGS)?)?;
    let body_hash = body_sha256(req.url);
    let params = match body_hash {
        Some(_) => String::new(),
        None => params(req.body),
    };
    let signed = url_variants(req.url).into_iter().find(|url| {
        let pieces: [&[u8]; 2] = [url.as_bytes(), params.as_bytes()];
        secrets
            .iter()
            .filter_map(|s| mac::hmac(alg, s, &pieces))
            .any(|expected| mac::matches(&expected, &given))
    });
    let Some(url) = signed else {
        return Err(VerifyError::BadSignature);
    };
    if let Some(hash) = body_hash {
        let actual = mac::digest(&[req.body]);
        if !mac::hex_decode(&hash).is_some_and(|h| mac::matches(&actual, &h)) {
            return Err(VerifyError::BadSignature);
        }
    }
    Ok(Verified {
        timestamp: None,
        id: None,
        digest: mac::digest(&[url.as_bytes(), params.as_bytes()]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_variants_follow_the_sdks() {
        assert_eq!(
            url_variants("https://a.com/p?x=1"),
            ["https://a.com/p?x=1", "https://a.com:443/p?x=1"]
        );
        assert_eq!(
            url_variants("http://u:p@a.com:1234/p"),
            ["http://u:p@a.com/p", "http://u:p@a.com:1234/p"]
        );
        assert_eq!(
            url_variants("https://[::1]/p"),
            ["https://[::1]/p", "https://[::1]:443/p"]
        );
        assert_eq!(url_variants("not a url"), ["not a url"]);
    }

    #[test]
    fn params_sorted_deduplicated_and_decoded() {
        assert_eq!(params(b"b=2&a=1&a=1&a=0&c=%2B1+2"), "a0a1b2c+1 2");
        assert_eq!(params(b""), "");
    }

    #[test]
    fn settings_name_the_algorithm() {
        assert_eq!(algorithm(None), Ok(HmacAlgorithm::Sha1));
        assert_eq!(
            algorithm(Some("key=k1,algorithm=HMAC_SHA256")),
            Ok(HmacAlgorithm::Sha256)
        );
        assert_eq!(algorithm(Some("key=k1")), Ok(HmacAlgorithm::Sha1));
        assert_eq!(
            algorithm(Some("algorithm=MD5")),
            Err(VerifyError::MalformedHeader(SETTINGS))
        );
    }
}
