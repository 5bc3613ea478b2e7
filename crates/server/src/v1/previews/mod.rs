//! `/v1/previews`: link previews over HTTP (tenant key), fetched through `palisade_fetch`.
//!
//! The page is fetched under the SSRF policy of `[fetch]` (the tenant's allowlist from
//! configuration applies, nothing from the request can widen it) and its preview cached per
//! tenant and URL for `previews.cache_ttl`. Fetch errors answer problem+json with the stable
//! `fetch-*` codes (see docs/api.md); a block is an audit event `fetch.blocked` and is counted
//! in `palisade_fetch_blocked_total{rule}`. No answer carries a resolved address.

mod cache;

use crate::app::Capability;
use crate::config::Config;
use crate::error::ApiError;
use crate::http::docs::{CommonErrors, ProblemDoc};
use crate::http::extract::ApiJson;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cache::PreviewCache;
use palisade_core::{Caller, FieldError, Problem, SharedAuditSink, TenantId};
use palisade_fetch::{FetchError, Fetcher, Preview, PreviewImage, PreviewRequest};
use palisade_ratelimit::headers::HeaderEntry;
use palisade_ratelimit::{quota_exceeded, Algorithm, Check, Limit, OnStoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response as DocResponse};
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The previews routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(preview_create))
}

/// Link previews as the server hosts them.
pub const CAPABILITY: Capability = Capability {
    name: "previews",
    operator_routes: crate::app::none,
    tenant_routes: routes,
    public_routes: crate::app::none,
    maintenance: |_| Vec::new(),
};

/// The previews runtime: the outbound client and the cache.
pub struct Previews {
    fetcher: Fetcher,
    cache: PreviewCache,
}

/// The runtime from `[fetch]` and `[previews]` (validated by the configuration); blocked
/// fetches go to `audit`.
pub fn start(cfg: &Config, audit: SharedAuditSink) -> Result<Arc<Previews>, String> {
    let built = Fetcher::builder(cfg.fetch.clone()).audit(audit).build();
    let fetcher = built.map_err(|e| {
        let keys: Vec<String> = e
            .into_iter()
            .map(|f| format!("fetch.{}", f.field))
            .collect();
        format!("the outbound client could not start ({})", keys.join(", "))
    })?;
    let p = &cfg.previews;
    Ok(Arc::new(Previews {
        fetcher,
        cache: PreviewCache::new(p.cache_ttl, p.cache_entries),
    }))
}

/// Input of a preview.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// The page's absolute `http` or `https` URL (no userinfo; at most `fetch.max_url_len`
    /// bytes).
    #[serde(default)]
    #[schema(value_type = String)]
    pub url: Value,
}

/// A page's preview. Texts are plain text (escape them when rendering HTML); URLs are absolute.
#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    /// The URL the page was fetched from, after redirects.
    pub url: String,
    /// The title.
    pub title: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// The canonical URL the page declares, else `url`.
    pub canonical_url: String,
    /// The site's name.
    pub site_name: Option<String>,
    /// The main image (not fetched by Palisade).
    pub image: Option<ImageView>,
    /// The favicon's URL (declared, else `/favicon.ico`).
    pub favicon: String,
}

/// A preview's image.
#[derive(Serialize, ToSchema)]
pub struct ImageView {
    /// Its URL.
    pub url: String,
    /// Width in pixels, when declared.
    pub width: Option<u32>,
    /// Height in pixels, when declared.
    pub height: Option<u32>,
    /// Alternative text.
    pub alt: Option<String>,
}

impl From<Preview> for PreviewView {
    fn from(p: Preview) -> Self {
        Self {
            url: p.url,
            title: p.title,
            description: p.description,
            canonical_url: p.canonical_url,
            site_name: p.site_name,
            image: p.image.map(ImageView::from),
            favicon: p.favicon,
        }
    }
}

impl From<PreviewImage> for ImageView {
    fn from(i: PreviewImage) -> Self {
        Self {
            url: i.url,
            width: i.width,
            height: i.height,
            alt: i.alt,
        }
    }
}

const URL_EXPECTED: &str = "required: an absolute http or https URL without userinfo";

/// The status, title and tenant-safe detail of a fetch error (never an address).
fn fetch_status(e: &FetchError) -> (StatusCode, &'static str, String) {
    match e {
        FetchError::BadUrl { reason } => (
            StatusCode::BAD_REQUEST,
            "Invalid URL",
            format!("url: {URL_EXPECTED} ({reason})"),
        ),
        FetchError::BadScheme => (
            StatusCode::BAD_REQUEST,
            "Invalid URL",
            "url: the scheme must be http or https".into(),
        ),
        FetchError::Blocked { rule } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Address not allowed",
            format!("the URL's target is refused by the outbound policy (rule {rule})"),
        ),
        FetchError::BadContentType => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not an HTML page",
            "the URL did not answer an HTML page".into(),
        ),
        FetchError::TooManyRedirects => (
            StatusCode::BAD_GATEWAY,
            "Too many redirects",
            "the URL redirected more times than allowed".into(),
        ),
        FetchError::TooLarge { limit, .. } => (
            StatusCode::BAD_GATEWAY,
            "Page too large",
            format!("the page is larger than {limit} bytes"),
        ),
        FetchError::Timeout { phase } => (
            StatusCode::GATEWAY_TIMEOUT,
            "Fetch timed out",
            format!("the page did not answer in time ({phase})"),
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "Page unreachable",
            "the page could not be reached".into(),
        ),
    }
}

