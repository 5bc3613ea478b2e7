//! `POST /v1/ratelimit/check` and `/reset`: decisions for apps in any language.

use super::{limit_error, unknown_policy};
use crate::error::{ApiError, ApiResult};
use crate::http::docs::CommonErrors;
use crate::http::extract::ApiJson;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, Problem};
use palisade_ratelimit::headers::{self, HeaderEntry};
use palisade_ratelimit::Resolved;
use palisade_ratelimit::{Decision, KeyContext, MAX_CHECKS, MAX_KEY_BYTES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use utoipa::ToSchema;

/// Input of a decision: up to 16 checks decided all or nothing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// 1..=16 checks; if one enforced check is denied, none consumes.
    pub checks: Vec<CheckItem>,
    /// Values the policies' key parts are built from, for checks without a `key`.
    pub context: Option<CheckContext>,
}

/// One check.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckItem {
    /// A policy of this tenant, or a configured one.
    pub policy: String,
    /// The key within the policy (1..=512 bytes), e.g. `user:42`; default: built from the
    /// policy's key parts and `context`.
    pub key: Option<String>,
    /// Units this request costs; default the policy's cost (0 tracks without limiting).
    pub cost: Option<u64>,
}

/// What key parts are built from (`tenant` is always the calling key's tenant).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckContext {
    /// The end user's IP address (`ip`, `ip/64` parts).
    pub ip: Option<String>,
    /// The end user or API client (`principal` part).
    pub principal: Option<String>,
    /// The route (`route` part).
    pub route: Option<String>,
    /// Header values by lower-case name (`header:<name>` parts). Values are checked after
    /// parsing, so no error names a caller's header.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub headers: Option<BTreeMap<String, serde_json::Value>>,
}

/// The answer to one check.
#[derive(Serialize, ToSchema)]
pub struct DecisionView {
    /// The policy.
    pub policy: String,
    /// The key decided.
    pub key: String,
    /// False only when an enforced limit denies this check.
    pub allowed: bool,
    /// `allowed`, `limited` or `shadow_limited`.
    pub outcome: String,
    /// The effective quota.
    pub limit: u64,
    /// Units left.
    pub remaining: u64,
    /// Milliseconds until the quota is fully available again.
    pub reset_after_ms: u64,
    /// Milliseconds until a retry may succeed (0 when allowed).
    pub retry_after_ms: u64,
    /// Decided without the shared store (it failed or missed its deadline).
    pub fallback: bool,
}

/// The answer to a decision (status 200 whether allowed or denied).
#[derive(Serialize, ToSchema)]
pub struct CheckResult {
    /// True when every check is allowed.
    pub allowed: bool,
    /// One decision per check, in order.
    pub results: Vec<DecisionView>,
}

/// Input of a reset.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// The policy.
    pub policy: String,
    /// The key whose counts and block are forgotten.
    pub key: String,
}

fn ip_of(ctx: &CheckContext) -> Result<Option<IpAddr>, FieldError> {
    ctx.ip
        .as_deref()
        .map(|s| s.trim().parse::<IpAddr>())
        .transpose()
        .map_err(|_| FieldError::new("context.ip", "an IPv4 or IPv6 address"))
}

fn header_map(ctx: &CheckContext) -> Result<HeaderMap, FieldError> {
    let mut m = HeaderMap::new();
    for (k, v) in ctx.headers.iter().flatten() {
        let name = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes());
        let value = v.as_str().map(HeaderValue::from_str);
        let (Ok(name), Some(Ok(value))) = (name, value) else {
            return Err(FieldError::new(
                "context.headers",
                "must map valid header names to strings of visible ASCII",
            ));
        };
        m.insert(name, value);
    }
    Ok(m)
}

/// Bad input that needs no policy: the number of checks, explicit keys, the context.
fn precheck(body: &CheckBody) -> Result<(Option<IpAddr>, HeaderMap), ApiError> {
    let mut e = Vec::new();
    if body.checks.is_empty() || body.checks.len() > MAX_CHECKS {
        e.push(FieldError::new("checks", "1 to 16 checks per decision"));
    }
    for (i, c) in body.checks.iter().enumerate() {
        if c.key
            .as_ref()
            .is_some_and(|k| k.is_empty() || k.len() > MAX_KEY_BYTES)
        {
            e.push(FieldError::new(
                format!("checks[{i}].key"),
                "1 to 512 bytes",
            ));
        }
    }
    let ctx = body.context.as_ref();
    let ip = ctx.map(ip_of).transpose().unwrap_or_else(|f| {
        e.push(f);
        None
    });
    let headers = ctx.map(header_map).transpose().unwrap_or_else(|f| {
        e.push(f);
        None
    });
    if e.is_empty() {
        Ok((ip.flatten(), headers.unwrap_or_default()))
    } else {
        Err(Problem::invalid(e).into())
    }
}

