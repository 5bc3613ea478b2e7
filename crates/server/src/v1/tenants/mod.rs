//! `/v1/tenants`: tenants and their API keys (operator key), and `/v1/me` (tenant key).

use crate::app::Capability;
use crate::auth::Operator;
use crate::error::ApiResult;
use crate::http::docs::CommonErrors;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use crate::state::AppState;
use crate::stores::Stores;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use palisade_core::{AuditEventType, FieldError, Page, Problem, TenantId};
use palisade_tenancy::TenantStore;
use palisade_tenancy::{
    tenant_name, ApiKey, ApiKeyToken, CachedKey, KeyCache, KeyRecord, KeyStatus, Tenant,
    TenantCreate,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Operator routes.
pub fn operator_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenant_create, tenant_list))
        .routes(routes!(tenant_get, tenant_rename, tenant_delete))
        .routes(routes!(key_create, key_list))
        .routes(routes!(key_revoke))
}

/// Tenant routes.
pub fn tenant_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// Tenancy as the server hosts it.
pub const CAPABILITY: Capability = Capability {
    name: "tenancy",
    operator_routes,
    tenant_routes,
    public_routes: crate::app::none,
    maintenance: |s| {
        palisade_tenancy::runtime::tasks(s.tenants.clone(), s.keys.clone(), s.clock.clone())
    },
};

/// The tenancy store: the durable store.
pub fn start(stores: &Stores) -> Arc<dyn TenantStore> {
    stores.durable.clone()
}

/// The key cache (default bounds; docs/tenants.md), already following the change feed (the
/// tenancy tasks keep it following).
pub async fn key_cache(stores: &Stores) -> Result<Arc<KeyCache>, String> {
    use palisade_core::Maintenance;
    let cache = Arc::new(KeyCache::new(
        palisade_tenancy::cache::DEFAULT_CAPACITY,
        palisade_tenancy::cache::DEFAULT_TTL,
    ));
    let sync = palisade_tenancy::runtime::key_cache_sync(stores.durable.clone(), cache.clone());
    sync.step()
        .await
        .map_err(|e| format!("cannot read the change feed: {e}"))?;
    Ok(cache)
}

/// Input of tenant creation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreateBody {
    /// Your id for this tenant (1..=128 of `A-Z a-z 0-9 . _ : -`); creation is idempotent by it.
    pub external_id: String,
    /// Display name (1..=200 characters).
    pub name: String,
}

/// A tenant.
#[derive(Serialize, ToSchema)]
pub struct TenantView {
    /// Palisade's id.
    pub id: String,
    /// Your id.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// Creation time (ms since epoch).
    pub created_at_ms: i64,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            external_id: t.external_id,
            name: t.name,
            created_at_ms: t.created_at_ms,
        }
    }
}

/// A page of tenants.
#[derive(Serialize, ToSchema)]
pub struct TenantPage {
    /// Tenants.
    pub items: Vec<TenantView>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// Input of a tenant rename.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRenameBody {
    /// The new display name (1..=200 characters).
    pub name: String,
}

/// Input of key creation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyCreateBody {
    /// Display name (1..=100 characters).
    pub name: String,
}

/// An API key (never its secret).
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    /// Key id.
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// Creation time (ms since epoch).
    pub created_at_ms: i64,
    /// Last use (ms since epoch; updated at most once a minute).
    pub last_used_at_ms: Option<i64>,
    /// Revocation time.
    pub revoked_at_ms: Option<i64>,
}

impl From<ApiKey> for KeyView {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            tenant_id: k.tenant_id.to_string(),
            name: k.name,
            created_at_ms: k.created_at_ms,
            last_used_at_ms: k.last_used_at_ms,
            revoked_at_ms: k.revoked_at_ms,
        }
    }
}

/// A new key with its secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct KeyCreated {
    /// The key.
    #[serde(flatten)]
    pub key: KeyView,
    /// The full token for `Authorization: Bearer`; Palisade keeps only its hash.
    pub secret: String,
}

