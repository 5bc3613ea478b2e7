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
use palisade_tenancy::{ApiKeyToken, CachedKey, KeyRecord, KeyRejection};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Tenant-key authentications by where the key was found (`hit`: the cache, `miss`: the store).
const KEY_CACHE: &str = "palisade_auth_key_cache_total";

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

/// True when `token` is one of the operator keys; every key is compared (in constant time).
pub(crate) fn is_operator(state: &AppState, token: &str) -> bool {
    let h = sha256_hex(token.as_bytes());
    state
        .operator_key_hashes
        .iter()
        .fold(false, |ok, k| secret_eq(h.as_bytes(), k.as_bytes()) | ok)
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
    let k = tenant_key(state, headers).await?;
    Ok(Caller {
        tenant: k.key.tenant_id.clone(),
        principal: k.key.id.clone(),
    })
}

/// Authenticates a tenant key: from the key cache when it holds the token's hash, else from
/// the store (and then cached). Records the key's use at most once a minute.
pub async fn tenant_key(state: &AppState, headers: &HeaderMap) -> Result<Arc<CachedKey>, ApiError> {
    let token = bearer(headers).ok_or_else(unauthenticated)?;
    let Some(tok) = ApiKeyToken::parse(token) else {
        if is_operator(state, token) {
            return Err(wrong_kind("a tenant API key"));
        }
        state.audit.auth_failure(None, None, "unknown_credential");
        return Err(unauthenticated());
    };
    let token_hash = sha256_hex(token.as_bytes());
    let key = match state.keys.get(&token_hash) {
        Some(k) => {
            metrics::counter!(KEY_CACHE, "result" => "hit").increment(1);
            k
        }
        None => {
            metrics::counter!(KEY_CACHE, "result" => "miss").increment(1);
            key_from_store(state, &tok, token_hash).await?
        }
    };
    touch(state, &key).await?;
    tracing::Span::current().record("tenant", key.key.tenant_id.as_str());
    Ok(key)
}

/// A cache miss: the store's record checked in constant time; cached when valid.
async fn key_from_store(
    state: &AppState,
    tok: &ApiKeyToken,
    token_hash: String,
) -> Result<Arc<CachedKey>, ApiError> {
    let ticket = state.keys.ticket();
    let rec = state.tenants.key_find(&tok.id).await?;
    let rec = match tok.authenticate(rec.as_ref()) {
        Ok(r) => r.clone(),
        Err(why) => return Err(rejected(state, tok, rec.as_ref(), why)),
    };
    let Some(tenant) = state.tenants.tenant_get(&rec.key.tenant_id).await? else {
        return Err(rejected(state, tok, Some(&rec), KeyRejection::Revoked));
    };
    let entry = Arc::new(CachedKey::new(rec.key, tenant, state.keys.ttl()));
    state.keys.insert(ticket, token_hash, entry.clone());
    Ok(entry)
}

/// Counts, audits and answers a rejected key (401 whatever the reason).
fn rejected(
    state: &AppState,
    tok: &ApiKeyToken,
    rec: Option<&KeyRecord>,
    why: KeyRejection,
) -> ApiError {
    metrics::counter!("palisade_auth_failures_total").increment(1);
    let tenant = rec.map(|r| r.key.tenant_id.clone());
    let reason = match (rec, why) {
        (None, _) => "unknown_key",
        (Some(_), KeyRejection::Revoked) => "revoked",
        (Some(_), _) => "wrong_secret",
    };
    state
        .audit
        .auth_failure(tenant.as_ref(), Some(&tok.id), reason);
    unauthenticated()
}

/// Writes the key's last use when the one recorded is a minute old (once per instance).
async fn touch(state: &AppState, key: &CachedKey) -> Result<(), ApiError> {
    let now = state.clock.now_ms();
    let last = key.touched_at_ms.load(Ordering::Relaxed);
    if now - last < TOUCH_EVERY_MS
        || key
            .touched_at_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return Ok(());
    }
    state
        .tenants
        .key_touch(&key.key.tenant_id, &key.key.id, now)
        .await?;
    Ok(())
}

/// Middleware for tenant routes: authenticates and adds the [`Caller`] extension.
pub async fn require_tenant(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    match tenant_key(&state, req.headers()).await {
        Ok(key) => {
            let caller = Caller {
                tenant: key.key.tenant_id.clone(),
                principal: key.key.id.clone(),
            };
            req.extensions_mut().insert(caller);
            req.extensions_mut().insert(key);
            next.run(req).await
        }
        Err(e) => challenge(e),
    }
}
