//! The configurable HMAC scheme: a signature header (optional prefix, hex or base64) over a
//! signed-content template of `{body}`, `{timestamp}`, `{id}` and `{url}`.

use http::HeaderName;
use palisade_core::FieldError;

use super::header::{self, id_ok, unix_seconds};
use super::mac::{self, HmacAlgorithm};
use super::{Inbound, Verified, VerifyError};

/// How the signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    /// Hex, either case.
    Hex,
    /// Standard base64 (`+/`), padded.
    Base64,
    /// URL-safe base64 (`-_`), padded or not.
    Base64url,
}

/// A generic HMAC scheme, e.g. GitHub's would be `{"header": "X-Hub-Signature-256",
/// "algorithm": "sha256", "encoding": "hex", "prefix": "sha256="}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacScheme {
    /// The header that carries the signature.
    pub header: String,
    /// The HMAC's hash.
    pub algorithm: HmacAlgorithm,
    /// How the signature is written.
    pub encoding: SignatureEncoding,
    /// Text before the signature in the header (e.g. `sha256=`); empty for none.
    #[serde(default)]
    pub prefix: String,
    /// The header with the Unix timestamp (seconds) the template signs as `{timestamp}`.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// The header with the event id the template signs as `{id}`.
    #[serde(default)]
    pub id_header: Option<String>,
    /// The signed content: `{body}` once, plus `{timestamp}` / `{id}` exactly when their
    /// headers are set, `{url}` optionally, and literal text without braces. Default `{body}`.
    #[serde(default)]
    pub template: Option<String>,
}

/// One part of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part<'a> {
    Text(&'a str),
    Body,
    Timestamp,
    Id,
    Url,
}

const TEMPLATE_MAX: usize = 256;
const PREFIX_MAX: usize = 64;

/// Splits a template into parts; None if a brace is not part of a known placeholder.
fn parts(template: &str) -> Option<Vec<Part<'_>>> {
    let mut out = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let Some(open) = rest.find(['{', '}']) else {
            out.push(Part::Text(rest));
            break;
        };
        if open > 0 {
            out.push(Part::Text(&rest[..open]));
        }
        let after = &rest[open..];
        let close = after.find('}')?;
        out.push(match &after[..=close] {
            "{body}" => Part::Body,
            "{timestamp}" => Part::Timestamp,
            "{id}" => Part::Id,
            "{url}" => Part::Url,
            _ => return None,
        });
        rest = &after[close + 1..];
    }
    Some(out)
}

impl HmacScheme {
    fn template(&self) -> &str {
        self.template.as_deref().unwrap_or("{body}")
    }

    /// Checks every field, reporting every problem at once.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        let header_ok = |h: &str| HeaderName::from_bytes(h.as_bytes()).is_ok();
        if !header_ok(&self.header) {
            e.push(FieldError::new("header", "must be an HTTP header name"));
        }
        let visible = self.prefix.bytes().all(|b| b.is_ascii_graphic());
        if self.prefix.len() > PREFIX_MAX || !visible {
            e.push(FieldError::new(
                "prefix",
                "at most 64 visible ASCII characters",
            ));
        }
        for (field, h) in [
            ("timestamp_header", &self.timestamp_header),
            ("id_header", &self.id_header),
        ] {
            if h.as_deref().is_some_and(|h| !header_ok(h)) {
                e.push(FieldError::new(field, "must be an HTTP header name"));
            }
        }
        if let Some(msg) = self.template_problem() {
            e.push(FieldError::new("template", msg));
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }

    fn template_problem(&self) -> Option<&'static str> {
        let t = self.template();
        if t.len() > TEMPLATE_MAX {
            return Some("at most 256 characters");
        }
        let Some(parts) = parts(t) else {
            return Some("placeholders are {body}, {timestamp}, {id} and {url}; no other braces");
        };
        let count = |p: Part<'_>| parts.iter().filter(|&&q| q == p).count();
        if count(Part::Body) != 1 {
            return Some("must contain {body} exactly once");
        }
        if count(Part::Timestamp) != usize::from(self.timestamp_header.is_some()) {
            return Some("must contain {timestamp} once exactly when timestamp_header is set");
        }
        if count(Part::Id) != usize::from(self.id_header.is_some()) {
            return Some("must contain {id} once exactly when id_header is set");
        }
        None
    }

    /// The signature bytes of the header value.
    fn signature(&self, value: &str) -> Option<Vec<u8>> {
        let sig = value.strip_prefix(self.prefix.as_str())?;
        match self.encoding {
            SignatureEncoding::Hex => mac::hex_decode(sig),
            SignatureEncoding::Base64 => mac::base64_decode(sig),
            SignatureEncoding::Base64url => mac::base64url_decode(sig),
        }
    }

    pub(super) fn verify(
        &self,
        secrets: &[&[u8]],
        req: &Inbound<'_>,
    ) -> Result<Verified, VerifyError> {
        if self.validate().is_err() {
            return Err(VerifyError::BadSignature);
        }
        let parts = parts(self.template()).ok_or(VerifyError::BadSignature)?;
        let value = header::named(req.headers, &self.header, "signature")?;
        let given = self
            .signature(value)
            .ok_or(VerifyError::MalformedHeader("signature"))?;
        let (ts, timestamp) = match &self.timestamp_header {
            Some(h) => {
                let ts = header::named(req.headers, h, "timestamp")?;
                (ts, Some(unix_seconds(ts, "timestamp")?))
            }
            None => ("", None),
        };
        let id = match &self.id_header {
            Some(h) => Some(header::named(req.headers, h, "id")?)
                .filter(|id| id_ok(id))
                .ok_or(VerifyError::MalformedHeader("id"))?,
            None => "",
        };
        let signed: Vec<&[u8]> = parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_bytes(),
                Part::Body => req.body,
                Part::Timestamp => ts.as_bytes(),
                Part::Id => id.as_bytes(),
                Part::Url => req.url.as_bytes(),
            })
            .collect();
        let found = secrets
            .iter()
            .filter_map(|s| mac::hmac(self.algorithm, s, &signed))
            .any(|expected| mac::matches(&expected, &given));
        if !found {
            return Err(VerifyError::BadSignature);
        }
        Ok(Verified {
            timestamp,
            id: self.id_header.as_ref().map(|_| id.to_owned()),
            digest: mac::digest(&signed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parts() {
        assert_eq!(
            parts("v0:{timestamp}:{body}"),
            Some(vec![
                Part::Text("v0:"),
                Part::Timestamp,
                Part::Text(":"),
                Part::Body
            ])
        );
        assert_eq!(parts("{url}{body}"), Some(vec![Part::Url, Part::Body]));
        for bad in ["{", "}", "{nope}", "{body", "a}b{body}", "{{body}}"] {
            assert_eq!(parts(bad), None, "{bad:?}");
        }
    }
}
