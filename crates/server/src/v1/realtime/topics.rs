//! Publishing to a topic (tenant key).

use super::problem;
use crate::error::ApiResult;
use crate::http::docs::CommonErrors;
use crate::http::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use palisade_core::{Caller, Problem};
use palisade_realtime::TopicName;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The publish route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(topic_publish))
        .routes(routes!(topic_delete))
}

/// A published event.
#[derive(Serialize, ToSchema)]
pub struct PublishedView {
    /// Its id in the topic (1, 2, …): streams send it as the SSE `id`.
    pub id: u64,
    /// When it was stored (ms since the epoch).
    pub at_ms: i64,
}

/// Publish a JSON event to a topic.
///
/// Subscribers of your tenant whose token covers the topic receive it, in id order. The event
/// is kept in the topic's history (bounded by `realtime.history_max_events` and
/// `realtime.history_max_age`) for streams that resume. Over `realtime.max_event_bytes`: 413
/// `event-too-large`.
#[utoipa::path(post, path = "/v1/topics/{topic}/events", tag = "realtime",
    params(("topic" = String, Path, description = "Topic: 1..=200 of A-Z a-z 0-9 . _ - :")),
    request_body(content = Object, description = "Any JSON value"),
    security(("tenant_key" = [])),
    responses((status = 201, body = PublishedView, description = "Stored and fanned out"),
              (status = 413, description = "`event-too-large`"), CommonErrors))]
async fn topic_publish(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(topic): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<(StatusCode, Json<PublishedView>)> {
    let topic = TopicName::parse(&topic).map_err(|e| Problem::invalid(vec![e]))?;
    let data = body.to_string();
    let event = state
        .realtime
        .topic_publish(&caller.tenant, &topic, &data)
        .await
        .map_err(problem)?;
    let view = PublishedView {
        id: event.seq,
        at_ms: event.at_ms,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Delete a topic: its history is dropped and every stream of it closes (`close` reason
/// `topic-deleted`) within a second, on every instance. Later events go on from the next id.
/// 404 for a topic that never had an event.
#[utoipa::path(delete, path = "/v1/topics/{topic}", tag = "realtime",
    params(("topic" = String, Path, description = "Topic")),
    security(("tenant_key" = [])),
    responses((status = 204, description = "Deleted"), CommonErrors))]
async fn topic_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(topic): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let topic = TopicName::parse(&topic).map_err(|e| Problem::invalid(vec![e]))?;
    match state.realtime.topic_delete(&caller.tenant, &topic).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(Problem::not_found("topic").into()),
        Err(e) => Err(problem(e)),
    }
}
