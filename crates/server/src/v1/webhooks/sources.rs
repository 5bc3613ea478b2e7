//! `/v1/webhooks/sources`: create, list, get, update and delete sources; add and retire
//! secrets (rotation); rotate the delivery secret. Secrets are write-only: no answer carries
//! one, except a new delivery secret in the create's or the rotation's answer, once.

use super::api;
use super::dto::{
    DeliveryRotateBody, DeliveryRotated, RetireBody, SecretAdded, SecretBody, SourceBody,
    SourceCreated, SourceList, SourcePatch, SourceView,
};
use crate::error::{ApiError, ApiResult};
use crate::http::docs::CommonErrors;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, Problem, TenantId};
use palisade_webhooks::params::{EventList, MAX_REPLAY};
use palisade_webhooks::{EventStatus, Source, SourceName, Webhooks};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The sources routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(source_create, source_list))
        .routes(routes!(source_get, source_update, source_delete))
        .routes(routes!(secret_add))
        .routes(routes!(secret_retire))
        .routes(routes!(delivery_secret_rotate))
}

fn name_of(path: &str) -> Result<SourceName, ApiError> {
    SourceName::parse(path).map_err(|e| Problem::invalid(vec![e]).into())
}

/// Create a source. Answers its delivery secret once: the app verifies deliveries with it.
#[utoipa::path(post, path = "/v1/webhooks/sources", tag = "webhooks",
    request_body = SourceBody, security(("tenant_key" = [])),
    responses((status = 201, body = SourceCreated, description = "Created"),
              (status = 409, description = "`webhook-source-exists`: the name is taken"),
              CommonErrors))]
async fn source_create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<SourceBody>,
) -> ApiResult<(StatusCode, Json<SourceCreated>)> {
    let (s, delivery_secret) = state
        .webhooks
        .source_create(&caller.tenant, body.spec())
        .await
        .map_err(api)?;
    let out = SourceCreated {
        source: s.into(),
        delivery_secret,
    };
    Ok((StatusCode::CREATED, Json(out)))
}

/// The tenant's sources by name, cursor-paginated.
#[utoipa::path(get, path = "/v1/webhooks/sources", tag = "webhooks",
    params(PageQuery), security(("tenant_key" = [])),
    responses((status = 200, body = SourceList), CommonErrors))]
async fn source_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<SourceList>> {
    let page = q.page()?;
    let p = state
        .webhooks
        .store
        .source_list(&caller.tenant, &page)
        .await
        .map_err(api)?;
    Ok(Json(SourceList {
        items: p.items.into_iter().map(Into::into).collect(),
        next: p.next.as_deref().map(palisade_core::page::cursor_encode),
    }))
}

/// One source.
#[utoipa::path(get, path = "/v1/webhooks/sources/{name}", tag = "webhooks",
    params(("name" = String, Path, description = "Source name")),
    security(("tenant_key" = [])),
    responses((status = 200, body = SourceView), CommonErrors))]
async fn source_get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<Json<SourceView>> {
    let name = name_of(&path)?;
    match state
        .webhooks
        .store
        .source_get(&caller.tenant, &name)
        .await
        .map_err(api)?
    {
        Some(s) => Ok(Json(s.into())),
        None => Err(Problem::not_found("source").into()),
    }
}

/// Change a source's settings or target. A new target is enabled, and the source's pending
/// events are delivered to it.
#[utoipa::path(patch, path = "/v1/webhooks/sources/{name}", tag = "webhooks",
    params(("name" = String, Path, description = "Source name")),
    request_body = SourcePatch, security(("tenant_key" = [])),
    responses((status = 200, body = SourceView), CommonErrors))]
async fn source_update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<SourcePatch>,
) -> ApiResult<Json<SourceView>> {
    let name = name_of(&path)?;
    let target = body.target.map(|t| t.map(palisade_webhooks::Target::from));
    let (s, ()) = state
        .webhooks
        .source_change(&caller.tenant, &name, |s: &mut Source, _| {
            if let Some(t) = body.tolerance_secs {
                s.tolerance_secs = t;
            }
            if let Some(m) = body.max_body_bytes {
                s.max_body_bytes = m;
            }
            if let Some(r) = &body.event_id {
                s.event_id = r.clone();
            }
            if let Some(t) = &target {
                s.target = t.clone();
            }
            Ok(())
        })
        .await
        .map_err(api)?;
    if s.pushes() {
        pending_deliver(&state.webhooks, &caller.tenant, &s.name).await?;
    }
    Ok(Json(s.into()))
}

