//! Authentication: the operator key for tenant management, tenant API keys for everything else.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use palisade_core::secret::{secret_eq, sha256_hex};
use palisade_core::{Caller, Problem};
use palisade_tenancy::{ApiKeyToken, KeyRejection};

/// How often a key's last-used time is written at most.
const TOUCH_EVERY_MS: i64 = 60_000;

fn unauthenticated() -> ApiError {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Unauthenticated",
        "send a valid key as `Authorization: Bearer <key>`",
    )
    .into()
}

pub(crate) fn wrong_kind(need: &str) -> ApiError {
    Problem::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Forbidden",
        format!("this endpoint needs {need}"),
    )
    .into()
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(crate) fn is_operator(state: &AppState, token: &str) -> bool {
    secret_eq(
        sha256_hex(token.as_bytes()).as_bytes(),
        state.operator_key_hash.as_bytes(),
    )
}

/// Proof that the request carries the operator key.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let token = bearer(&parts.headers).ok_or_else(|| challenge(unauthenticated()))?;
        if is_operator(state, token) {
            return Ok(Operator);
        }
        if ApiKeyToken::parse(token).is_some() {
            let answer = crate::audit::cross_tenant::tenant_key_on_operator_route(parts, state);
            return Err(answer.await);
        }
        state.audit.auth_failure(None, None, "unknown_credential");
        Err(challenge(unauthenticated()))
    }
}

pub(crate) fn challenge(e: ApiError) -> Response {
    let mut r = e.into_response();
    if r.status() == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// Authenticates a tenant key and returns the caller it speaks for.
pub async fn tenant_caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = bearer(headers).ok_or_else(unauthenticated)?;
    let Some(tok) = ApiKeyToken::parse(token) else {
        if is_operator(state, token) {
            return Err(wrong_kind("a tenant API key"));
        }
        state.audit.auth_failure(None, None, "unknown_credential");
        return Err(unauthenticated());
    };
    let rec = state.tenants.key_find(&tok.id).await?;
    let rec = match tok.authenticate(rec.as_ref()) {
        Ok(r) => r.clone(),
        Err(why) => {
            metrics::counter!("palisade_auth_failures_total").increment(1);
            let tenant = rec.as_ref().map(|r| r.key.tenant_id.clone());
            let reason = match (&rec, why) {
                (None, _) => "unknown_key",
                (Some(_), KeyRejection::Revoked) => "revoked",
                (Some(_), _) => "wrong_secret",
            };
            state
                .audit
                .auth_failure(tenant.as_ref(), Some(&tok.id), reason);
            return Err(unauthenticated());
        }
    };
    let now = state.clock.now_ms();
    if rec
        .key
        .last_used_at_ms
        .is_none_or(|t| now - t >= TOUCH_EVERY_MS)
    {
        state
            .tenants
            .key_touch(&rec.key.tenant_id, &rec.key.id, now)
            .await?;
    }
    tracing::Span::current().record("tenant", rec.key.tenant_id.as_str());
    Ok(Caller {
        tenant: rec.key.tenant_id,
        principal: rec.key.id,
    })
}

/// Middleware for tenant routes: authenticates and adds the [`Caller`] extension.
pub async fn require_tenant(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    match tenant_caller(&state, req.headers()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => challenge(e),
    }
}
