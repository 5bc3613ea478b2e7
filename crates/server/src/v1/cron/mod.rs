//! `/v1/cron`: a tenant's cron schedules over HTTP (create, replace, get, list, delete).
//!
//! Bodies are checked field by field so a 400 lists every invalid field at once; a bad
//! expression names the cron field and character where it fails, never the value. Another
//! tenant's schedule is a 404 like a missing one. The schedules fire through the `cron`
//! maintenance task of every instance (`palisade_jobs::cron`), each slot once.

mod dto;

use crate::app::Capability;
use crate::error::{ApiError, ApiResult};
use crate::http::docs::CommonErrors;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, PageQuery};
use crate::state::AppState;
use crate::stores::Stores;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use dto::{ScheduleBody, ScheduleList, ScheduleView};
use palisade_core::{Caller, FastClock, Maintenance, Problem, SharedClock};
use palisade_jobs::cron::{CronError, CronStore, CronTask, ScheduleName};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The cron routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(schedule_create, schedule_list))
        .routes(routes!(schedule_get, schedule_update, schedule_delete))
}

/// Cron as the server hosts it.
pub const CAPABILITY: Capability = Capability {
    name: "cron",
    operator_routes: crate::app::none,
    tenant_routes: routes,
    public_routes: crate::app::none,
    maintenance,
};

fn maintenance(state: &AppState) -> Vec<Arc<dyn Maintenance>> {
    let cfg = &state.config.cron;
    if !cfg.enabled {
        return Vec::new();
    }
    let clock = match test_clock() {
        Ok(Some(fast)) => {
            tracing::warn!("cron runs on the fast test clock of {TEST_CLOCK}");
            Arc::new(fast) as SharedClock
        }
        _ => state.clock.clone(),
    };
    let task = CronTask::new(state.cron.clone(), cfg, clock);
    vec![Arc::new(task)]
}

/// The environment variable of cron's fast test clock, `<origin_ms>x<rate>`: from the origin
/// on, cron's time runs `rate` times faster (so a test sees 1,000 slots of a seconds schedule
/// in 10 s). Refused in production.
pub const TEST_CLOCK: &str = "PALISADE_TEST_CRON_CLOCK";

/// Cron's fast test clock when [`TEST_CLOCK`] is set; an error when it is malformed.
fn test_clock() -> Result<Option<FastClock>, String> {
    match std::env::var(TEST_CLOCK) {
        Err(_) => Ok(None),
        Ok(v) => FastClock::parse(&v).map(Some).ok_or_else(|| {
            format!("{TEST_CLOCK}: must be <origin_ms>x<rate> with a rate from 1 to 1000")
        }),
    }
}

/// The schedules in the durable store, with the schedules the configuration declares
/// created or updated.
pub async fn start(
    cfg: &crate::config::Config,
    stores: &Stores,
) -> Result<Arc<dyn CronStore>, String> {
    if test_clock()?.is_some() && cfg.env == crate::config::Environment::Production {
        return Err(format!(
            "{TEST_CLOCK} is for tests: refused with env = production"
        ));
    }
    let store: Arc<dyn CronStore> = stores.durable.clone();
    palisade_jobs::cron::sync_declared(store.as_ref(), &cfg.cron)
        .await
        .map_err(|e| format!("cron: declared schedules: {e}"))?;
    Ok(store)
}

/// A cron error as the API answers it (store detail only in the log).
fn api(e: CronError) -> ApiError {
    match e {
        CronError::Store(s) => ApiError::Store(s),
        other => ApiError::Problem(other.problem()),
    }
}

fn path_name(path: &str) -> Result<ScheduleName, ApiError> {
    ScheduleName::parse(path).map_err(|e| Problem::invalid(vec![e]).into())
}

/// Create a schedule: from its next slot on, each slot enqueues one job.
#[utoipa::path(post, path = "/v1/cron/schedules", tag = "cron",
    request_body = ScheduleBody, security(("tenant_key" = [])),
    responses((status = 201, body = ScheduleView, description = "Created"),
              (status = 409, description = "`cron-schedule-exists`: the name is taken"),
              CommonErrors))]
async fn schedule_create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<(StatusCode, Json<ScheduleView>)> {
    let (name, spec) = body.create()?;
    let s = state
        .cron
        .schedule_create(&caller.tenant, &name, spec)
        .await
        .map_err(api)?;
    Ok((StatusCode::CREATED, Json(s.into())))
}

/// Replace what a schedule does. A new expression or time zone, or enabling a paused
/// schedule, restarts it now: slots before count as neither fired nor missed.
#[utoipa::path(put, path = "/v1/cron/schedules/{name}", tag = "cron",
    params(("name" = String, Path, description = "Schedule name")),
    request_body = ScheduleBody, security(("tenant_key" = [])),
    responses((status = 200, body = ScheduleView), CommonErrors))]
async fn schedule_update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<ScheduleBody>,
) -> ApiResult<Json<ScheduleView>> {
    let (name, spec) = body.replace(&path)?;
    let s = state
        .cron
        .schedule_update(&caller.tenant, &name, spec)
        .await
        .map_err(api)?;
    Ok(Json(s.into()))
}

/// One schedule.
#[utoipa::path(get, path = "/v1/cron/schedules/{name}", tag = "cron",
    params(("name" = String, Path, description = "Schedule name")),
    security(("tenant_key" = [])),
    responses((status = 200, body = ScheduleView), CommonErrors))]
async fn schedule_get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<Json<ScheduleView>> {
    let name = path_name(&path)?;
    match state
        .cron
        .schedule_get(&caller.tenant, &name)
        .await
        .map_err(api)?
    {
        Some(s) => Ok(Json(s.into())),
        None => Err(api(CronError::NotFound)),
    }
}

/// The tenant's schedules by name, cursor-paginated.
#[utoipa::path(get, path = "/v1/cron/schedules", tag = "cron",
    params(PageQuery), security(("tenant_key" = [])),
    responses((status = 200, body = ScheduleList), CommonErrors))]
async fn schedule_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<ScheduleList>> {
    let page = q.page()?;
    let p = state
        .cron
        .schedule_list(&caller.tenant, &page)
        .await
        .map_err(api)?;
    Ok(Json(ScheduleList {
        items: p.items.into_iter().map(Into::into).collect(),
        next: p.next.as_deref().map(palisade_core::page::cursor_encode),
    }))
}

/// Delete a schedule; the jobs it enqueued stay.
#[utoipa::path(delete, path = "/v1/cron/schedules/{name}", tag = "cron",
    params(("name" = String, Path, description = "Schedule name")),
    security(("tenant_key" = [])),
    responses((status = 204, description = "Deleted"), CommonErrors))]
async fn schedule_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let name = path_name(&path)?;
    match state
        .cron
        .schedule_delete(&caller.tenant, &name)
        .await
        .map_err(api)?
    {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(api(CronError::NotFound)),
    }
}