/// A page of keys.
#[derive(Serialize, ToSchema)]
pub struct KeyPage {
    /// Keys.
    pub items: Vec<KeyView>,
    /// Cursor of the next page.
    pub next: Option<String>,
}

/// Who the calling key is.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// The key's tenant.
    pub tenant: TenantView,
    /// The key's id.
    pub key_id: String,
}

fn page<T, V: From<T>>(p: Page<T>) -> (Vec<V>, Option<String>) {
    let next = p.next.as_deref().map(palisade_core::page::cursor_encode);
    (p.items.into_iter().map(V::from).collect(), next)
}

async fn existing_tenant(state: &AppState, id: &str) -> ApiResult<Tenant> {
    let id = TenantId::parse(id).map_err(|_| Problem::not_found("tenant"))?;
    Ok(state
        .tenants
        .tenant_get(&id)
        .await?
        .ok_or_else(|| Problem::not_found("tenant"))?)
}

/// Create a tenant (idempotent by `external_id`).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = TenantCreateBody,
    security(("operator_key" = [])),
    responses((status = 201, body = TenantView, description = "Created"),
              (status = 200, body = TenantView, description = "Already existed with this external id"),
              CommonErrors))]
async fn tenant_create(
    _: Operator,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TenantCreateBody>,
) -> ApiResult<(StatusCode, Json<TenantView>)> {
    let req = TenantCreate::new(&body.external_id, &body.name).map_err(Problem::invalid)?;
    let (t, created) = state
        .tenants
        .tenant_create(TenantId::generate(), &req, state.clock.now_ms())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(t.into())))
}

/// List tenants.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", params(PageQuery),
    security(("operator_key" = [])),
    responses((status = 200, body = TenantPage), CommonErrors))]
async fn tenant_list(
    _: Operator,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<TenantPage>> {
    let (items, next) = page(state.tenants.tenant_list(&q.page()?).await?);
    Ok(Json(TenantPage { items, next }))
}

/// Get a tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant id")),
    security(("operator_key" = [])),
    responses((status = 200, body = TenantView), CommonErrors))]
async fn tenant_get(
    _: Operator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TenantView>> {
    Ok(Json(existing_tenant(&state, &id).await?.into()))
}

/// Rename a tenant (its id, external id and keys stay).
#[utoipa::path(patch, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant id")),
    request_body = TenantRenameBody, security(("operator_key" = [])),
    responses((status = 200, body = TenantView), CommonErrors))]
async fn tenant_rename(
    _: Operator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TenantRenameBody>,
) -> ApiResult<Json<TenantView>> {
    let name = tenant_name(&body.name).map_err(|e| Problem::invalid(vec![e]))?;
    let id = TenantId::parse(&id).map_err(|_| Problem::not_found("tenant"))?;
    let now = state.clock.now_ms();
    let t = state.tenants.tenant_rename(&id, &name, now).await?;
    let t = t.ok_or_else(|| Problem::not_found("tenant"))?;
    state.keys.evict_tenant(&id);
    Ok(Json(t.into()))
}

/// Delete a tenant and its keys: they stop authenticating at once (docs/tenants.md).
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant id")),
    security(("operator_key" = [])),
    responses((status = 204, description = "Deleted"), CommonErrors))]
async fn tenant_delete(
    _: Operator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = TenantId::parse(&id).map_err(|_| Problem::not_found("tenant"))?;
    if !state
        .tenants
        .tenant_delete(&id, state.clock.now_ms())
        .await?
    {
        return Err(Problem::not_found("tenant").into());
    }
    state.keys.evict_tenant(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Create an API key for a tenant; its secret is in this answer only.
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/keys", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant id")),
    request_body = KeyCreateBody, security(("operator_key" = [])),
    responses((status = 201, body = KeyCreated), CommonErrors))]
