//! `/v1/idempotency`: the idempotency capability over HTTP for apps in any language (tenant key).
//!
//! The app asks `begin` before running an operation under a client's `Idempotency-Key`, runs it
//! only on `proceed`, records recovery points between phases, then `complete`s with the
//! response to replay (or `abandon`s when the operation did not run). Entries are scoped by the
//! tenant and a principal: the calling key's id, or `app:<principal>` when the app names one.
//! Every answer about an entry carries `Idempotency-Retention: <seconds>`. See docs/api.md.

mod dto;

use crate::app::Capability;
use crate::config::{Config, IdempotencyStoreKind};
use crate::error::ApiError;
use crate::http::docs::CommonErrors;
use crate::http::extract::ApiJson;
use crate::state::AppState;
use crate::stores::Stores;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use dto::{
    AbandonBody, BeginBody, BeginView, CompleteBody, EntryName, RecoveryPointBody, RecoveryPointDoc,
};
use palisade_core::{Caller, FieldError, Problem};
use palisade_idempotency::body::{REPLAYED, RETENTION};
use palisade_idempotency::{in_flight_problem, mismatch_problem};
use palisade_idempotency::{
    metrics, BeginOutcome, EntryRef, EntryToken, IdempotencyBegin, IdempotencyComplete,
    IdempotencyError, RecoveryPointSet,
};
use palisade_idempotency::{ExpiredSweep, IdempotencyStore};
use std::sync::Arc;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response as DocResponse};
use utoipa::IntoResponses;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The idempotency routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(idempotency_begin))
        .routes(routes!(idempotency_recovery_point))
        .routes(routes!(idempotency_complete))
        .routes(routes!(idempotency_abandon))
}

/// Idempotency as the server hosts it.
pub const CAPABILITY: Capability = Capability {
    name: "idempotency",
    operator_routes: crate::app::none,
    tenant_routes: routes,
    public_routes: crate::app::none,
    maintenance: |s| {
        let every = s.config.idempotency.sweep_interval;
        vec![Arc::new(ExpiredSweep::new(s.idempotency.clone(), every))]
    },
};

/// The idempotency store: the hot store when `idempotency.store = "redis"` (validated to be
/// configured), else the durable store.
pub fn start(cfg: &Config, stores: &Stores) -> Arc<dyn IdempotencyStore> {
    match (cfg.idempotency.store, &stores.hot) {
        (IdempotencyStoreKind::Redis, Some(h)) => h.clone(),
        _ => stores.durable.clone(),
    }
}

fn invalid<const N: usize>(errors: [Option<FieldError>; N]) -> ApiError {
    Problem::invalid(errors.into_iter().flatten().collect()).into()
}

/// A token-checked update's refusal as its problem (404/409), a store failure as 503/500.
fn refused(e: IdempotencyError, op: &'static str) -> ApiError {
    match e {
        IdempotencyError::Store(s) => {
            metrics::store_error(op);
            s.into()
        }
        other => other.problem().into(),
    }
}

/// Adds `Idempotency-Retention: <ttl seconds>`.
fn with_retention(state: &AppState, mut res: Response) -> Response {
    let secs = state.config.idempotency.ttl.as_secs();
    res.headers_mut().insert(RETENTION, HeaderValue::from(secs));
    res
}

/// The entry a token-checked call names, once key, principal and token check out.
fn entry_ref(name: &EntryName<'_>, caller: &Caller, token: &str) -> Result<EntryRef, ApiError> {
    let key = name.key()?;
    match (name.principal(caller), dto::token(token)) {
        (Ok(principal), Ok(())) => Ok(EntryRef {
            principal,
            key,
            token: EntryToken(token.to_owned()),
        }),
        (p, t) => Err(invalid([p.err(), t.err()])),
    }
}

/// 409 and 422 of the idempotency routes.
struct IdempotencyConflicts;

impl IntoResponses for IdempotencyConflicts {
    fn responses() -> std::collections::BTreeMap<String, RefOr<DocResponse>> {
        let doc = |desc: &str| -> RefOr<DocResponse> {
            let schema = RefOr::Ref(Ref::from_schema_name("ProblemDoc"));
            let content = ContentBuilder::new().schema(Some(schema)).build();
            let r = ResponseBuilder::new()
                .description(desc)
                .content(palisade_core::problem::PROBLEM_JSON, content)
                .build();
            r.into()
        };
        [
            (
                "409",
                "`idempotency-key-in-flight` (begin: another attempt holds the entry; \
                 Retry-After says when its lock expires), `idempotency-entry-token-mismatch` \
                 (the token is wrong, or a retry took the entry over after its lock expired) or \
                 `idempotency-entry-completed` (already completed)",
            ),
            (
                "422",
                "`idempotency-key-reused`: the key was used with another request",
            ),
        ]
        .into_iter()
        .map(|(s, d)| (s.to_owned(), doc(d)))
        .collect()
    }
}

/// Begin an operation under an idempotency key.
///
/// Answers `proceed` (run the operation; resume from `recovery_point` when present), `replay`
/// (it completed before: answer with the stored response), 409 `idempotency-key-in-flight`
/// with Retry-After, or 422 `idempotency-key-reused`. A malformed key answers 400 with
/// `idempotency-key-missing`, `-empty`, `-too-long` or `-invalid`.
#[utoipa::path(post, path = "/v1/idempotency/begin", tag = "idempotency",
    request_body = BeginBody, security(("tenant_key" = [])),
    responses((status = 200, body = BeginView, description = "Proceed or replay",
               headers(("Idempotency-Retention" = u64, description = "Seconds a completed response is replayed"))),
              IdempotencyConflicts, CommonErrors))]
