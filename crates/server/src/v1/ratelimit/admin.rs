//! `/v1/ratelimit/policies` and `/overrides`: tenant policies and overrides at runtime.

use super::{put_error, unknown_policy};
use crate::error::ApiResult;
use crate::http::docs::CommonErrors;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, Page, Problem, TenantId};
use palisade_ratelimit::PolicySource;
use palisade_ratelimit::{OverrideRecord, Policy, PolicyRecord, RateLimitOverride};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

/// A policy (see docs/api.md for every field's rules).
#[derive(Serialize, ToSchema)]
pub struct PolicyBody {
    /// 1..=64 of `A-Z a-z 0-9 _ . -` (optional in PUT: the path names it).
    #[schema(required = false)]
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
pub(super) struct OverrideKeyQuery {
    /// The key of a per-key override; absent: the tenant-wide override.
    key: Option<String>,
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

/// Create or replace one of your policies (409 `policy-limit-reached` past
/// `ratelimit.max_policies_per_tenant`; replacing is always allowed).
#[utoipa::path(put, path = "/v1/ratelimit/policies/{name}", tag = "ratelimit",
    params(("name" = String, Path, description = "Policy name")),
    request_body = PolicyBody, security(("tenant_key" = [])),
    responses((status = 200, body = PolicyView),
              (status = 409, description = "`policy-limit-reached`"), CommonErrors))]
pub(super) async fn policy_put(
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
        .ratelimit_policy_put(
            &caller.tenant,
            &policy,
            now,
            state.ratelimit.caps().policies,
        )
        .await
        .map_err(put_error)?;
    sync(&state).await;
    let detail = json!({"what": "ratelimit.policy", "action": "put", "name": rec.policy.name});
    state.audit.config_changed(&caller, detail);
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
pub(super) async fn policy_get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<PolicyView>> {
    let own = state
        .ratelimit
        .policies()
        .ratelimit_policy_get(&caller.tenant, &name)
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
pub(super) async fn policy_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PolicyPage>> {
    let page: Page<PolicyRecord> = state
        .ratelimit
        .policies()
        .ratelimit_policy_list(&caller.tenant, &q.page()?)
        .await?;
    let items = page
        .items
        .iter()
        .map(|r| policy_view(&r.policy, PolicySource::Tenant, Some(r)))
        .collect();
    Ok(Json(PolicyPage {
        items,
        next: page.next.as_deref().map(palisade_core::page::cursor_encode),
    }))
}

/// Delete one of your policies (its overrides stay until deleted).
#[utoipa::path(delete, path = "/v1/ratelimit/policies/{name}", tag = "ratelimit",
    params(("name" = String, Path, description = "Policy name")),
    security(("tenant_key" = [])),
    responses((status = 204, description = "Deleted"), CommonErrors))]
pub(super) async fn policy_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let now = state.clock.now_ms();
    let gone = state
        .ratelimit
        .policies()
        .ratelimit_policy_delete(&caller.tenant, &name, now)
        .await?;
    if !gone {
        return Err(unknown_policy());
    }
    sync(&state).await;
    let detail = json!({"what": "ratelimit.policy", "action": "delete", "name": name});
    state.audit.config_changed(&caller, detail);
    Ok(StatusCode::NO_CONTENT)
}

/// The audit detail of an override change: the policy and whether it is per key (the key
/// itself may be personal data, so it is not recorded).
fn override_detail(action: &str, policy: &str, per_key: bool) -> Value {
    let scope = if per_key { "key" } else { "tenant" };
    json!({"what": "ratelimit.override", "action": action, "policy": policy, "scope": scope})
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
/// Takes effect on every instance within `ratelimit.poll_interval` (default 1 s). 409
/// `override-limit-reached` past `ratelimit.max_overrides_per_tenant`.
#[utoipa::path(put, path = "/v1/ratelimit/overrides", tag = "ratelimit",
    request_body = OverrideBody, security(("tenant_key" = [])),
    responses((status = 200, body = OverrideView),
              (status = 409, description = "`override-limit-reached`"), CommonErrors))]
pub(super) async fn override_put(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<OverrideView>> {
    let o = RateLimitOverride::parse(&body).map_err(Problem::invalid)?;
    let Some((base, _)) = state.ratelimit.policy(&caller.tenant, &o.policy) else {
        return Err(unknown_policy());
    };
    o.apply(&base).validate().map_err(Problem::invalid)?;
    let now = state.clock.now_ms();
    let rec = state
        .ratelimit
        .policies()
        .ratelimit_override_put(&caller.tenant, &o, now, state.ratelimit.caps().overrides)
        .await
        .map_err(put_error)?;
    sync(&state).await;
    state
        .audit
        .config_changed(&caller, override_detail("put", &o.policy, o.key.is_some()));
    Ok(Json(override_view(&rec)))
}

/// List your overrides.
#[utoipa::path(get, path = "/v1/ratelimit/overrides", tag = "ratelimit", params(PageQuery),
    security(("tenant_key" = [])),
    responses((status = 200, body = OverridePage), CommonErrors))]
pub(super) async fn override_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<OverridePage>> {
    let page = state
        .ratelimit
        .policies()
        .ratelimit_override_list(&caller.tenant, &q.page()?)
        .await?;
    Ok(Json(OverridePage {
        items: page.items.iter().map(override_view).collect(),
        next: page.next.as_deref().map(palisade_core::page::cursor_encode),
    }))
}

/// Delete an override (`?key=` for a per-key one).
#[utoipa::path(delete, path = "/v1/ratelimit/overrides/{policy}", tag = "ratelimit",
    params(("policy" = String, Path, description = "Policy name"), OverrideKeyQuery),
    security(("tenant_key" = [])),
    responses((status = 204, description = "Deleted"), CommonErrors))]
pub(super) async fn override_delete(
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
        .ratelimit_override_delete(tenant, &policy, q.key.as_deref(), now)
        .await?;
    if !gone {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "override-not-found",
            "Override not found",
            "no override of this policy (and key, when given) for this tenant",
        )
        .into());
    }
    sync(&state).await;
    state
        .audit
        .config_changed(&caller, override_detail("delete", &policy, q.key.is_some()));
    Ok(StatusCode::NO_CONTENT)
}
