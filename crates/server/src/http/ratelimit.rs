//! `/v1/ratelimit`: decisions, policies and overrides over HTTP for apps in any language (tenant key).

use super::docs::CommonErrors;
use super::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{PolicySource, Resolved};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, Page, Problem, TenantId};
use palisade_ratelimit::headers::{self, HeaderEntry};
use palisade_ratelimit::{
    Decision, KeyContext, OverrideRecord, Policy, PolicyRecord, RateLimitError, RateOverride,
    MAX_CHECKS, MAX_KEY_BYTES,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The ratelimit routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(reset))
        .routes(routes!(policy_list))
        .routes(routes!(policy_put, policy_get, policy_delete))
        .routes(routes!(override_put, override_list))
        .routes(routes!(override_delete))
}

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
    /// Header values by lower-case name (`header:<name>` parts).
    pub headers: Option<BTreeMap<String, String>>,
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

/// A policy (see docs/api.md for every field's rules).
#[derive(Serialize, ToSchema)]
pub struct PolicyBody {
    /// 1..=64 of `A-Z a-z 0-9 _ . -` (optional in PUT: the path names it).
    pub name: String,
    /// `gcra`, `sliding_window` or `fixed_window`.
    pub algorithm: String,
    /// Units per window, 1..=1000000000.
    pub quota: u64,
    /// `1s` ..= `30d` (or whole seconds).
    pub window: String,
    /// GCRA only: units that may arrive at once (default `quota`).
    pub burst: Option<u64>,
    /// 1..=8 of `ip`, `ip/<prefix>`, `tenant`, `principal`, `route`, `header:<name>`, `custom:<value>`.
    pub key: Vec<String>,
    /// Cost of one request (default 1).
    pub cost: Option<u64>,
    /// `enforce` (default) or `shadow`.
    pub mode: Option<String>,
    /// `fallback` (default), `allow` or `deny`.
    pub on_store_error: Option<String>,
    /// Deny the key this long after a violation.
    pub block: Option<String>,
}

/// A policy as seen by a tenant.
#[derive(Serialize, ToSchema)]
pub struct PolicyView {
    /// The policy.
    #[schema(value_type = PolicyBody)]
    pub policy: Value,
    /// `tenant` (yours) or `config` (every tenant's, read-only).
    pub source: String,
    /// Version of the last change (tenant policies).
    pub version: Option<i64>,
    /// Last change, ms since the epoch (tenant policies).
    pub updated_at_ms: Option<i64>,
}

