//! The SSE streams a browser opens with a stream token: a topic, or a job's event log.
//!
//! The token comes as `?token=` (`EventSource` cannot send headers); the access log records
//! the route template only, never the query string. A server may stream with its tenant key
//! (`Authorization: Bearer`) instead of a token. A stream resumes after the
//! `Last-Event-ID` header or, when reconnecting with a new token, `?last_event_id=`.

use super::job_feed::JobFeed;
use super::problem;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use palisade_core::{FieldError, Problem};
use palisade_jobs::JobId;
use palisade_realtime::{Claims, Frame, RealtimeError, StreamKind, TokenRejection, TopicName};
use serde::Deserialize;
use std::convert::Infallible;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The stream routes, authenticated by stream token (not by tenant key).
pub fn stream_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(topic_stream))
        .routes(routes!(job_stream))
}

/// Query of a stream.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The stream token (`POST /v1/streams/tokens`).
    pub token: Option<String>,
    /// Resume after this event id (when the `Last-Event-ID` header cannot be sent, e.g. a new
    /// `EventSource` after a token refresh); the header wins when both are sent.
    pub last_event_id: Option<String>,
}

/// What a stream asks to read (as its path names it).
pub(super) enum Asked<'a> {
    Topic(&'a str),
    Job(&'a str),
}

/// The claims of the query's token; without one, of the tenant key in `Authorization` (for
/// the asked topic or job only, for `realtime.max_stream_lifetime`); else 401.
async fn authorize(
    state: &AppState,
    q: &StreamQuery,
    headers: &HeaderMap,
    asked: Asked<'_>,
) -> ApiResult<Claims> {
    if let Some(token) = q.token.as_deref() {
        return state.realtime.token_verify(token).await.map_err(problem);
    }
    if !headers.contains_key(header::AUTHORIZATION) {
        return Err(problem(RealtimeError::Token(TokenRejection::Malformed)));
    }
    let caller = crate::auth::tenant_caller(state, headers).await?;
    Ok(key_claims(state, caller, asked))
}

/// The claims of a server's stream with its tenant key: the asked topic or job of its own
/// tenant, for `realtime.max_stream_lifetime`.
pub(super) fn key_claims(
    state: &AppState,
    caller: palisade_core::Caller,
    asked: Asked<'_>,
) -> Claims {
    let now = state.realtime.store.realtime_now_ms();
    let lifetime = state.realtime.settings.max_stream_lifetime.as_millis() as i64;
    let (topics, jobs) = match asked {
        Asked::Topic(t) => (TopicName::parse(t).into_iter().collect(), Vec::new()),
        Asked::Job(j) => (Vec::new(), vec![j.to_owned()]),
    };
    Claims {
        token_id: format!("key:{}", caller.principal),
        tenant: caller.tenant,
        key_id: Some(caller.principal.clone()),
        principal: caller.principal,
        topics,
        jobs,
        iat_ms: now,
        // Past the stream's lifetime, so the stream ends at its lifetime, not as expired.
        exp_ms: now + lifetime + 1_000,
    }
}

/// The id to resume after: the `Last-Event-ID` header, else `?last_event_id=`; 400 when it
/// is not an event id.
fn resume_point(headers: &HeaderMap, q: &StreamQuery) -> ApiResult<Option<u64>> {
    let header = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("?"));
    let Some(raw) = header.or(q.last_event_id.as_deref()) else {
        return Ok(None);
    };
    raw.trim().parse::<u64>().map(Some).map_err(|_| {
        Problem::invalid(vec![FieldError::new(
            "last_event_id",
            "must be an event id: a whole number from 0",
        )])
        .into()
    })
}

fn not_found() -> ApiError {
    problem(RealtimeError::NotFound)
}

fn event(f: Frame) -> Event {
    let mut e = Event::default().data(f.data);
    if let Some(id) = f.id {
        e = e.id(id);
    }
    if let Some(name) = f.event {
        e = e.event(name);
    }
    e
}

