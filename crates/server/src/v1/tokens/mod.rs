//! `/v1/tokens`: JWT verification over HTTP (tenant key): issuers, verify, revocations.
//!
//! A tenant registers the issuers it trusts (their `iss`, JWKS URL, audiences, algorithms);
//! `POST /v1/tokens/verify` answers a token's claims or a 401 problem whose code says why
//! (`token-expired`, `token-revoked`, …; never the token). JWKS documents are fetched through
//! the safe-fetch client under `[fetch]` (the tenant's allowlist applies) and cached per
//! `[tokens]`. A verify takes the issuer and the revocations from the instance's lookup cache,
//! which follows the durable store's change feed (task `tokens_cache_sync`), or from the store
//! when the feed was not read within 1 s: a revocation recorded on any instance is refused by
//! all within 1 s (by the recording one at once); each is an audit event `token.revoked`.

use crate::app::Capability;
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::http::docs::{CommonErrors, ProblemDoc};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use crate::state::AppState;
use crate::stores::Stores;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, Maintenance, Problem, SharedAuditSink};
use palisade_fetch::Fetcher;
use palisade_tokens::{
    Issuer, IssuerInput, Revocation, SafeFetchJwks, TokenError, TokenRevocationPurge, Tokens,
    VerifiedToken,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The token routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issuer_create, issuer_list))
        .routes(routes!(issuer_get, issuer_update, issuer_delete))
        .routes(routes!(token_verify))
        .routes(routes!(revocation_create))
}

/// JWT verification as the server hosts it.
pub const CAPABILITY: Capability = Capability {
    name: "tokens",
    operator_routes: crate::app::none,
    public_routes: crate::app::none,
    tenant_routes: routes,
    maintenance,
};

fn maintenance(state: &AppState) -> Vec<Arc<dyn Maintenance>> {
    vec![
        Arc::new(state.tokens.cache_sync()),
        Arc::new(TokenRevocationPurge {
            store: state.tokens.store().clone(),
            interval: state.tokens.settings().purge_interval,
        }),
    ]
}

/// The runtime over the durable store, fetching JWKS documents through the safe-fetch client
/// of `[fetch]` (blocked fetches go to `audit`).
pub fn start(cfg: &Config, stores: &Stores, audit: SharedAuditSink) -> Result<Tokens, String> {
    let fetcher = Fetcher::builder(cfg.fetch.clone())
        .audit(audit.clone())
        .build()
        .map_err(|e| {
            let keys: Vec<String> = e
                .into_iter()
                .map(|f| format!("fetch.{}", f.field))
                .collect();
            format!("the JWKS client could not start ({})", keys.join(", "))
        })?;
    let store: Arc<dyn palisade_tokens::TokenStore> = stores.durable.clone();
    Ok(Tokens::new(
        store,
        Arc::new(SafeFetchJwks(fetcher)),
        cfg.tokens.clone(),
        audit,
    ))
}

/// A token error as the API answers it (store detail only in the log).
fn api(e: TokenError) -> ApiError {
    match e {
        TokenError::Store(s) => ApiError::Store(s),
        other => ApiError::Problem(other.problem()),
    }
}

/// An issuer's settings (create, and replace with PUT).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuerBody {
    /// The `iss` claim of its tokens (unique per tenant), 1..=512 bytes.
    pub issuer: Option<String>,
    /// Its JWKS document's absolute http(s) URL (fetched under `[fetch]`).
    pub jwks_url: Option<String>,
    /// Accepted `aud` values, 1..=20: a token must name one.
    pub audiences: Option<Vec<String>>,
    /// Allowed algorithms, 1..=9 of `RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA`
    /// (`none` and `HS*` are refused).
    pub algorithms: Option<Vec<String>>,
    /// Clock leeway for `exp`/`nbf`, 0..=300 s (default `tokens.default_leeway`).
    pub leeway_secs: Option<u32>,
}

impl From<IssuerBody> for IssuerInput {
    fn from(b: IssuerBody) -> Self {
        Self {
            issuer: b.issuer,
            jwks_url: b.jwks_url,
            audiences: b.audiences,
            algorithms: b.algorithms,
            leeway_secs: b.leeway_secs,
        }
    }
}

/// An issuer.
#[derive(Serialize, ToSchema)]
pub struct IssuerView {
    /// Its id (`tki_…`).
    pub id: String,
    /// The `iss` claim of its tokens.
    pub issuer: String,
    /// Its JWKS URL.
    pub jwks_url: String,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// Allowed algorithms.
    pub algorithms: Vec<String>,
    /// Its clock leeway (seconds); absent: `tokens.default_leeway`.
    pub leeway_secs: Option<u32>,
    /// Created (ms since the epoch).
    pub created_at_ms: i64,
    /// Last changed (ms since the epoch).
    pub updated_at_ms: i64,
}