/// A page of the tenant's own policies.
#[derive(Serialize, ToSchema)]
pub struct PolicyPage {
    /// Policies.
    pub items: Vec<PolicyView>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// New limits for one policy: tenant-wide (no `key`) or for one key.
#[derive(Serialize, ToSchema)]
pub struct OverrideBody {
    /// The policy it changes (yours or a configured one).
    pub policy: String,
    /// The key it applies to; absent: every key of the tenant.
    pub key: Option<String>,
    /// The new quota.
    pub quota: u64,
    /// The new window.
    pub window: Option<String>,
    /// The new burst (GCRA).
    pub burst: Option<u64>,
}

/// An override as stored.
#[derive(Serialize, ToSchema)]
pub struct OverrideView {
    /// The override.
    #[schema(value_type = OverrideBody)]
    #[serde(rename = "override")]
    pub rate_override: Value,
    /// Version of the last change.
    pub version: i64,
    /// Last change, ms since the epoch.
    pub updated_at_ms: i64,
}

/// A page of overrides.
#[derive(Serialize, ToSchema)]
pub struct OverridePage {
    /// Overrides ordered by (policy, key).
    pub items: Vec<OverrideView>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// `?key=` of an override deletion.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct OverrideKeyQuery {
    /// The key of a per-key override; absent: the tenant-wide override.
    key: Option<String>,
}

fn unknown_policy() -> ApiError {
    Problem::new(
        StatusCode::NOT_FOUND,
        "policy-not-found",
        "Policy not found",
        "no rate limit policy of this name for this tenant",
    )
    .into()
}

fn limit_error(e: RateLimitError) -> ApiError {
    if e.is_not_found() {
        return unknown_policy();
    }
    e.to_problem().into()
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
        let value = HeaderValue::from_str(v);
        let (Ok(name), Ok(value)) = (name, value) else {
            return Err(FieldError::new(
                format!("context.headers.{k}"),
                "a valid header name and visible ASCII value",
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
async fn check(
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
    let checks: Vec<_> = resolved.iter().map(|r| r.check.clone()).collect();
    let decisions = rl
        .limiter()
        .check(&caller.tenant, &checks)
        .await
        .map_err(limit_error)?;
    Ok(decision_response(&resolved, &decisions))
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
async fn reset(
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

fn policy_view(p: &Policy, source: PolicySource, rec: Option<&PolicyRecord>) -> PolicyView {
    PolicyView {
        policy: serde_json::to_value(p).unwrap_or_default(),
        source: match source {
            PolicySource::Config => "config",
            PolicySource::Tenant => "tenant",
        }
        .to_owned(),
        version: rec.map(|r| r.version),
        updated_at_ms: rec.map(|r| r.updated_at_ms),
    }
}

/// Makes this instance see a change it just wrote (others see it within `poll_interval`).
async fn sync(state: &AppState) {
    if let Err(e) = state.ratelimit.sync().await {
        tracing::warn!(error = %e, "rate limit policy feed unreadable after a write");
    }
}

/// Create or replace one of your policies.
#[utoipa::path(put, path = "/v1/ratelimit/policies/{name}", tag = "ratelimit",
    params(("name" = String, Path, description = "Policy name")),
    request_body = PolicyBody, security(("tenant_key" = [])),
    responses((status = 200, body = PolicyView), CommonErrors))]
async fn policy_put(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
    ApiJson(mut body): ApiJson<Value>,
) -> ApiResult<Json<PolicyView>> {
    let Some(obj) = body.as_object_mut() else {
        let e = FieldError::new("", "a policy is a JSON object");
        return Err(Problem::invalid(vec![e]).into());
    };
    let mut errors = Vec::new();
    match obj.get("name") {
        Some(Value::String(n)) if *n != name => {
            errors.push(FieldError::new("name", "must match the path"));
        }
        _ => {
            obj.insert("name".into(), Value::String(name));
        }
    }
    let policy = Policy::parse(&body);
    if let Err(more) = &policy {
        errors.extend(more.iter().cloned());
    }
    let policy = match policy {
        Ok(p) if errors.is_empty() => p,
        _ => return Err(Problem::invalid(errors).into()),
    };
    let now = state.clock.now_ms();
    let rec = state
        .ratelimit
        .policies()
        .rate_policy_put(&caller.tenant, &policy, now)
        .await?;
    sync(&state).await;
    Ok(Json(policy_view(
        &rec.policy,
        PolicySource::Tenant,
        Some(&rec),
    )))
}

/// Get a policy: yours, else the configured one of this name.
#[utoipa::path(get, path = "/v1/ratelimit/policies/{name}", tag = "ratelimit",
    params(("name" = String, Path, description = "Policy name")),
    security(("tenant_key" = [])),
    responses((status = 200, body = PolicyView), CommonErrors))]
async fn policy_get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<PolicyView>> {
    let own = state
        .ratelimit
        .policies()
        .rate_policy_get(&caller.tenant, &name)
        .await?;
    if let Some(rec) = own {
        return Ok(Json(policy_view(
            &rec.policy,
            PolicySource::Tenant,
            Some(&rec),
        )));
    }
    let conf = state.ratelimit.config_policies();
    match conf.iter().find(|p| p.name == name) {
        Some(p) => Ok(Json(policy_view(p, PolicySource::Config, None))),
        None => Err(unknown_policy()),
    }
}

/// List your policies (configured ones are readable by name but not listed here).
#[utoipa::path(get, path = "/v1/ratelimit/policies", tag = "ratelimit", params(PageQuery),
    security(("tenant_key" = [])),
    responses((status = 200, body = PolicyPage), CommonErrors))]
async fn policy_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PolicyPage>> {
    let page: Page<PolicyRecord> = state
        .ratelimit
        .policies()
        .rate_policy_list(&caller.tenant, &q.page()?)
        .await?;
    let items = page
        .items
        .iter()
        .map(|r| policy_view(&r.policy, PolicySource::Tenant, Some(r)))
        .collect();
    Ok(Json(PolicyPage {
        items,
        next: page.next,
    }))
}

/// Delete one of your policies (its overrides stay until deleted).
#[utoipa::path(delete, path = "/v1/ratelimit/policies/{name}", tag = "ratelimit",
    params(("name" = String, Path, description = "Policy name")),
    security(("tenant_key" = [])),
    responses((status = 204, description = "Deleted"), CommonErrors))]
