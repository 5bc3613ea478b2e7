//! `/v1/csrf`: one-time synchronizer tokens over HTTP (tenant key): issue, verify-and-refresh.
//!
//! A token is bound to the app's session id (stored only hashed), valid for `csrf.token_ttl`,
//! and used up by its first verify, which answers a fresh token for the next request. Any
//! refusal (unknown, expired, used, another session's) is one answer, 403 `csrf-invalid`, and
//! an audit event `csrf.failure`.

use crate::app::Capability;
use crate::config::Config;
use crate::error::ApiError;
use crate::http::docs::{CommonErrors, ProblemDoc};
use crate::http::extract::ApiJson;
use crate::state::AppState;
use crate::stores::Stores;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, Maintenance, Problem, SharedAuditSink};
use palisade_csrf::{Csrf, CsrfError, CsrfPurge, IssuedToken};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The CSRF routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(csrf_issue))
        .routes(routes!(csrf_verify))
}

/// CSRF tokens as the server hosts them.
pub const CAPABILITY: Capability = Capability {
    name: "csrf",
    operator_routes: crate::app::none,
    public_routes: crate::app::none,
    tenant_routes: routes,
    maintenance,
};

fn maintenance(state: &AppState) -> Vec<Arc<dyn Maintenance>> {
    vec![Arc::new(CsrfPurge {
        store: state.csrf.store().clone(),
        interval: state.csrf.settings().purge_interval,
    })]
}

/// The runtime over its store ([`Stores::csrf`]: Redis when configured).
pub fn start(cfg: &Config, stores: &Stores, audit: SharedAuditSink) -> Csrf {
    let store = stores.csrf();
    Csrf::new(store, cfg.csrf.clone(), audit)
}

/// Input of issue.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsrfIssueBody {
    /// The app's session id (1..=512 bytes, no control characters); stored only hashed.
    #[serde(default)]
    #[schema(value_type = String)]
    pub session_id: Value,
}

/// Input of verify.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsrfVerifyBody {
    /// The app's session id the token was issued for.
    #[serde(default)]
    #[schema(value_type = String)]
    pub session_id: Value,
    /// The token the browser sent (`csrf_…`).
    #[serde(default)]
    #[schema(value_type = String)]
    pub token: Value,
}

/// A token for the next state-changing request of the session.
#[derive(Serialize, ToSchema)]
pub struct CsrfTokenView {
    /// The token.
    pub token: String,
    /// When it expires (ms since the epoch).
    pub expires_at_ms: i64,
}

impl From<IssuedToken> for CsrfTokenView {
    fn from(t: IssuedToken) -> Self {
        Self {
            token: t.token.expose().to_owned(),
            expires_at_ms: t.expires_at_ms,
        }
    }
}

/// A string member (the crate checks its content), or a field error.
fn text<'a>(v: &'a Value, field: &str, expected: &str) -> Result<&'a str, FieldError> {
    v.as_str().ok_or_else(|| FieldError::new(field, expected))
}

const SESSION_EXPECTED: &str = "required: 1 to 512 bytes of text without control characters";

fn csrf_problem(e: CsrfError) -> ApiError {
    match e {
        CsrfError::Invalid(errors) => Problem::invalid(errors).into(),
        CsrfError::TokenInvalid => Problem::new(
            StatusCode::FORBIDDEN,
            "csrf-invalid",
            "Invalid CSRF token",
            "the token is unknown, expired, already used or not this session's",
        )
        .into(),
        CsrfError::Store(se) => ApiError::Store(se),
        _ => Problem::internal().into(),
    }
}

/// A `201` with the token and `Cache-Control: no-store`.
fn token_response(status: StatusCode, t: IssuedToken) -> Response {
    let mut res = (status, Json(CsrfTokenView::from(t))).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Issue a one-time CSRF token for a session.
#[utoipa::path(post, path = "/v1/csrf/issue", tag = "csrf",
    request_body = CsrfIssueBody, security(("tenant_key" = [])),
    responses((status = 201, body = CsrfTokenView, description = "A token, valid for `csrf.token_ttl` and one use"),
              CommonErrors))]
async fn csrf_issue(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<CsrfIssueBody>,
) -> Result<Response, ApiError> {
    let session = text(&body.session_id, "session_id", SESSION_EXPECTED)
        .map_err(|e| ApiError::from(Problem::invalid(vec![e])))?;
    let t = state
        .csrf
        .issue(&caller.tenant, session)
        .await
        .map_err(csrf_problem)?;
    Ok(token_response(StatusCode::CREATED, t))
}

/// Verify (and use up) a CSRF token; answers a fresh token for the session's next request.
#[utoipa::path(post, path = "/v1/csrf/verify", tag = "csrf",
    request_body = CsrfVerifyBody, security(("tenant_key" = [])),
    responses((status = 200, body = CsrfTokenView, description = "Valid: the token is used up; here is the next one"),
              (status = 403, description = "`csrf-invalid`: unknown, expired, used, or another session's token (one answer for all)", body = ProblemDoc, content_type = "application/problem+json"),
              CommonErrors))]
async fn csrf_verify(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<CsrfVerifyBody>,
) -> Result<Response, ApiError> {
    let (session, token) = match (
        text(&body.session_id, "session_id", SESSION_EXPECTED),
        text(
            &body.token,
            "token",
            "required: a token handed out by Palisade (csrf_…)",
        ),
    ) {
        (Ok(s), Ok(t)) => (s, t),
        (s, t) => {
            let errors = [s.err(), t.err()].into_iter().flatten().collect();
            return Err(Problem::invalid(errors).into());
        }
    };
    let next = state
        .csrf
        .verify(&caller.tenant, session, token)
        .await
        .map_err(csrf_problem)?;
    Ok(token_response(StatusCode::OK, next))
}