async fn idempotency_begin(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<BeginBody>,
) -> Result<Response, ApiError> {
    let name = body.entry_name();
    let key = name.key()?;
    let principal = name.principal(&caller);
    let fingerprint = body.fingerprint(&caller, principal.as_deref().unwrap_or_default());
    let (principal, fingerprint) = match (principal, fingerprint) {
        (Ok(p), Ok(f)) => (p, f),
        (p, f) => return Err(invalid([p.err(), f.err()])),
    };
    let settings = &state.config.idempotency;
    let req = IdempotencyBegin {
        principal,
        key,
        fingerprint,
        lock_ttl: settings.lock_timeout,
        retention: settings.ttl,
    };
    let outcome = state
        .idempotency
        .idempotency_begin(&caller.tenant, &req)
        .await
        .map_err(|e| refused(e.into(), "begin"))?;
    metrics::begin(&outcome);
    let view = match outcome {
        BeginOutcome::InFlight { lock_remaining_ms } => {
            return Err(in_flight_problem(lock_remaining_ms).into())
        }
        BeginOutcome::Mismatch => return Err(mismatch_problem().into()),
        BeginOutcome::Replay(r) => {
            let view = BeginView::Replay { response: r.into() };
            let mut res = Json(view).into_response();
            res.headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
            return Ok(with_retention(&state, res));
        }
        BeginOutcome::Proceed {
            token,
            recovery_point,
            attempt,
        } => BeginView::Proceed {
            entry_token: token.0,
            attempt,
            recovery_point: recovery_point.map(|p| RecoveryPointDoc {
                name: p.name,
                data: p.data,
            }),
        },
    };
    Ok(with_retention(&state, Json(view).into_response()))
}

/// Record a recovery point between phases of the operation; extends the lock by
/// `idempotency.lock_timeout` from now.
///
/// 404 `idempotency-entry-not-found` when no live entry has this key (never begun, abandoned
/// or expired); 409 when the token no longer holds it.
#[utoipa::path(post, path = "/v1/idempotency/recovery-point", tag = "idempotency",
    request_body = RecoveryPointBody, security(("tenant_key" = [])),
    responses((status = 204, description = "Recorded"), IdempotencyConflicts, CommonErrors))]
async fn idempotency_recovery_point(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<RecoveryPointBody>,
) -> Result<StatusCode, ApiError> {
    let entry = entry_ref(&body.entry_name(), &caller, &body.entry_token)?;
    let point = body.point().map_err(|e| invalid([Some(e)]))?;
    let req = RecoveryPointSet {
        entry,
        point,
        lock_ttl: state.config.idempotency.lock_timeout,
    };
    state
        .idempotency
        .recovery_point_set(&caller.tenant, &req)
        .await
        .map_err(|e| refused(e, "recovery_point"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Complete the operation: store its response (status, allow-listed headers, body) for
/// replay during `idempotency.ttl`.
///
/// Store the operation's result whatever its status, 4xx and 5xx included; if the operation
/// did not run (validation failed before it), abandon instead. 404
/// `idempotency-entry-not-found` when no live entry has this key (never begun, abandoned or
/// expired); 409 `idempotency-entry-token-mismatch` or `idempotency-entry-completed`.
#[utoipa::path(post, path = "/v1/idempotency/complete", tag = "idempotency",
    request_body = CompleteBody, security(("tenant_key" = [])),
    responses((status = 204, description = "Stored",
               headers(("Idempotency-Retention" = u64, description = "Seconds the response is replayed"))),
              IdempotencyConflicts, CommonErrors))]
async fn idempotency_complete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<CompleteBody>,
) -> Result<Response, ApiError> {
    let entry = entry_ref(&body.entry_name(), &caller, &body.entry_token)?;
    let settings = &state.config.idempotency;
    let response = body
        .response
        .stored(&settings.layer_config())
        .map_err(Problem::invalid)?;
    let req = IdempotencyComplete {
        entry,
        response,
        ttl: settings.ttl,
    };
    state
        .idempotency
        .complete(&caller.tenant, &req)
        .await
        .map_err(|e| refused(e, "complete"))?;
    Ok(with_retention(
        &state,
        StatusCode::NO_CONTENT.into_response(),
    ))
}

/// Abandon the entry because the operation did not run: the key may be used afresh.
///
/// 404 `idempotency-entry-not-found` when no live entry has this key; 409 when the token no
/// longer holds it or the entry is completed.
#[utoipa::path(post, path = "/v1/idempotency/abandon", tag = "idempotency",
    request_body = AbandonBody, security(("tenant_key" = [])),
    responses((status = 204, description = "Deleted"), IdempotencyConflicts, CommonErrors))]
async fn idempotency_abandon(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<AbandonBody>,
) -> Result<StatusCode, ApiError> {
    let entry = entry_ref(&body.entry_name(), &caller, &body.entry_token)?;
    state
        .idempotency
        .abandon(&caller.tenant, &entry)
        .await
        .map_err(|e| refused(e, "abandon"))?;
    Ok(StatusCode::NO_CONTENT)
}