async fn policy_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let now = state.clock.now_ms();
    let gone = state
        .ratelimit
        .policies()
        .rate_policy_delete(&caller.tenant, &name, now)
        .await?;
    if !gone {
        return Err(unknown_policy());
    }
    sync(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

fn override_view(r: &OverrideRecord) -> OverrideView {
    OverrideView {
        rate_override: serde_json::to_value(&r.rate_override).unwrap_or_default(),
        version: r.version,
        updated_at_ms: r.updated_at_ms,
    }
}

/// Create or replace an override of a policy, tenant-wide or for one key.
///
/// Takes effect on every instance within `ratelimit.poll_interval` (default 1 s).
#[utoipa::path(put, path = "/v1/ratelimit/overrides", tag = "ratelimit",
    request_body = OverrideBody, security(("tenant_key" = [])),
    responses((status = 200, body = OverrideView),
              CommonErrors))]
async fn override_put(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<OverrideView>> {
    let o = RateOverride::parse(&body).map_err(Problem::invalid)?;
    let Some((base, _)) = state.ratelimit.policy(&caller.tenant, &o.policy) else {
        return Err(unknown_policy());
    };
    o.apply(&base).validate().map_err(Problem::invalid)?;
    let now = state.clock.now_ms();
    let rec = state
        .ratelimit
        .policies()
        .rate_override_put(&caller.tenant, &o, now)
        .await?;
    sync(&state).await;
    Ok(Json(override_view(&rec)))
}

/// List your overrides.
#[utoipa::path(get, path = "/v1/ratelimit/overrides", tag = "ratelimit", params(PageQuery),
    security(("tenant_key" = [])),
    responses((status = 200, body = OverridePage), CommonErrors))]
async fn override_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<OverridePage>> {
    let page = state
        .ratelimit
        .policies()
        .rate_override_list(&caller.tenant, &q.page()?)
        .await?;
    Ok(Json(OverridePage {
        items: page.items.iter().map(override_view).collect(),
        next: page.next,
    }))
}

/// Delete an override (`?key=` for a per-key one).
#[utoipa::path(delete, path = "/v1/ratelimit/overrides/{policy}", tag = "ratelimit",
    params(("policy" = String, Path, description = "Policy name"), OverrideKeyQuery),
    security(("tenant_key" = [])),
    responses((status = 204, description = "Deleted"), CommonErrors))]
async fn override_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(policy): ApiPath<String>,
    ApiQuery(q): ApiQuery<OverrideKeyQuery>,
) -> ApiResult<StatusCode> {
    let now = state.clock.now_ms();
    let tenant: &TenantId = &caller.tenant;
    let gone = state
        .ratelimit
        .policies()
        .rate_override_delete(tenant, &policy, q.key.as_deref(), now)
        .await?;
    if !gone {
        return Err(Problem::not_found("override").into());
    }
    sync(&state).await;
    Ok(StatusCode::NO_CONTENT)
}