/// The problem for a fetch error; a bad URL names the field `url`.
fn fetch_problem(e: &FetchError) -> Problem {
    let (status, title, detail) = fetch_status(e);
    let mut p = Problem::new(status, e.code(), title, detail);
    if e.is_bad_input() {
        p.errors = vec![FieldError::new("url", URL_EXPECTED)];
    }
    if e.is_retryable() {
        p = p.with_retry_after(5);
    }
    p
}

/// The policy name of the per-tenant fetch limit (reserved: no tenant policy can take it).
const FETCH_POLICY: &str = "palisade.previews.fetch";

/// Spends one of the tenant's page fetches (`previews.fetch_quota` per `fetch_window`, across
/// instances through the rate-limit store); the 429 `quota-exceeded` answer when none is left.
async fn fetch_allowance(
    state: &AppState,
    tenant: &TenantId,
) -> Result<Option<Response>, ApiError> {
    let p = &state.config.previews;
    if p.fetch_quota == 0 {
        return Ok(None);
    }
    let window_ms = p.fetch_window.as_millis() as u64;
    let check = Check {
        policy: FETCH_POLICY.into(),
        limit: Limit {
            algorithm: Algorithm::Gcra,
            quota: p.fetch_quota,
            window_ms,
            burst: p.fetch_quota,
            block_ms: 0,
            shadow: false,
            on_store_error: OnStoreError::Fallback,
        },
        key: "tenant".into(),
        cost: 1,
    };
    let decisions = state
        .ratelimit
        .limiter()
        .check(tenant, std::slice::from_ref(&check))
        .await
        .map_err(|e| ApiError::from(e.to_problem()))?;
    match decisions.first() {
        Some(d) if !d.allowed => {
            let entry = HeaderEntry {
                policy: FETCH_POLICY,
                window_ms,
                decision: d,
            };
            Ok(Some(quota_exceeded(&[entry])))
        }
        _ => Ok(None),
    }
}

/// The URL of the body, or a 400 naming `url`.
fn url_parse(body: &PreviewBody) -> Result<String, Problem> {
    match body.url.as_str() {
        Some(u) if !u.trim().is_empty() => Ok(u.trim().to_owned()),
        _ => Err(Problem::invalid(vec![FieldError::new("url", URL_EXPECTED)])),
    }
}

/// Fetch errors as problems: 400 `fetch-bad-url`/`fetch-bad-scheme`, 422
/// `fetch-blocked-address`/`fetch-bad-content-type`, 502 `fetch-too-large`/
/// `fetch-too-many-redirects`/`fetch-unreachable`, 504 `fetch-timeout`.
struct FetchErrors;

impl IntoResponses for FetchErrors {
    fn responses() -> std::collections::BTreeMap<String, RefOr<DocResponse>> {
        let docs = [
            ("422", "`fetch-blocked-address` (the SSRF policy refused the target; the rule is named, never the address) or `fetch-bad-content-type` (not an HTML page)"),
            ("502", "`fetch-too-large` (above the page cap), `fetch-too-many-redirects` or `fetch-unreachable`"),
            ("504", "`fetch-timeout`"),
        ];
        docs.into_iter()
            .map(|(status, desc)| {
                let schema = RefOr::Ref(Ref::from_schema_name("ProblemDoc"));
                let content = ContentBuilder::new().schema(Some(schema)).build();
                let r = ResponseBuilder::new()
                    .description(desc)
                    .content(palisade_core::problem::PROBLEM_JSON, content)
                    .build();
                (status.to_owned(), r.into())
            })
            .collect()
    }
}

/// Preview a link: title, description, canonical URL, site name, image and favicon from Open
/// Graph, Twitter cards, oEmbed and HTML.
///
/// The page is fetched under the outbound policy (private, loopback, link-local and other
/// internal addresses refused, each redirect checked). A bad URL answers 400 naming `url`
/// (`invalid-request`, `fetch-bad-url` or `fetch-bad-scheme`).
#[utoipa::path(post, path = "/v1/previews", tag = "previews",
    request_body = PreviewBody, security(("tenant_key" = [])),
    responses((status = 200, body = PreviewView, description = "The preview"),
              (status = 429, description = "`quota-exceeded`: the tenant started `previews.fetch_quota` page fetches within `previews.fetch_window` (cache hits are free); `Retry-After` says when to retry", body = ProblemDoc, content_type = "application/problem+json"),
              FetchErrors, CommonErrors))]
async fn preview_create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<PreviewBody>,
) -> Result<Response, ApiError> {
    let url = url_parse(&body)?;
    let rt = &state.previews;
    if let Some(p) = rt.cache.preview_get(&caller.tenant, &url) {
        return Ok(Json(PreviewView::from(p)).into_response());
    }
    if let Some(denied) = fetch_allowance(&state, &caller.tenant).await? {
        return Ok(denied);
    }
    let req = PreviewRequest {
        url: url.clone(),
        tenant: Some(caller.tenant.clone()),
        actor: Some(caller.principal.as_str().to_owned()),
    };
    match palisade_fetch::preview_build(&rt.fetcher, req).await {
        Ok(p) => {
            rt.cache.preview_put(&caller.tenant, &url, p.clone());
            Ok(Json(PreviewView::from(p)).into_response())
        }
        Err(e) => Err(fetch_problem(&e).into()),
    }
}
