//! A fetch's request and response.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use palisade_core::TenantId;
use url::Url;

/// One outbound request.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The URL, as given (it is parsed and checked; bad forms are errors, never panics).
    pub url: String,
    /// The tenant on whose behalf it runs: its configured allowlist applies, nobody else's.
    pub tenant: Option<TenantId>,
    /// The method (GET by default).
    pub method: Method,
    /// Request headers. `Authorization` and `Cookie` are dropped on a redirect to another origin.
    pub headers: HeaderMap,
    /// A body (sent again on 307/308; dropped when a redirect turns the request into a GET).
    pub body: Option<Bytes>,
    /// Content types accepted (`text/html`, `image/*`); empty accepts any.
    pub accept: Vec<String>,
    /// A lower body cap for this call (the configured cap applies when it is larger).
    pub max_body: Option<u64>,
    /// What the fetch is for (`preview`, `webhook`), named in the audit event of a block.
    pub purpose: &'static str,
    /// Who asked (a key id or principal, never a secret), named in the audit event of a block.
    pub actor: Option<String>,
}

impl FetchRequest {
    /// A GET of `url` with no tenant allowlist.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            tenant: None,
            method: Method::GET,
            headers: HeaderMap::new(),
            body: None,
            accept: Vec::new(),
            max_body: None,
            purpose: "fetch",
            actor: None,
        }
    }

    /// This request for `purpose`, asked by `actor` (both named in a block's audit event).
    pub fn on_behalf(mut self, purpose: &'static str, actor: Option<String>) -> Self {
        self.purpose = purpose;
        self.actor = actor;
        self
    }

    /// This request on behalf of `tenant`.
    pub fn for_tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// This request accepting only these content types.
    pub fn accepting(mut self, types: &[&str]) -> Self {
        self.accept = types.iter().map(|t| t.to_string()).collect();
        self
    }
}

/// A response that passed every check, with its whole body.
#[derive(Debug, Clone)]
pub struct FetchResponse {
    /// The final URL (after redirects).
    pub url: Url,
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, decompressed, at most the cap.
    pub body: Bytes,
}

impl FetchResponse {
    /// The media type of `Content-Type`, lowercase, without parameters.
    pub fn media_type(&self) -> Option<String> {
        media_type(&self.headers)
    }

    /// How long a shared cache may keep what was built from this response, by its
    /// `Cache-Control`: zero for `no-store`, `no-cache` or `private`, else `s-maxage` or
    /// `max-age`; `None` when the header says nothing of it.
    pub fn cache_for(&self) -> Option<std::time::Duration> {
        use headers::HeaderMapExt;
        let cc = self.headers.typed_get::<headers::CacheControl>()?;
        if cc.no_store() || cc.no_cache() || cc.private() {
            return Some(std::time::Duration::ZERO);
        }
        cc.s_max_age().or(cc.max_age())
    }
}

/// The lowercase media type of a `Content-Type` header, without parameters.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let t = v.split(';').next()?.trim().to_ascii_lowercase();
    (!t.is_empty()).then_some(t)
}

/// Whether `media` matches one of `accept` (`type/subtype` or `type/*`); an empty list accepts all.
pub(crate) fn media_accepted(media: Option<&str>, accept: &[String]) -> bool {
    if accept.is_empty() {
        return true;
    }
    let Some(m) = media else { return false };
    accept.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        match a.strip_suffix("/*") {
            Some(top) => m.split('/').next() == Some(top),
            None => a == m,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_matching() {
        let acc = vec!["text/html".to_string(), "image/*".to_string()];
        assert!(media_accepted(Some("text/html"), &acc));
        assert!(media_accepted(Some("image/png"), &acc));
        assert!(!media_accepted(Some("application/json"), &acc));
        assert!(!media_accepted(None, &acc));
        assert!(media_accepted(None, &[]));
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            "Text/HTML; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(media_type(&h).as_deref(), Some("text/html"));
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use std::time::Duration;

    fn with(cc: Option<&str>) -> FetchResponse {
        let mut headers = HeaderMap::new();
        if let Some(v) = cc {
            headers.insert(http::header::CACHE_CONTROL, v.parse().unwrap());
        }
        FetchResponse {
            url: Url::parse("http://example.com/").unwrap(),
            status: StatusCode::OK,
            headers,
            body: Bytes::new(),
        }
    }

    #[test]
    fn cache_for_reads_cache_control_for_a_shared_cache() {
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(with(None).cache_for(), None);
        assert_eq!(with(Some("public")).cache_for(), None);
        assert_eq!(with(Some("max-age=30")).cache_for(), s(30));
        assert_eq!(
            with(Some("public, s-maxage=10, max-age=30")).cache_for(),
            s(10)
        );
        for zero in ["no-store", "no-cache", "private, max-age=30", "max-age=0"] {
            assert_eq!(with(Some(zero)).cache_for(), s(0), "{zero}");
        }
    }
}
