//! `/v1/webhooks/events` and `/v1/webhooks/stats`: the inbox — list and get events with
//! their status, attempts and last error; replay one or a filtered set; acknowledge (pull).

use super::api;
use super::dto::{
    filters, EventPage, EventQuery, EventView, ReplayBody, Replayed, StatsQuery, StatsView,
};
use crate::error::{ApiError, ApiResult};
use crate::http::docs::CommonErrors;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, PageRequest, Problem};
use palisade_webhooks::params::MAX_REPLAY;
use palisade_webhooks::{EventId, SourceName};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The events routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(event_list))
        .routes(routes!(event_get))
        .routes(routes!(event_replay))
        .routes(routes!(event_replay_many))
        .routes(routes!(event_ack))
        .routes(routes!(inbox_stats))
}

fn id_of(path: &str) -> Result<EventId, ApiError> {
    EventId::parse(path).map_err(|e| Problem::invalid(vec![e]).into())
}

/// The tenant's events, newest first, filtered and cursor-paginated.
#[utoipa::path(get, path = "/v1/webhooks/events", tag = "webhooks",
    params(EventQuery), security(("tenant_key" = [])),
    responses((status = 200, body = EventPage), CommonErrors))]
async fn event_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<EventPage>> {
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .page()?;
    let req = filters(
        q.source.as_deref(),
        q.status.as_deref(),
        q.since_ms,
        q.until_ms,
        page,
    )?;
    let body = q.include_body.unwrap_or(false);
    let p = state
        .webhooks
        .store
        .event_list(&caller.tenant, &req)
        .await
        .map_err(api)?;
    Ok(Json(EventPage {
        items: p
            .items
            .into_iter()
            .map(|e| EventView::of(e, body))
            .collect(),
        next: p.next.as_deref().map(palisade_core::page::cursor_encode),
    }))
}

/// One event, with its body.
#[utoipa::path(get, path = "/v1/webhooks/events/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Event id")),
    security(("tenant_key" = [])),
    responses((status = 200, body = EventView), CommonErrors))]
async fn event_get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<Json<EventView>> {
    let id = id_of(&path)?;
    match state
        .webhooks
        .store
        .event_get(&caller.tenant, &id)
        .await
        .map_err(api)?
    {
        Some(e) => Ok(Json(EventView::of(e, true))),
        None => Err(Problem::not_found("event").into()),
    }
}

/// Deliver an event again: pending with a fresh attempt count (a pending event keeps its
/// schedule).
#[utoipa::path(post, path = "/v1/webhooks/events/{id}/replay", tag = "webhooks",
    params(("id" = String, Path, description = "Event id")),
    security(("tenant_key" = [])),
    responses((status = 200, body = EventView), CommonErrors))]
async fn event_replay(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<Json<EventView>> {
    let id = id_of(&path)?;
    let w = &state.webhooks;
    let now = w.clock.now_ms();
    let mut out = w
        .store
        .event_replay(&caller.tenant, &[id], now)
        .await
        .map_err(api)?;
    w.wake.notify_one();
    match out.pop() {
        Some(e) => Ok(Json(EventView::of(e, false))),
        None => Err(Problem::not_found("event").into()),
    }
}

/// Deliver a filtered set of events again (default: the failed ones), newest first, at most
/// 1000.
#[utoipa::path(post, path = "/v1/webhooks/events/replay", tag = "webhooks",
    request_body = ReplayBody, security(("tenant_key" = [])),
    responses((status = 200, body = Replayed), CommonErrors))]
async fn event_replay_many(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<ReplayBody>,
) -> ApiResult<Json<Replayed>> {
    let max = body.max.unwrap_or(MAX_REPLAY as u32);
    if !(1..=MAX_REPLAY as u32).contains(&max) {
        let e = FieldError::new("max", "an integer from 1 to 1000");
        return Err(Problem::invalid(vec![e]).into());
    }
    let status = body.status.as_deref().unwrap_or("failed");
    let page = PageRequest::first(palisade_core::page::MAX_PAGE);
    let mut req = filters(
        body.source.as_deref(),
        Some(status),
        body.since_ms,
        body.until_ms,
        page,
    )?;
    let w = &state.webhooks;
    let mut ids = Vec::new();
    while ids.len() < max as usize {
        let p = w
            .store
            .event_list(&caller.tenant, &req)
            .await
            .map_err(api)?;
        ids.extend(p.items.into_iter().map(|e| e.id));
        match p.next {
            Some(n) => req.page.after = Some(n),
            None => break,
        }
    }
    ids.truncate(max as usize);
    let now = w.clock.now_ms();
    let out = w
        .store
        .event_replay(&caller.tenant, &ids, now)
        .await
        .map_err(api)?;
    w.wake.notify_one();
    Ok(Json(Replayed {
        replayed: out.len(),
        ids: out.into_iter().map(|e| e.id.to_string()).collect(),
    }))
}

/// Acknowledge a pending event (pull): delivered. Again on a delivered one changes nothing.
#[utoipa::path(post, path = "/v1/webhooks/events/{id}/ack", tag = "webhooks",
    params(("id" = String, Path, description = "Event id")),
    security(("tenant_key" = [])),
    responses((status = 200, body = EventView), CommonErrors))]
async fn event_ack(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<Json<EventView>> {
    let id = id_of(&path)?;
    let w = &state.webhooks;
    let e = w
        .store
        .event_ack(&caller.tenant, &id, w.clock.now_ms())
        .await
        .map_err(api)?;
    Ok(Json(EventView::of(e, false)))
}

/// The inbox in numbers: events per status and the oldest pending one.
#[utoipa::path(get, path = "/v1/webhooks/stats", tag = "webhooks",
    params(StatsQuery), security(("tenant_key" = [])),
    responses((status = 200, body = StatsView), CommonErrors))]
async fn inbox_stats(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> ApiResult<Json<StatsView>> {
    let source = match q.source.as_deref() {
        Some(s) => Some(SourceName::parse(s).map_err(|_| {
            Problem::invalid(vec![FieldError::new(
                "source",
                "1 to 64 of A-Z a-z 0-9 _ -",
            )])
        })?),
        None => None,
    };
    let s = state
        .webhooks
        .store
        .event_stats(&caller.tenant, source.as_ref())
        .await
        .map_err(api)?;
    Ok(Json(s.into()))
}