impl From<Issuer> for IssuerView {
    fn from(i: Issuer) -> Self {
        Self {
            id: i.id.as_str().to_owned(),
            issuer: i.spec.issuer,
            jwks_url: i.spec.jwks_url,
            audiences: i.spec.audiences,
            algorithms: i
                .spec
                .algorithms
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            leeway_secs: i.spec.leeway_secs,
            created_at_ms: i.created_at_ms,
            updated_at_ms: i.updated_at_ms,
        }
    }
}

/// A page of issuers.
#[derive(Serialize, ToSchema)]
pub struct IssuerList {
    /// The issuers, by id.
    pub items: Vec<IssuerView>,
    /// The cursor of the next page; absent on the last page.
    pub next: Option<String>,
}

/// Create an issuer the tenant trusts.
#[utoipa::path(post, path = "/v1/tokens/issuers", tag = "tokens",
    request_body = IssuerBody, security(("tenant_key" = [])),
    responses((status = 201, body = IssuerView, description = "Created"),
              (status = 409, description = "`token-issuer-exists`: the tenant has an issuer of this `iss`", body = ProblemDoc, content_type = "application/problem+json"),
              CommonErrors))]
async fn issuer_create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<IssuerBody>,
) -> ApiResult<(StatusCode, Json<IssuerView>)> {
    let i = state
        .tokens
        .issuer_create(&caller.tenant, body.into())
        .await
        .map_err(api)?;
    Ok((StatusCode::CREATED, Json(i.into())))
}

/// The tenant's issuers by id, cursor-paginated.
#[utoipa::path(get, path = "/v1/tokens/issuers", tag = "tokens",
    params(PageQuery), security(("tenant_key" = [])),
    responses((status = 200, body = IssuerList), CommonErrors))]
async fn issuer_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<IssuerList>> {
    let page = q.page()?;
    let p = state
        .tokens
        .issuer_list(&caller.tenant, &page)
        .await
        .map_err(api)?;
    Ok(Json(IssuerList {
        items: p.items.into_iter().map(Into::into).collect(),
        next: p.next.as_deref().map(palisade_core::page::cursor_encode),
    }))
}

/// One issuer (404 for an unknown id or another tenant's).
#[utoipa::path(get, path = "/v1/tokens/issuers/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Issuer id")),
    security(("tenant_key" = [])),
    responses((status = 200, body = IssuerView), CommonErrors))]
async fn issuer_get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<IssuerView>> {
    let i = state
        .tokens
        .issuer_get(&caller.tenant, &id)
        .await
        .map_err(api)?;
    Ok(Json(i.into()))
}

/// Replace an issuer's settings (every member, as at create).
#[utoipa::path(put, path = "/v1/tokens/issuers/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Issuer id")),
    request_body = IssuerBody, security(("tenant_key" = [])),
    responses((status = 200, body = IssuerView),
              (status = 409, description = "`token-issuer-exists`: another issuer of the tenant has this `iss`", body = ProblemDoc, content_type = "application/problem+json"),
              CommonErrors))]
async fn issuer_update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<IssuerBody>,
) -> ApiResult<Json<IssuerView>> {
    let i = state
        .tokens
        .issuer_update(&caller.tenant, &id, body.into())
        .await
        .map_err(api)?;
    Ok(Json(i.into()))
}

/// Delete an issuer: its tokens are refused from the next verify on.
#[utoipa::path(delete, path = "/v1/tokens/issuers/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Issuer id")),
    security(("tenant_key" = [])),
    responses((status = 204, description = "Deleted"), CommonErrors))]
async fn issuer_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state
        .tokens
        .issuer_delete(&caller.tenant, &id)
        .await
        .map_err(api)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Input of verify.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The compact JWS (at most `tokens.max_token_bytes`).
    #[serde(default)]
    #[schema(value_type = String)]
    pub token: Value,
}

/// A verified token.
#[derive(Serialize, ToSchema)]
pub struct VerifiedView {
    /// The token's claims, as it carries them.
    #[schema(value_type = Object)]
    pub claims: serde_json::Map<String, Value>,
    /// The id of the issuer that vouched for it.
    pub issuer: String,
    /// The key id it was verified with.
    pub kid: Option<String>,
    /// Its algorithm.
    pub alg: String,
}

