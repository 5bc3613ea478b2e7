//! Enqueue, read and manage jobs: get, list, events, cancel, retry, delete, queue stats.

use super::dto::{
    BatchBody, BatchEntryView, BatchView, CancelBody, CancelView, EnqueueBody, EnqueuedView,
    EventsQuery, EventsView, JobPage, JobView, RetriedView, RetryBody, StatsView,
};
use super::{job_id, max_wait, refused, visible_job, JobConflicts};
use crate::error::{ApiError, ApiResult};
use crate::http::docs::CommonErrors;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, Problem};
use palisade_jobs::{
    metrics, Cancelled, Job, JobEvents, JobFilter, JobList, JobRetry, JobState, QueueName, Topic,
};
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Longest `Idempotency-Key` (characters).
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// The management routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(job_enqueue, job_list))
        .routes(routes!(job_enqueue_batch))
        .routes(routes!(job_get, job_delete))
        .routes(routes!(job_events))
        .routes(routes!(job_cancel))
        .routes(routes!(job_retry))
        .routes(routes!(job_retry_dead))
        .routes(routes!(job_stats))
}

/// The `Idempotency-Key` header: absent, or 1..=128 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let ok = |s: &str| {
        (1..=MAX_IDEMPOTENCY_KEY).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
    };
    match v.to_str() {
        Ok(s) if ok(s) => Ok(Some(s.to_owned())),
        _ => Err(Problem::invalid(vec![FieldError::new(
            "Idempotency-Key",
            "1 to 128 visible ASCII characters",
        )])
        .into()),
    }
}

/// True when a duplicate found through an `Idempotency-Key` is another request's job.
fn reused(existing: &Job, queue: &QueueName, kind: &str, payload: &serde_json::Value) -> bool {
    &existing.queue != queue || existing.kind.as_str() != kind || &existing.payload != payload
}

/// Enqueue a job (queues are created on demand).
///
/// With a unique key (`unique`) or an `Idempotency-Key` header, an enqueue that finds a job
/// of this tenant holding the key answers that job with `duplicate: true` (200) and creates
/// nothing, atomically also across instances. The header is a unique key
/// `idempotency-key:<key>` over every state but cancelled for `jobs.idempotency_period`; the
/// same key with another queue, kind or payload is 422 `idempotency-key-reused`.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = EnqueueBody,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "Makes the enqueue idempotent (1..=128 visible ASCII characters)")),
    security(("tenant_key" = [])),
    responses((status = 201, body = EnqueuedView, description = "Created"),
              (status = 200, body = EnqueuedView, description = "Duplicate: the existing job"),
              (status = 422, body = crate::http::docs::ProblemDoc,
               description = "`idempotency-key-reused`: the key was used for another request"),
              JobConflicts, CommonErrors))]
async fn job_enqueue(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EnqueueBody>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let by_header = key.is_some();
    let now = state.clock.now_ms();
    let req = body
        .into_enqueue(&state.config.jobs, key, now)
        .map_err(refused)?;
    let (queue, kind, payload) = (req.queue.clone(), req.kind.clone(), req.payload.clone());
    let done = state
        .jobs
        .store
        .job_enqueue(&caller.tenant, req)
        .await
        .map_err(refused)?;
    metrics::enqueued(&done);
    if done.duplicate && !done.job.visible_to(&caller.principal) {
        // The key's holder is another key's job: never shown, only refused.
        return Err(refused(palisade_jobs::JobError::UniqueConflict));
    }
    if done.duplicate && by_header && reused(&done.job, &queue, kind.as_str(), &payload) {
        return Err(palisade_idempotency::mismatch_problem().into());
    }
    let status = match done.duplicate {
        true => StatusCode::OK,
        false => StatusCode::CREATED,
    };
    let view = EnqueuedView {
        job: done.job.into(),
        duplicate: done.duplicate,
    };
    Ok((status, Json(view)).into_response())
}

/// Enqueue up to 1,000 jobs at once (queues are created on demand).
///
/// All or nothing: a bad entry (400 naming it, `jobs[3].max_attempts`) or an oversized
/// payload (413) enqueues none, and the batch is stored in one transaction. The answer has one
/// entry per job, in order; an entry whose unique key a job of this tenant — or an earlier
/// entry of the batch — holds is that job with `duplicate: true` (its `job` absent when it is
/// another principal's). 201 when the batch created a job, 200 when every entry was a
/// duplicate. No `Idempotency-Key`: give each job a `unique` key instead.
#[utoipa::path(post, path = "/v1/jobs/batch", tag = "jobs", request_body = BatchBody,
    security(("tenant_key" = [])),
    responses((status = 201, body = BatchView, description = "At least one job created"),
              (status = 200, body = BatchView, description = "Every entry a duplicate"),
              CommonErrors))]
