//! The HTTP worker protocol: lease (long-poll), heartbeat, progress, checkpoint, complete,
//! fail, release — the attempt's token in every call.

use super::dto::{
    CheckpointBody, FailBody, HeartbeatBody, HeartbeatView, JobView, LeaseBody, LeaseView,
    LeasedView, ProgressBody, TokenBody,
};
use super::rate::RateGate;
use super::{job_id, max_wait, refused, JobConflicts};
use crate::error::{ApiError, ApiResult};
use crate::http::docs::CommonErrors;
use crate::http::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use palisade_core::{Caller, FieldError, Problem};
use palisade_jobs::{
    metrics, JobComplete, JobFail, JobHeartbeat, JobLease, JobRelease, LeaseScope, Leased,
    Progress, Topic,
};
use std::time::Duration;
use tokio::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most jobs one HTTP lease takes.
const MAX_LEASE_COUNT: u32 = 100;

/// The worker routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(job_lease))
        .routes(routes!(job_heartbeat))
        .routes(routes!(job_progress))
        .routes(routes!(job_checkpoint))
        .routes(routes!(job_complete))
        .routes(routes!(job_fail))
        .routes(routes!(job_release))
}

/// The lease's count and wait, or a 400 naming each bad one.
fn lease_bounds(body: &LeaseBody, limit: Duration) -> Result<(u32, Duration), ApiError> {
    let count = body.count.unwrap_or(1);
    let wait = Duration::from_millis(body.wait_ms.unwrap_or(0));
    let mut errs: Vec<FieldError> = body.queue.tenant_check("queue").err().into_iter().collect();
    if !(1..=MAX_LEASE_COUNT).contains(&count) {
        errs.push(FieldError::new("count", "an integer from 1 to 100"));
    }
    if wait > limit {
        let msg = format!(
            "from 0 to {} (this server's longest wait)",
            limit.as_millis()
        );
        errs.push(FieldError::new("wait_ms", msg));
    }
    match errs.is_empty() {
        true => Ok((count, wait)),
        false => Err(Problem::invalid(errs).into()),
    }
}

/// Lease up to `count` due jobs of a queue (this tenant's only), waiting up to `wait_ms` for
/// one to become due. Each leased job carries its attempt's `token` and its last checkpoint;
/// send a heartbeat before `lease_expires_at_ms`, or the job is rescued and runs again. A
/// waiting lease answers at once (maybe empty) when the server starts shutting down.
#[utoipa::path(post, path = "/v1/jobs/lease", tag = "jobs workers", request_body = LeaseBody,
    security(("tenant_key" = [])),
    responses((status = 200, body = LeaseView, description = "Leased jobs (maybe none)"),
              CommonErrors))]
async fn job_lease(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<LeaseBody>,
) -> ApiResult<Json<LeaseView>> {
    let (count, wait) = lease_bounds(&body, max_wait(&state))?;
    let limits = state.config.jobs.queue_limits(body.queue.as_str());
    let req = JobLease {
        scope: LeaseScope::Tenant(caller.tenant.clone()),
        queue: body.queue,
        worker: body.worker,
        limit: count,
        max_running_per_tenant: state.config.jobs.max_running_per_tenant,
        max_running_per_key: limits.concurrency_per_key,
        gate: RateGate::for_queue(&state.ratelimit, &limits),
    };
    let deadline = Instant::now() + wait;
    let poll = state.config.jobs.poll_interval;
    // Subscribed before each look at the store: a job enqueued after the look wakes the wait.
    let mut woken = state.jobs.wakeups.waiter(Topic::Due(req.queue.to_string()));
    loop {
        let got: Vec<Leased> = state.jobs.store.job_lease(&req).await.map_err(refused)?;
        let now = Instant::now();
        if !got.is_empty() || now >= deadline || state.lifecycle.is_lame_duck() {
            got.iter().for_each(metrics::leased);
            let jobs = got.into_iter().map(LeasedView::from).collect();
            return Ok(Json(LeaseView { jobs }));
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.min(now + poll)) => {}
            _ = woken.wait() => {}
        }
    }
}

async fn heartbeat(
    state: &AppState,
    caller: &Caller,
    hb: JobHeartbeat,
) -> ApiResult<Json<HeartbeatView>> {
    let a = state
        .jobs
        .store
        .job_heartbeat(&caller.tenant, &hb)
        .await
        .map_err(refused)?;
    Ok(Json(HeartbeatView {
        lease_expires_at_ms: a.lease_expires_at_ms,
        cancel_requested: a.cancel_requested,
    }))
}