impl From<VerifiedToken> for VerifiedView {
    fn from(v: VerifiedToken) -> Self {
        Self {
            claims: v.claims,
            issuer: v.issuer.as_str().to_owned(),
            kid: v.kid,
            alg: v.alg.as_str().to_owned(),
        }
    }
}

/// Verify a JWT against the tenant's issuers: signature (key from the issuer's cached JWKS),
/// algorithm, `iss`, `aud`, `exp`, `nbf`, and revocations.
#[utoipa::path(post, path = "/v1/tokens/verify", tag = "tokens",
    request_body = VerifyBody, security(("tenant_key" = [])),
    responses((status = 200, body = VerifiedView, description = "The token verifies"),
              (status = 401, description = "The token is refused; `code` says why: `token-malformed`, `token-too-large`, `token-unknown-issuer`, `token-alg-not-allowed`, `token-unknown-key`, `token-bad-signature`, `token-expired`, `token-not-yet-valid`, `token-wrong-audience`, `token-missing-claim`, `token-revoked`, `token-jwks-unavailable`, `token-jwks-invalid` (a missing or invalid tenant key is `unauthenticated`)", body = ProblemDoc, content_type = "application/problem+json"),
              CommonErrors))]
async fn token_verify(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> ApiResult<Json<VerifiedView>> {
    let Some(token) = body.token.as_str().filter(|t| !t.is_empty()) else {
        let e = FieldError::new(
            "token",
            "required: a compact JWS (header.payload.signature)",
        );
        return Err(Problem::invalid(vec![e]).into());
    };
    let v = state
        .tokens
        .token_verify(&caller.tenant, token)
        .await
        .map_err(api)?;
    Ok(Json(v.into()))
}

/// Input of a revocation: `jti` with the token's `exp`, or `subject`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationBody {
    /// The token's `jti` (1..=512 bytes); requires `exp`.
    pub jti: Option<String>,
    /// The token's `exp` (seconds since the epoch): the revocation is kept until then.
    pub exp: Option<i64>,
    /// A subject (`sub`, 1..=512 bytes): every token of it issued until now is refused.
    pub subject: Option<String>,
}

/// A recorded revocation.
#[derive(Serialize, ToSchema)]
pub struct RevocationView {
    /// `jti` or `subject`.
    pub by: String,
    /// For a jti: until when it is kept (ms since the epoch).
    pub expires_at_ms: Option<i64>,
    /// For a subject: tokens issued at or before this (ms since the epoch) are refused.
    pub not_before_ms: Option<i64>,
}

/// The largest `exp` accepted (year 9999), so the ms form never overflows.
const MAX_EXP_SECS: i64 = 253_402_300_799;

/// Revoke one token (by `jti`, until its `exp`) or every token of a subject issued until now;
/// effective on every instance from the next verify.
#[utoipa::path(post, path = "/v1/tokens/revocations", tag = "tokens",
    request_body = RevocationBody, security(("tenant_key" = [])),
    responses((status = 201, body = RevocationView, description = "Recorded"), CommonErrors))]
async fn revocation_create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<RevocationBody>,
) -> ApiResult<(StatusCode, Json<RevocationView>)> {
    let r = match (body.jti, body.exp, body.subject) {
        (Some(jti), Some(exp), None) if (1..=MAX_EXP_SECS).contains(&exp) => Revocation::Jti {
            jti,
            expires_at_ms: exp * 1000,
        },
        (Some(_), _, None) => {
            let e = FieldError::new(
                "exp",
                "required with jti: the token's exp, seconds since the epoch (1 to 253402300799)",
            );
            return Err(Problem::invalid(vec![e]).into());
        }
        (None, None, Some(subject)) => state.tokens.subject_revocation_now(subject),
        _ => {
            let e = FieldError::new("", "either jti with exp, or subject");
            return Err(Problem::invalid(vec![e]).into());
        }
    };
    state
        .tokens
        .revocation_create(&caller.tenant, &r, Some(caller.principal.clone()))
        .await
        .map_err(api)?;
    let view = match r {
        Revocation::Jti { expires_at_ms, .. } => RevocationView {
            by: "jti".into(),
            expires_at_ms: Some(expires_at_ms),
            not_before_ms: None,
        },
        Revocation::Subject { not_before_ms, .. } => RevocationView {
            by: "subject".into(),
            expires_at_ms: None,
            not_before_ms: Some(not_before_ms),
        },
    };
    Ok((StatusCode::CREATED, Json(view)))
}