async fn key_create(
    _: Operator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<KeyCreateBody>,
) -> ApiResult<(StatusCode, Json<KeyCreated>)> {
    let name = body.name.trim();
    if !(1..=100).contains(&name.chars().count()) || name.chars().any(char::is_control) {
        let e = FieldError::new("name", "1 to 100 characters without control characters");
        return Err(Problem::invalid(vec![e]).into());
    }
    let tenant = existing_tenant(&state, &id).await?;
    let tok = ApiKeyToken::generate();
    let key = ApiKey {
        id: tok.id.clone(),
        tenant_id: tenant.id.clone(),
        name: name.to_owned(),
        created_at_ms: state.clock.now_ms(),
        last_used_at_ms: None,
        revoked_at_ms: None,
    };
    let rec = KeyRecord {
        key: key.clone(),
        secret_hash: tok.secret_hash(),
    };
    state.tenants.key_create(&tenant.id, &rec).await?;
    state
        .audit
        .key_changed(AuditEventType::KeyCreated, &tenant.id, &key.id);
    Ok((
        StatusCode::CREATED,
        Json(KeyCreated {
            key: key.into(),
            secret: tok.expose(),
        }),
    ))
}

/// `?status=` of the key listing.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct KeyListQuery {
    /// `active` (default), `revoked` or `all`.
    #[param(inline, value_type = Option<String>)]
    status: Option<KeyStatus>,
    /// Page size, 1..=200 (default 50).
    limit: Option<u32>,
    /// The `next` cursor of the previous page.
    cursor: Option<String>,
}

/// List a tenant's keys.
#[utoipa::path(get, path = "/v1/tenants/{tenant_id}/keys", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant id"), KeyListQuery),
    security(("operator_key" = [])),
    responses((status = 200, body = KeyPage), CommonErrors))]
async fn key_list(
    _: Operator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<KeyListQuery>,
) -> ApiResult<Json<KeyPage>> {
    let page_req = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let tenant = existing_tenant(&state, &id).await?;
    let status = q.status.unwrap_or_default();
    let (items, next) = page(
        state
            .tenants
            .key_list(&tenant.id, status, &page_req)
            .await?,
    );
    Ok(Json(KeyPage { items, next }))
}

/// Revoke a key; it never authenticates again.
#[utoipa::path(delete, path = "/v1/tenants/{tenant_id}/keys/{key_id}", tag = "tenants",
    params(("tenant_id" = String, Path, description = "Tenant id"),
           ("key_id" = String, Path, description = "Key id")),
    security(("operator_key" = [])),
    responses((status = 204, description = "Revoked"), CommonErrors))]
async fn key_revoke(
    _: Operator,
    State(state): State<AppState>,
    ApiPath((id, key_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = existing_tenant(&state, &id).await?;
    let now = state.clock.now_ms();
    if state.tenants.key_revoke(&tenant.id, &key_id, now).await? {
        state.keys.evict_key(&key_id);
        state
            .audit
            .key_changed(AuditEventType::KeyRevoked, &tenant.id, &key_id);
        let streams = palisade_realtime::Revocation::Key {
            tenant: tenant.id.clone(),
            key_id: key_id.clone(),
        };
        if let Err(e) = state.realtime.revoke(streams).await {
            // The key is revoked; its stream tokens then end at their expiry.
            tracing::error!(error = %e, "realtime: revoking the key's stream tokens failed");
        }
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("key").into())
    }
}

/// The calling key and its tenant.
#[utoipa::path(get, path = "/v1/me", tag = "tenants", security(("tenant_key" = [])),
    responses((status = 200, body = Me), CommonErrors))]
async fn me(Extension(key): Extension<Arc<CachedKey>>) -> ApiResult<Json<Me>> {
    Ok(Json(Me {
        tenant: key.tenant.clone().into(),
        key_id: key.key.id.clone(),
    }))
}
