//! Minting and revoking stream tokens (tenant key).

use super::problem;
use crate::error::ApiResult;
use crate::http::docs::CommonErrors;
use crate::http::extract::ApiJson;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, Problem};
use palisade_jobs::JobId;
use palisade_realtime::{MintRequest, Revocation, TopicName};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The token routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stream_token_mint))
        .routes(routes!(stream_revoke))
}

/// Input of a mint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintBody {
    /// Your end user the token is for (1..=200 characters); revocable as a whole.
    pub principal: String,
    /// Topics the token may read (at most 32).
    #[serde(default)]
    pub topics: Vec<String>,
    /// Job ids whose events the token may read (at most 32).
    #[serde(default)]
    pub jobs: Vec<String>,
    /// Lifetime in milliseconds, 1000 ..= `realtime.token_max_ttl` (default
    /// `realtime.token_default_ttl`).
    pub ttl_ms: Option<u64>,
}

/// A minted token.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    /// The token: pass it to the browser, which opens the stream with `?token=`. A bearer
    /// secret: do not log it.
    pub token: String,
    /// Its id (to revoke it).
    pub token_id: String,
    /// When it expires (ms since the epoch).
    pub expires_at_ms: i64,
}

/// Input of a revocation: exactly one of `token_id` and `principal`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Revoke this token.
    pub token_id: Option<String>,
    /// Revoke every token of this principal minted until now.
    pub principal: Option<String>,
}

fn parse_list<T>(
    items: &[String],
    field: &str,
    parse: impl Fn(&str) -> Result<T, FieldError>,
) -> Result<Vec<T>, FieldError> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| parse(s).map_err(|e| FieldError::new(format!("{field}[{i}]"), e.message)))
        .collect()
}

/// Mint a stream token for a browser.
///
/// The token is bound to your tenant, the principal, the topics and jobs listed, and an
/// expiry. The browser opens `GET /v1/topics/{topic}/events?token=…` or
/// `GET /v1/jobs/{id}/events/stream?token=…` with it.
#[utoipa::path(post, path = "/v1/streams/tokens", tag = "realtime",
    request_body = MintBody, security(("tenant_key" = [])),
    responses((status = 201, body = TokenView, description = "Minted"), CommonErrors))]
async fn stream_token_mint(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<MintBody>,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    let topics = parse_list(&body.topics, "topics", TopicName::parse);
    let jobs = parse_list(&body.jobs, "jobs", |s| {
        JobId::parse(s).map(|id| id.as_str().to_owned())
    });
    let (topics, jobs) = match (topics, jobs) {
        (Ok(t), Ok(j)) => (t, j),
        (t, j) => {
            let errors = [t.err(), j.err()].into_iter().flatten().collect();
            return Err(Problem::invalid(errors).into());
        }
    };
    let req = MintRequest {
        principal: body.principal,
        topics,
        jobs,
        ttl: body.ttl_ms.map(Duration::from_millis),
        key_id: Some(caller.principal.clone()),
    };
    let minted = state
        .realtime
        .token_mint(&caller.tenant, req)
        .map_err(problem)?;
    let view = TokenView {
        token: minted.token,
        token_id: minted.claims.token_id,
        expires_at_ms: minted.claims.exp_ms,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Revoke a stream token, or every token of a principal minted until now.
///
/// Every open stream of the revoked tokens closes (with a `close` event, reason `revoked`)
/// within a second, on every instance.
#[utoipa::path(post, path = "/v1/streams/revocations", tag = "realtime",
    request_body = RevokeBody, security(("tenant_key" = [])),
    responses((status = 204, description = "Revoked"), CommonErrors))]
async fn stream_revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> ApiResult<StatusCode> {
    let tenant = caller.tenant.clone();
    let ok_text = |s: &str| (1..=200).contains(&s.len()) && !s.chars().any(char::is_control);
    let rev = match (body.token_id, body.principal) {
        (Some(token_id), None) if ok_text(&token_id) => Revocation::Token { tenant, token_id },
        (None, Some(principal)) if ok_text(&principal) => Revocation::Principal {
            tenant,
            principal,
            at_ms: state.realtime.store.realtime_now_ms(),
        },
        _ => {
            return Err(Problem::invalid(vec![FieldError::new(
                "token_id",
                "send exactly one of token_id and principal (1 to 200 characters)",
            )])
            .into())
        }
    };
    state.realtime.revoke(rev).await.map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}