/// Renew the lease (for the job's lease length from now), optionally recording progress and
/// a checkpoint. The answer tells whether a cancel was asked: then stop and call `fail`.
#[utoipa::path(post, path = "/v1/jobs/{id}/heartbeat", tag = "jobs workers",
    params(("id" = String, Path, description = "Job id")), request_body = HeartbeatBody,
    security(("tenant_key" = [])),
    responses((status = 200, body = HeartbeatView), JobConflicts, CommonErrors))]
async fn job_heartbeat(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<HeartbeatBody>,
) -> ApiResult<Json<HeartbeatView>> {
    let hb = JobHeartbeat {
        id: job_id(&id)?,
        token: body.token,
        progress: body.progress,
        checkpoint: body.checkpoint,
    };
    heartbeat(&state, &caller, hb).await
}

/// Record progress (a heartbeat that also records it; appended to the job's event log).
#[utoipa::path(post, path = "/v1/jobs/{id}/progress", tag = "jobs workers",
    params(("id" = String, Path, description = "Job id")), request_body = ProgressBody,
    security(("tenant_key" = [])),
    responses((status = 200, body = HeartbeatView), JobConflicts, CommonErrors))]
async fn job_progress(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ProgressBody>,
) -> ApiResult<Json<HeartbeatView>> {
    let mut hb = JobHeartbeat::new(job_id(&id)?, body.token);
    hb.progress = Some(Progress {
        percent: body.percent,
        message: body.message,
        data: body.data,
    });
    heartbeat(&state, &caller, hb).await
}

/// Save a checkpoint (a heartbeat that also saves it): a later attempt of the job gets it.
#[utoipa::path(post, path = "/v1/jobs/{id}/checkpoint", tag = "jobs workers",
    params(("id" = String, Path, description = "Job id")), request_body = CheckpointBody,
    security(("tenant_key" = [])),
    responses((status = 200, body = HeartbeatView), JobConflicts, CommonErrors))]
async fn job_checkpoint(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CheckpointBody>,
) -> ApiResult<Json<HeartbeatView>> {
    let mut hb = JobHeartbeat::new(job_id(&id)?, body.token);
    hb.checkpoint = Some(body.checkpoint);
    heartbeat(&state, &caller, hb).await
}

/// Complete the attempt. A stale token is 409 `job-lease-lost` and changes nothing.
#[utoipa::path(post, path = "/v1/jobs/{id}/complete", tag = "jobs workers",
    params(("id" = String, Path, description = "Job id")), request_body = TokenBody,
    security(("tenant_key" = [])),
    responses((status = 200, body = JobView), JobConflicts, CommonErrors))]
async fn job_complete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<Json<JobView>> {
    let req = JobComplete {
        id: job_id(&id)?,
        token: body.token,
    };
    let job = state
        .jobs
        .store
        .job_complete(&caller.tenant, &req)
        .await
        .map_err(refused)?;
    metrics::completed(&job);
    Ok(Json(job.into()))
}

/// Fail the attempt: retry by the job's backoff, at `retry_at_ms`, or never (`give_up`);
/// dead after the last attempt; cancelled when a cancel was asked.
#[utoipa::path(post, path = "/v1/jobs/{id}/fail", tag = "jobs workers",
    params(("id" = String, Path, description = "Job id")), request_body = FailBody,
    security(("tenant_key" = [])),
    responses((status = 200, body = JobView), JobConflicts, CommonErrors))]
async fn job_fail(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<FailBody>,
) -> ApiResult<Json<JobView>> {
    let outcome = body.outcome()?;
    let req = JobFail {
        id: job_id(&id)?,
        token: body.token,
        error: body.error,
        outcome,
    };
    let job = state
        .jobs
        .store
        .job_fail(&caller.tenant, &req)
        .await
        .map_err(refused)?;
    metrics::failed(&job);
    Ok(Json(job.into()))
}

/// Give the lease back without counting the attempt (e.g. on shutdown): the job is due again
/// at once.
#[utoipa::path(post, path = "/v1/jobs/{id}/release", tag = "jobs workers",
    params(("id" = String, Path, description = "Job id")), request_body = TokenBody,
    security(("tenant_key" = [])),
    responses((status = 200, body = JobView), JobConflicts, CommonErrors))]
async fn job_release(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<Json<JobView>> {
    let req = JobRelease {
        id: job_id(&id)?,
        token: body.token,
    };
    let job = state
        .jobs
        .store
        .job_release(&caller.tenant, &req)
        .await
        .map_err(refused)?;
    Ok(Json(job.into()))
}
