//! `/v1/jobs`: durable jobs over HTTP (tenant key): enqueue and manage jobs, and HTTP workers.
//!
//! Every route sees only the calling tenant's jobs: another tenant's job id answers 404 like a
//! missing one. Queues are created on demand (a queue is just a name jobs carry). Workers in
//! any language lease with a long-poll and carry the attempt's fencing token in every call;
//! a stale token is 409 `job-lease-lost`. See docs/jobs.md.

mod dto;
mod manage;
mod rate;
mod worker;

use crate::app::Capability;
use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;
use crate::stores::Stores;
use palisade_core::{Caller, Problem, SystemClock};
use palisade_jobs::{metrics, Job, JobError, JobId, Jobs, Wakeups};
use palisade_store_postgres::{JobWakeups, PgStore};
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response as DocResponse};
use utoipa::IntoResponses;
use utoipa_axum::router::OpenApiRouter;

/// The jobs routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    manage::routes().merge(worker::routes())
}

/// Jobs as the server hosts them: routes, and the rescuer and pruner.
pub const CAPABILITY: Capability = Capability {
    name: "jobs",
    operator_routes: crate::app::none,
    tenant_routes: routes,
    public_routes: crate::app::none,
    maintenance: |s| s.jobs.maintenance(),
};

/// The jobs runtime over the durable store. On PostgreSQL (unless `jobs.listen` is off) a
/// `LISTEN` feeds its wake-ups, so waiting leases and cancels wake on other instances'
/// changes; otherwise only this process's changes wake them and they poll.
pub async fn start(cfg: &Config, stores: &Stores) -> Jobs {
    let wakeups = Wakeups::new();
    let pg = stores.durable.as_any().downcast_ref::<PgStore>();
    if let (Some(pg), true) = (pg, cfg.jobs.listen) {
        JobWakeups::feed(pg, &wakeups).await;
    }
    Jobs::with_wakeups(
        stores.durable.clone(),
        cfg.jobs.clone(),
        SystemClock::shared(),
        wakeups,
    )
}

/// A refused job operation as its problem (a lease loss counted), a store failure as 503/500.
fn refused(e: JobError) -> ApiError {
    if e.is_lease_lost() {
        metrics::lease_lost();
    }
    match e {
        JobError::Store(s) => s.into(),
        other => other.problem().into(),
    }
}

/// The caller's job `id`, checked visible to it ([`Job::visible_to`]): another key's job
/// answers 404 like a missing one. (The owner never changes, so the check holds for the
/// operation that follows.)
async fn visible_job(state: &AppState, caller: &Caller, id: &JobId) -> Result<Job, ApiError> {
    match state.jobs.store.job_get(&caller.tenant, id).await {
        Ok(Some(j)) if j.visible_to(&caller.principal) => Ok(j),
        Ok(_) => Err(Problem::not_found("job").into()),
        Err(e) => Err(refused(e)),
    }
}

/// The job id of a path, or a 400 naming `id`.
fn job_id(path: &str) -> Result<JobId, ApiError> {
    JobId::parse(path).map_err(|e| Problem::invalid(vec![e]).into())
}

/// The longest wait of a lease or cancel: `jobs.max_lease_wait`, and less than the request
/// deadline by a second.
fn max_wait(state: &AppState) -> Duration {
    let deadline = state.config.http.request_timeout;
    let cap = deadline.saturating_sub(Duration::from_secs(1));
    state.config.jobs.max_lease_wait.min(cap)
}

/// 409s of the job routes, with their codes.
struct JobConflicts;

impl IntoResponses for JobConflicts {
    fn responses() -> BTreeMap<String, RefOr<DocResponse>> {
        let schema = RefOr::Ref(Ref::from_schema_name("ProblemDoc"));
        let desc = "Job conflict: `job-lease-lost` (the token is not the job's current lease: \
                    stop working on it), `job-finished` (cancel of a finished job), \
                    `job-not-dead` (retry of a job that is not dead or cancelled), \
                    `job-running` (delete of a running job) or `job-unique-conflict` (a \
                    re-drive would make a second live job of a unique key, or an enqueue's \
                    key is held by a job the calling key may not see)";
        let content = ContentBuilder::new().schema(Some(schema)).build();
        let r = ResponseBuilder::new()
            .description(desc)
            .content(palisade_core::problem::PROBLEM_JSON, content)
            .build();
        [("409".to_owned(), r.into())].into_iter().collect()
    }
}