async fn job_enqueue_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BatchBody>,
) -> ApiResult<Response> {
    if headers.contains_key("idempotency-key") {
        return Err(Problem::invalid(vec![FieldError::new(
            "Idempotency-Key",
            "not taken by a batch: give each job a unique key",
        )])
        .into());
    }
    let now = state.clock.now_ms();
    let reqs = body
        .into_enqueues(&state.config.jobs, now)
        .map_err(refused)?;
    let done = state
        .jobs
        .store
        .job_enqueue_many(&caller.tenant, reqs)
        .await
        .map_err(refused)?;
    done.iter().for_each(metrics::enqueued);
    let created = done.iter().any(|d| !d.duplicate);
    let jobs = done
        .into_iter()
        .map(|d| BatchEntryView {
            job: d.job.visible_to(&caller.principal).then(|| d.job.into()),
            duplicate: d.duplicate,
        })
        .collect();
    let status = match created {
        true => StatusCode::CREATED,
        false => StatusCode::OK,
    };
    Ok((status, Json(BatchView { jobs })).into_response())
}

/// One job.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")), security(("tenant_key" = [])),
    responses((status = 200, body = JobView), CommonErrors))]
async fn job_get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<JobView>> {
    let id = job_id(&id)?;
    Ok(Json(visible_job(&state, &caller, &id).await?.into()))
}

/// A page of the tenant's jobs, newest first, filtered by queue, kind, state, tag and
/// creation time.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(super::dto::ListQuery),
    security(("tenant_key" = [])), responses((status = 200, body = JobPage), CommonErrors))]
async fn job_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<super::dto::ListQuery>,
) -> ApiResult<Json<JobPage>> {
    let filter = q.filter();
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page();
    let (filter, page) = match (filter, page) {
        (Ok(f), Ok(p)) => (
            JobFilter {
                viewer: Some(caller.principal.clone()),
                ..f
            },
            p,
        ),
        (f, p) => return Err(merge(f.err(), p.err()).into()),
    };
    let req = JobList { filter, page };
    let p = state
        .jobs
        .store
        .job_list(&caller.tenant, &req)
        .await
        .map_err(refused)?;
    Ok(Json(JobPage {
        items: p.items.into_iter().map(JobView::from).collect(),
        next: p.next.as_deref().map(palisade_core::page::cursor_encode),
    }))
}

/// One 400 listing the fields of both problems.
fn merge(a: Option<Problem>, b: Option<Problem>) -> Problem {
    let errors = [a, b]
        .into_iter()
        .flatten()
        .flat_map(|p| p.errors)
        .collect();
    Problem::invalid(errors)
}

/// A job's event log from an offset: state changes, attempts, progress, checkpoints.
#[utoipa::path(get, path = "/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = String, Path, description = "Job id"), EventsQuery),
    security(("tenant_key" = [])), responses((status = 200, body = EventsView), CommonErrors))]
async fn job_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Json<EventsView>> {
    let from = q.from.unwrap_or(0);
    let id = job_id(&id)?;
    visible_job(&state, &caller, &id).await?;
    let req = JobEvents {
        id,
        from,
        limit: q.limit.unwrap_or(100),
    };
    let events = state
        .jobs
        .store
        .job_events(&caller.tenant, &req)
        .await
        .map_err(refused)?;
    let next = events.last().map_or(from, |e| e.seq + 1);
    Ok(Json(EventsView {
        events: events.into_iter().map(Into::into).collect(),
        next,
    }))
}

/// Cancel a job: a waiting job is cancelled at once; a running one is asked to stop (its
/// worker learns it from its next heartbeat answer) and the call waits up to `wait_ms` until
/// it has stopped or its lease has ended (200), else answers 202 with `stopped: false`.
/// A finished job is 409 `job-finished`.
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "Job id"),
           ("wait_ms" = Option<u64>, Query, description = "Longest wait for a running job to stop (ms)")),
    security(("tenant_key" = [])),
    responses((status = 200, body = CancelView, description = "Cancelled, or stopped"),
              (status = 202, body = CancelView, description = "Asked to stop; still running"),
              JobConflicts, CommonErrors))]
async fn job_cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<CancelBody>,
) -> ApiResult<Response> {
    let id = job_id(&id)?;
    let limit = max_wait(&state);
    let wait = q.wait_ms.map_or(limit, Duration::from_millis);
    if wait > limit {
        let msg = format!(
            "from 0 to {} (this server's longest wait)",
            limit.as_millis()
        );
        return Err(Problem::invalid(vec![FieldError::new("wait_ms", msg)]).into());
    }
    visible_job(&state, &caller, &id).await?;
    let store = &state.jobs.store;
    let mut woken = state.jobs.wakeups.waiter(Topic::Stopped(id.to_string()));
    let job = match store.job_cancel(&caller.tenant, &id).await {
        Ok(Cancelled::Done(j)) => {
            metrics::ended(JobState::Cancelled);
            return Ok(cancel_answer(j, true));
        }
        Ok(Cancelled::Requested(j)) => j,
        Err(e) => return Err(refused(e)),
    };
    let stopped = |j: &Job, now: i64| {
        j.state != JobState::Running || j.lease_expires_at_ms.is_none_or(|at| at <= now)
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut job = job;
    loop {
        if stopped(&job, state.clock.now_ms()) {
            return Ok(cancel_answer(job, true));
        }
        if tokio::time::Instant::now() >= deadline || state.lifecycle.is_lame_duck() {
            return Ok(cancel_answer(job, false));
        }
        let now = tokio::time::Instant::now();
        let lease_end = job.lease_expires_at_ms.map_or(Duration::ZERO, |at| {
            Duration::from_millis((at - state.clock.now_ms()).max(0) as u64)
        });
        let poll = state.config.jobs.poll_interval.min(lease_end);
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.min(now + poll)) => {}
            _ = woken.wait() => {}
        }
        job = match store.job_get(&caller.tenant, &id).await.map_err(refused)? {
            Some(j) => j,
            None => return Err(Problem::not_found("job").into()),
        };
    }
}