/// The SSE response of `frames`, with heartbeat comments while idle.
fn sse(state: &AppState, frames: impl Stream<Item = Frame> + Send + 'static) -> Response {
    let every = state.realtime.settings.heartbeat_interval;
    let events = frames.map(|f| Ok::<_, Infallible>(event(f)));
    let mut res = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(every).text("heartbeat"))
        .into_response();
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// Stream a topic's events (SSE), with a stream token.
///
/// Each event's SSE `id` is its topic id; `Last-Event-ID` (or `?last_event_id=`) resumes
/// after it from the topic's history, with an `event: gap` first when the history no longer
/// reaches back. The stream ends with an `event: close` whose `reason` is `token-expired`
/// (mint a new token and reconnect with `last_event_id`), `revoked`, `max-lifetime`, `idle`,
/// `slow-consumer`, `shutdown` or `store-failed`. 429 `too-many-streams` (with
/// `Retry-After`) when the principal or the tenant holds its cap of open streams. A topic nobody published to yet is
/// subscribable (empty). 404 when the token does not cover the topic. A server may send its
/// tenant key (`Authorization: Bearer`) instead of a token.
#[utoipa::path(get, path = "/v1/topics/{topic}/events", tag = "realtime",
    params(("topic" = String, Path, description = "Topic"), StreamQuery),
    responses((status = 200, content_type = "text/event-stream", body = String,
               description = "The event stream"),
              (status = 400, description = "`invalid-request`"),
              (status = 401, description = "`stream-token-invalid`, `stream-token-expired` or `stream-token-revoked`"),
              (status = 404, description = "`not-found`: the token does not cover this topic"),
              (status = 429, description = "`too-many-streams`: the principal or the tenant holds `realtime.max_streams_per_principal` / `realtime.max_streams_per_tenant` open streams across the cluster; `Retry-After`")))]
async fn topic_stream(
    State(state): State<AppState>,
    ApiPath(topic): ApiPath<String>,
    ApiQuery(q): ApiQuery<StreamQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let claims = authorize(&state, &q, &headers, Asked::Topic(&topic)).await?;
    let topic = TopicName::parse(&topic).map_err(|_| not_found())?;
    let after = resume_point(&headers, &q)?;
    let frames = state
        .realtime
        .topic_stream(claims, topic, after)
        .await
        .map_err(problem)?;
    Ok(sse(&state, frames))
}

/// Stream a job's event log (SSE), with a stream token.
///
/// Each event's SSE `id` is its offset in the log (from 0) and its data
/// `{"kind", "at_ms", "data"}`: state changes, attempts, progress, checkpoints. Resumes after
/// `Last-Event-ID` (or `?last_event_id=`); the whole log is kept while the job is. Ends after
/// the job completes, dies or is cancelled (`close` reason `job-finished`), when it is
/// deleted (`job-gone`), or as a topic stream does. 404 when the token does not cover the
/// job, or the job is not the token tenant's. A server may send its tenant key instead of a
/// token.
#[utoipa::path(get, path = "/v1/jobs/{id}/events/stream", tag = "realtime",
    params(("id" = String, Path, description = "Job id"), StreamQuery),
    responses((status = 200, content_type = "text/event-stream", body = String,
               description = "The event stream"),
              (status = 400, description = "`invalid-request`"),
              (status = 401, description = "`stream-token-invalid`, `stream-token-expired` or `stream-token-revoked`"),
              (status = 404, description = "`not-found`: the token does not cover this job"),
              (status = 429, description = "`too-many-streams`: the principal or the tenant holds `realtime.max_streams_per_principal` / `realtime.max_streams_per_tenant` open streams across the cluster; `Retry-After`")))]
async fn job_stream(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<StreamQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let claims = authorize(&state, &q, &headers, Asked::Job(&id)).await?;
    if !claims.covers_job(&id) {
        return Err(not_found());
    }
    let after = resume_point(&headers, &q)?;
    let frames = job_frames(&state, claims, &id, after)
        .await
        .map_err(problem)?;
    Ok(sse(&state, frames))
}

/// The frames of job `id` for `claims` (which cover it), after offset `after`; not found when
/// the job is not the claims' tenant's.
pub(super) async fn job_frames(
    state: &AppState,
    claims: Claims,
    id: &str,
    after: Option<u64>,
) -> Result<impl Stream<Item = Frame> + Send + 'static, RealtimeError> {
    let id = JobId::parse(id).map_err(|_| RealtimeError::NotFound)?;
    match state.jobs.store.job_get(&claims.tenant, &id).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(RealtimeError::NotFound),
        Err(palisade_jobs::JobError::Store(e)) => return Err(e.into()),
        Err(_) => return Err(RealtimeError::NotFound),
    }
    let from = after.map_or(0, |a| a.saturating_add(1));
    let interval = state.realtime.settings.job_poll_interval;
    let feed = JobFeed::new(
        state.jobs.store.clone(),
        claims.tenant.clone(),
        id,
        from,
        interval,
    );
    state
        .realtime
        .stream(StreamKind::Job, claims, feed, Vec::new())
        .await
}