/// Makes sure the source's pending events (up to 1000) have their delivery jobs.
async fn pending_deliver(w: &Webhooks, tenant: &TenantId, name: &SourceName) -> ApiResult<()> {
    let req = EventList {
        source: Some(name.clone()),
        status: Some(EventStatus::Pending),
        page: palisade_core::PageRequest::first(palisade_core::page::MAX_PAGE),
        ..Default::default()
    };
    let mut req = req;
    let mut ids = Vec::new();
    while ids.len() < MAX_REPLAY {
        let p = w.store.event_list(tenant, &req).await.map_err(api)?;
        ids.extend(p.items.into_iter().map(|e| e.id));
        match p.next {
            Some(n) => req.page.after = Some(n),
            None => break,
        }
    }
    if !ids.is_empty() {
        let now = w.clock.now_ms();
        w.store.event_replay(tenant, &ids, now).await.map_err(api)?;
        w.wake.notify_one();
    }
    Ok(())
}

/// Delete a source and its events.
#[utoipa::path(delete, path = "/v1/webhooks/sources/{name}", tag = "webhooks",
    params(("name" = String, Path, description = "Source name")),
    security(("tenant_key" = [])),
    responses((status = 204, description = "Deleted"), CommonErrors))]
async fn source_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let name = name_of(&path)?;
    state
        .webhooks
        .store
        .source_delete(&caller.tenant, &name)
        .await
        .map_err(api)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a secret (rotation: add the new one, then retire the old one after a grace period).
#[utoipa::path(post, path = "/v1/webhooks/sources/{name}/secrets", tag = "webhooks",
    params(("name" = String, Path, description = "Source name")),
    request_body = SecretBody, security(("tenant_key" = [])),
    responses((status = 201, body = SecretAdded), CommonErrors))]
async fn secret_add(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<SecretBody>,
) -> ApiResult<(StatusCode, Json<SecretAdded>)> {
    let name = name_of(&path)?;
    let (s, id) = state
        .webhooks
        .secret_add(&caller.tenant, &name, &body.secret)
        .await
        .map_err(api)?;
    Ok((
        StatusCode::CREATED,
        Json(SecretAdded {
            id,
            source: s.into(),
        }),
    ))
}

/// Retire a secret: it still verifies for `grace_secs` (default a day), then never again.
#[utoipa::path(post, path = "/v1/webhooks/sources/{name}/secrets/{id}/retire", tag = "webhooks",
    params(("name" = String, Path, description = "Source name"),
           ("id" = String, Path, description = "Secret id")),
    request_body = RetireBody, security(("tenant_key" = [])),
    responses((status = 200, body = SourceView), CommonErrors))]
async fn secret_retire(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath((path, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RetireBody>,
) -> ApiResult<Json<SourceView>> {
    let name = name_of(&path)?;
    let grace = body.grace_secs.unwrap_or(86_400);
    if grace > 604_800 {
        let e = FieldError::new("grace_secs", "an integer from 0 to 604800 (7 days)");
        return Err(Problem::invalid(vec![e]).into());
    }
    let s = state
        .webhooks
        .secret_retire(&caller.tenant, &name, &id, grace)
        .await
        .map_err(api)?;
    Ok(Json(s.into()))
}

/// Rotate the secret deliveries are signed with: the new one (given, or generated) signs from
/// now on, and the current one keeps signing beside it for `grace_secs` (default a day) —
/// deliveries carry both signatures, so the app can switch its verifier at any time within.
#[utoipa::path(post, path = "/v1/webhooks/sources/{name}/delivery-secret/rotate", tag = "webhooks",
    params(("name" = String, Path, description = "Source name")),
    request_body = DeliveryRotateBody, security(("tenant_key" = [])),
    responses((status = 200, body = DeliveryRotated, description = "Rotated; the new secret is shown only now"),
              CommonErrors))]
async fn delivery_secret_rotate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<DeliveryRotateBody>,
) -> ApiResult<Json<DeliveryRotated>> {
    let name = name_of(&path)?;
    let grace = body.grace_secs.unwrap_or(86_400);
    if grace > 604_800 {
        let e = FieldError::new("grace_secs", "an integer from 0 to 604800 (7 days)");
        return Err(Problem::invalid(vec![e]).into());
    }
    let (s, delivery_secret) = state
        .webhooks
        .delivery_secret_rotate(&caller.tenant, &name, body.secret.as_deref(), grace)
        .await
        .map_err(api)?;
    Ok(Json(DeliveryRotated {
        source: s.into(),
        delivery_secret,
    }))
}