/// Decide one or more rate limits, all or nothing (unknown policy: 404 `policy-not-found`).
///
/// Answers 200 for allowed and denied decisions alike, with `RateLimit-Policy`, `RateLimit`
/// and (when denied) `Retry-After` headers.
#[utoipa::path(post, path = "/v1/ratelimit/check", tag = "ratelimit", request_body = CheckBody,
    security(("tenant_key" = [])),
    responses((status = 200, body = CheckResult, description = "Decided (allowed or not)",
               headers(("RateLimit" = String, description = "`\"policy\";r=<remaining>;t=<seconds>` per check"),
                       ("RateLimit-Policy" = String, description = "`\"policy\";q=<quota>;w=<seconds>` per check"),
                       ("Retry-After" = u64, description = "Seconds to wait, when denied"))),
              CommonErrors))]
pub(super) async fn check(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<CheckBody>,
) -> ApiResult<Response> {
    let (ip, hdrs) = precheck(&body)?;
    let default_ctx = CheckContext::default();
    let c = body.context.as_ref().unwrap_or(&default_ctx);
    let ctx = KeyContext {
        ip,
        tenant: Some(&caller.tenant),
        principal: c.principal.as_deref(),
        route: c.route.as_deref(),
        headers: Some(&hdrs),
    };
    let rl = &state.ratelimit;
    let resolved: Vec<Resolved> = body
        .checks
        .iter()
        .map(|i| rl.resolve(&caller.tenant, &i.policy, i.key.as_deref(), i.cost, &ctx))
        .collect::<Result<_, _>>()
        .map_err(|_| unknown_policy())?;
    if let Some(i) = resolved.iter().position(|r| r.keyed_by_ip && ip.is_none()) {
        return Err(ip_required(i));
    }
    let checks: Vec<_> = resolved.iter().map(|r| r.check.clone()).collect();
    let decisions = rl
        .limiter()
        .check(&caller.tenant, &checks)
        .await
        .map_err(limit_error)?;
    Ok(decision_response(&resolved, &decisions))
}

/// A check keyed on `ip` without `context.ip` would put every caller in one bucket: 400.
fn ip_required(i: usize) -> ApiError {
    Problem::invalid(vec![FieldError::new(
        "context.ip",
        format!("required: the policy of checks[{i}] is keyed by ip (or give checks[{i}].key)"),
    )])
    .into()
}

fn decision_response(resolved: &[Resolved], decisions: &[Decision]) -> Response {
    let entries: Vec<HeaderEntry<'_>> = resolved
        .iter()
        .zip(decisions)
        .map(|(r, d)| HeaderEntry {
            policy: &r.check.policy,
            window_ms: r.window_ms,
            decision: d,
        })
        .collect();
    let results = resolved
        .iter()
        .zip(decisions)
        .map(|(r, d)| DecisionView {
            policy: r.check.policy.clone(),
            key: r.check.key.clone(),
            allowed: d.allowed,
            outcome: d.outcome.as_str().to_owned(),
            limit: d.limit,
            remaining: d.remaining,
            reset_after_ms: d.reset_after_ms,
            retry_after_ms: d.retry_after_ms,
            fallback: d.fallback,
        })
        .collect();
    let body = CheckResult {
        allowed: decisions.iter().all(|d| d.allowed),
        results,
    };
    let mut res = Json(body).into_response();
    headers::apply(res.headers_mut(), &entries);
    res
}

/// Forget the counts and block of one key.
#[utoipa::path(post, path = "/v1/ratelimit/reset", tag = "ratelimit", request_body = ResetBody,
    security(("tenant_key" = [])),
    responses((status = 204, description = "Reset"),
              CommonErrors))]
pub(super) async fn reset(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<ResetBody>,
) -> ApiResult<StatusCode> {
    if body.key.is_empty() || body.key.len() > MAX_KEY_BYTES {
        let e = FieldError::new("key", "1 to 512 bytes");
        return Err(Problem::invalid(vec![e]).into());
    }
    if state
        .ratelimit
        .policy(&caller.tenant, &body.policy)
        .is_none()
    {
        return Err(unknown_policy());
    }
    let store = state.ratelimit.limiter().store();
    store
        .ratelimit_reset(&caller.tenant, &body.policy, &body.key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