fn cancel_answer(job: Job, stopped: bool) -> Response {
    let status = match stopped {
        true => StatusCode::OK,
        false => StatusCode::ACCEPTED,
    };
    let view = CancelView {
        job: job.into(),
        stopped,
    };
    (status, Json(view)).into_response()
}

/// Re-drive one dead (or cancelled) job: queued now, attempts from zero. Any other state is
/// 409 `job-not-dead`.
#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = String, Path, description = "Job id")), security(("tenant_key" = [])),
    responses((status = 200, body = JobView), JobConflicts, CommonErrors))]
async fn job_retry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<JobView>> {
    let id = job_id(&id)?;
    visible_job(&state, &caller, &id).await?;
    let req = JobRetry::One(id);
    let mut jobs = state
        .jobs
        .store
        .job_retry(&caller.tenant, &req)
        .await
        .map_err(refused)?;
    metrics::redriven(jobs.len());
    match jobs.pop() {
        Some(j) => Ok(Json(j.into())),
        None => Err(Problem::not_found("job").into()),
    }
}

/// Re-drive dead jobs matching a filter (queue, kind, tag), up to `limit` in one call.
#[utoipa::path(post, path = "/v1/jobs/retry", tag = "jobs", request_body = RetryBody,
    security(("tenant_key" = [])),
    responses((status = 200, body = RetriedView), CommonErrors))]
async fn job_retry_dead(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<RetryBody>,
) -> ApiResult<Json<RetriedView>> {
    let req = JobRetry::Dead {
        filter: JobFilter {
            queue: body.queue,
            kind: body.kind,
            tag: body.tag,
            viewer: Some(caller.principal.clone()),
            ..Default::default()
        },
        limit: body.limit.unwrap_or(100),
    };
    let jobs = state
        .jobs
        .store
        .job_retry(&caller.tenant, &req)
        .await
        .map_err(refused)?;
    metrics::redriven(jobs.len());
    Ok(Json(RetriedView {
        jobs: jobs.into_iter().map(Into::into).collect(),
    }))
}

/// Delete a waiting or finished job with its log; a running job is 409 `job-running`
/// (cancel it first).
#[utoipa::path(delete, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")), security(("tenant_key" = [])),
    responses((status = 204, description = "Deleted"), JobConflicts, CommonErrors))]
async fn job_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = job_id(&id)?;
    visible_job(&state, &caller, &id).await?;
    state
        .jobs
        .store
        .job_delete(&caller.tenant, &id)
        .await
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A queue of the tenant at a glance: jobs per state, age of the longest-waiting due job.
/// An unknown queue answers zero counts.
#[utoipa::path(get, path = "/v1/jobs/queues/{queue}/stats", tag = "jobs",
    params(("queue" = String, Path, description = "Queue name (percent-encoded)")),
    security(("tenant_key" = [])), responses((status = 200, body = StatsView), CommonErrors))]
async fn job_stats(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(queue): ApiPath<String>,
) -> ApiResult<Json<StatsView>> {
    let queue = QueueName::parse(&queue).map_err(|e| Problem::invalid(vec![e]))?;
    let s = state
        .jobs
        .store
        .job_stats(&caller.tenant, &queue)
        .await
        .map_err(refused)?;
    Ok(Json(StatsView::new(&queue, s)))
}

#[cfg(test)]
mod tests {
    use super::super::dto::IDEMPOTENCY_PREFIX;
    use super::*;

    #[test]
    fn idempotency_keys_are_bounded_and_visible_ascii() {
        let mut h = HeaderMap::new();
        assert_eq!(idempotency_key(&h).unwrap(), None);
        h.insert("idempotency-key", "order-7".parse().unwrap());
        assert_eq!(idempotency_key(&h).unwrap().as_deref(), Some("order-7"));
        for bad in ["a b", "", &"x".repeat(129)] {
            h.insert("idempotency-key", bad.parse().unwrap());
            assert!(idempotency_key(&h).is_err(), "{bad:?}");
        }
        assert!(IDEMPOTENCY_PREFIX.ends_with(':'));
    }
}
