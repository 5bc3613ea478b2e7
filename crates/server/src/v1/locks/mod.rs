//! `/v1/locks`: the locks capability over HTTP for apps in any language (tenant key).
//!
//! Every answer that concerns a lease carries its fencing token. Bodies are checked field by
//! field so a 400 lists every invalid field at once; lock names come from the (percent-decoded)
//! path. Conflicts answer 409 with the [`LockError::code`]: `lock-held`, `lock-not-holder`,
//! `lock-expired`. A `lock-held` answer tells when the current lease expires (member
//! `expires_at_ms` and `Retry-After`) but not who holds it nor its token: ask `GET` for that.

use crate::app::Capability;
use crate::error::ApiError;
use crate::http::docs::CommonErrors;
use crate::http::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::stores::Stores;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use palisade_core::{Caller, Clock, FieldError, Problem};
use palisade_locks::MAX_WAIT;
use palisade_locks::{
    Acquired, FencingToken, HolderId, Lease, LockAcquire, LockError, LockName, LockRelease,
    LockRenew, MaxWait, Ttl,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response as DocResponse};
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The locks routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lock_acquire))
        .routes(routes!(lock_renew))
        .routes(routes!(lock_release))
        .routes(routes!(lock_inspect))
}

/// Locks as the server hosts them.
pub const CAPABILITY: Capability = Capability {
    name: "locks",
    operator_routes: crate::app::none,
    tenant_routes: routes,
    public_routes: crate::app::none,
    maintenance: |_| Vec::new(),
};

/// The process's locks over the hot store when configured, else the durable store.
pub fn start(stores: &Stores) -> palisade_locks::Locks {
    let store: Arc<dyn palisade_locks::LockStore> = match &stores.hot {
        Some(h) => h.clone(),
        None => stores.durable.clone(),
    };
    palisade_locks::Locks::new(store)
}

/// Input of acquire.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcquireBody {
    /// Who asks: your id for the holder, e.g. a worker id (1..=200 characters, no control
    /// characters). Not a secret.
    #[serde(default)]
    #[schema(value_type = String)]
    pub holder: Value,
    /// Lease duration in milliseconds, 100..=3600000.
    #[serde(default)]
    #[schema(value_type = i64)]
    pub ttl_ms: Value,
    /// How long to wait while another holder has the lock, in milliseconds: 0 (default, try
    /// once) up to 60000 or the server's request timeout minus 1 s, whichever is smaller.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub wait_ms: Value,
}

/// Input of renew: the holder's proof and the new TTL, counted from now.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewBody {
    /// The holder the lease was granted to.
    #[serde(default)]
    #[schema(value_type = String)]
    pub holder: Value,
    /// The lease's fencing token.
    #[serde(default)]
    #[schema(value_type = u64)]
    pub token: Value,
    /// New lease duration in milliseconds from now, 100..=3600000.
    #[serde(default)]
    #[schema(value_type = i64)]
    pub ttl_ms: Value,
}

/// Input of release: the holder's proof.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    /// The holder the lease was granted to.
    #[serde(default)]
    #[schema(value_type = String)]
    pub holder: Value,
    /// The lease's fencing token.
    #[serde(default)]
    #[schema(value_type = u64)]
    pub token: Value,
}

impl AcquireBody {
    /// The request for the lock named by `path` and its wait (up to `max_wait`), or a 400
    /// naming every invalid field.
    fn parse(&self, path: &str, max_wait: Duration) -> Result<(LockAcquire, MaxWait), Failure> {
        let parsed = (
            name(path),
            holder(&self.holder),
            ttl(&self.ttl_ms),
            wait(&self.wait_ms, max_wait),
        );
        match parsed {
            (Ok(name), Ok(holder), Ok(ttl), Ok(w)) => Ok((LockAcquire { name, holder, ttl }, w)),
            (n, h, t, w) => Err(invalid([n.err(), h.err(), t.err(), w.err()])),
        }
    }
}

impl RenewBody {
    /// The request for the lock named by `path`, or a 400 naming every invalid field.
    fn parse(&self, path: &str) -> Result<LockRenew, Failure> {
        let parsed = (
            name(path),
            holder(&self.holder),
            token(&self.token),
            ttl(&self.ttl_ms),
        );
        match parsed {
            (Ok(name), Ok(holder), Ok(token), Ok(ttl)) => Ok(LockRenew {
                name,
                holder,
                token,
                ttl,
            }),
            (n, h, k, t) => Err(invalid([n.err(), h.err(), k.err(), t.err()])),
        }
    }
}

impl ReleaseBody {
    /// The request for the lock named by `path`, or a 400 naming every invalid field.
    fn parse(&self, path: &str) -> Result<LockRelease, Failure> {
        match (name(path), holder(&self.holder), token(&self.token)) {
            (Ok(name), Ok(holder), Ok(token)) => Ok(LockRelease {
                name,
                holder,
                token,
            }),
            (n, h, k) => Err(invalid([n.err(), h.err(), k.err()])),
        }
    }
}

/// A live lease.
#[derive(Serialize, ToSchema)]
#[schema(as = LockLeaseView)]
pub struct LeaseView {
    /// The lock's name.
    pub name: String,
    /// Its holder.
    pub holder: String,
    /// The grant's fencing token: strictly greater than every earlier grant's of this name.
    /// Pass it to the resource you protect and have it refuse lower tokens.
    pub token: u64,
    /// When the lease ends unless renewed (ms since the epoch, store clock).
    pub expires_at_ms: i64,
}

impl From<Lease> for LeaseView {
    fn from(l: Lease) -> Self {
        Self {
            name: l.name.to_string(),
            holder: l.holder.to_string(),
            token: l.token.0,
            expires_at_ms: l.expires_at_ms,
        }
    }
}

/// A lock operation's failure: a lock conflict or any other API error.
enum Failure {
    Lock(LockError),
    Api(ApiError),
    Response(Box<Response>),
}

impl From<LockError> for Failure {
    fn from(e: LockError) -> Self {
        Self::Lock(e)
    }
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Self {
        Self::Api(p.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::Lock(e) => lock_response(e),
            Self::Response(r) => *r,
        }
    }
}

type LockResult<T> = Result<T, Failure>;

fn conflict(e: &LockError, detail: &str) -> Problem {
    Problem::new(StatusCode::CONFLICT, e.code(), "Lock conflict", detail)
}

/// Renders a [`LockError`] as a problem: 400, 409 with the error's code, or the store's 503/500.
fn lock_response(e: LockError) -> Response {
    match e {
        LockError::Invalid(errors) => Problem::invalid(errors).into_response(),
        LockError::Held(ref lease) => held_response(&e, lease, None),
        LockError::NotHolder => conflict(
            &e,
            "the holder and token do not match the lock's current lease (released or taken over)",
        )
        .into_response(),
        LockError::Expired => conflict(
            &e,
            "the lease expired before this request; acquire the lock again for a new token",
        )
        .into_response(),
        LockError::Store(s) => ApiError::from(s).into_response(),
        other => {
            tracing::error!(error = %other, "unexpected lock error");
            Problem::internal().into_response()
        }
    }
}

/// 409 `lock-held` with the current lease's expiry (not its holder or token); `asker` is the
/// acquiring holder, told apart when it already holds the lock.
fn held_response(e: &LockError, lease: &Lease, asker: Option<&HolderId>) -> Response {
    let now = palisade_core::SystemClock.now_ms();
    let secs = ((lease.expires_at_ms - now).max(0) as u64)
        .div_ceil(1000)
        .max(1);
    let detail = if asker == Some(&lease.holder) {
        "this holder already has the lock (acquire is not re-entrant): renew it with its token"
    } else {
        "another holder has the lock; retry after it expires or is released"
    };
    let p = conflict(e, detail).with_retry_after(secs);
    let mut body = p.body(palisade_core::request_id::current().as_deref());
    body["expires_at_ms"] = lease.expires_at_ms.into();
    let mut res = (p.status, body.to_string()).into_response();
    let h = res.headers_mut();
    let ct = HeaderValue::from_static(palisade_core::problem::PROBLEM_JSON);
    h.insert(header::CONTENT_TYPE, ct);
    h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    res
}

fn invalid<const N: usize>(errors: [Option<FieldError>; N]) -> Failure {
    Problem::invalid(errors.into_iter().flatten().collect()).into()
}

fn name(path: &str) -> Result<LockName, FieldError> {
    LockName::parse(path)
}

fn holder(v: &Value) -> Result<HolderId, FieldError> {
    HolderId::parse(v.as_str().unwrap_or_default())
}

/// A whole number of milliseconds, or a 400 for `field` that says so (absent, text, fraction
/// or beyond 64 bits) and names its `range`.
fn millis(v: &Value, field: &'static str, range: &str) -> Result<i64, FieldError> {
    v.as_i64().ok_or_else(|| {
        let what = if v.is_null() { "required" } else { "must be" };
        FieldError::new(
            field,
            format!("{what} a whole number of milliseconds, {range}"),
        )
    })
}

fn ttl(v: &Value) -> Result<Ttl, FieldError> {
    Ttl::from_ms(millis(v, "ttl_ms", "from 100 to 3600000 (100 ms to 1 h)")?)
}

fn token(v: &Value) -> Result<FencingToken, FieldError> {
    v.as_u64().map(FencingToken).ok_or_else(|| match v {
        Value::Null => FieldError::new("token", "required: the fencing token the acquire answered"),
        _ => FieldError::new(
            "token",
            "must be the fencing token the acquire answered: an integer from 0 to 2^64-1",
        ),
    })
}

/// The longest wait over HTTP: 60 s, or less so that the answer beats the request deadline.
fn max_wait(state: &AppState) -> Duration {
    let deadline = state.config.http.request_timeout;
    MAX_WAIT.min(deadline.saturating_sub(Duration::from_secs(1)))
}

fn wait(v: &Value, limit: Duration) -> Result<MaxWait, FieldError> {
    let range = format!("from 0 to {}", limit.as_millis());
    let ms = if v.is_null() {
        0
    } else {
        millis(v, "wait_ms", &range)?
    };
    let w = MaxWait::from_ms(ms)?;
    if w.as_duration() <= limit {
        return Ok(w);
    }
    let limit = limit.as_millis();
    let msg = format!(
        "must be between 0 and {limit} milliseconds (this server's request timeout minus 1 s)"
    );
    Err(FieldError::new("wait_ms", msg))
}

/// 409 with the lock's problem code.
struct LockConflicts;

impl IntoResponses for LockConflicts {
    fn responses() -> std::collections::BTreeMap<String, RefOr<DocResponse>> {
        let schema = RefOr::Ref(Ref::from_schema_name("ProblemDoc"));
        let desc = "Lock conflict: `lock-held` (with `expires_at_ms` and Retry-After), \
                    `lock-not-holder` (wrong holder or token, released, taken over) or \
                    `lock-expired` (the caller's lease ran out)";
        let content = ContentBuilder::new().schema(Some(schema)).build();
        let r = ResponseBuilder::new()
            .description(desc)
            .content(palisade_core::problem::PROBLEM_JSON, content)
            .build();
        [("409".to_owned(), r.into())].into_iter().collect()
    }
}

/// Acquire a lock, waiting up to `wait_ms` while another holder has it.
///
/// Answers the new lease with its fencing token. Acquire is not re-entrant: a holder asking
/// again for a lock it holds gets `lock-held`.
#[utoipa::path(post, path = "/v1/locks/{name}/acquire", tag = "locks",
    params(("name" = String, Path, description = "Lock name (percent-encoded; 1..=200 characters)")),
    request_body = AcquireBody, security(("tenant_key" = [])),
    responses((status = 200, body = LeaseView, description = "Granted"),
              LockConflicts, CommonErrors))]
async fn lock_acquire(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<AcquireBody>,
) -> LockResult<Json<LeaseView>> {
    let (req, wait) = body.parse(&path, max_wait(&state))?;
    match state.locks.acquire(&caller.tenant, &req, wait).await? {
        Acquired::Granted { lease, .. } => Ok(Json(lease.into())),
        Acquired::Held(lease) => {
            let e = LockError::Held(Box::new(lease.clone()));
            let res = held_response(&e, &lease, Some(&req.holder));
            Err(Failure::Response(Box::new(res)))
        }
    }
}

/// Renew a lease for `ttl_ms` from now (only its holder, only before it expires).
#[utoipa::path(post, path = "/v1/locks/{name}/renew", tag = "locks",
    params(("name" = String, Path, description = "Lock name (percent-encoded)")),
    request_body = RenewBody, security(("tenant_key" = [])),
    responses((status = 200, body = LeaseView, description = "Renewed; same token"),
              LockConflicts, CommonErrors))]
async fn lock_renew(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<RenewBody>,
) -> LockResult<Json<LeaseView>> {
    let req = body.parse(&path)?;
    Ok(Json(state.locks.renew(&caller.tenant, &req).await?.into()))
}

/// Release a lease (only its holder); the next grant gets a greater token.
#[utoipa::path(post, path = "/v1/locks/{name}/release", tag = "locks",
    params(("name" = String, Path, description = "Lock name (percent-encoded)")),
    request_body = ReleaseBody, security(("tenant_key" = [])),
    responses((status = 204, description = "Released"), LockConflicts, CommonErrors))]
async fn lock_release(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
    ApiJson(body): ApiJson<ReleaseBody>,
) -> LockResult<StatusCode> {
    let req = body.parse(&path)?;
    state.locks.release(&caller.tenant, &req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The live lease of a lock: holder, token, expiry. 404 when no one holds it (never held,
/// released or expired), exactly as for a name of another tenant.
#[utoipa::path(get, path = "/v1/locks/{name}", tag = "locks",
    params(("name" = String, Path, description = "Lock name (percent-encoded)")),
    security(("tenant_key" = [])),
    responses((status = 200, body = LeaseView), CommonErrors))]
async fn lock_inspect(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(path): ApiPath<String>,
) -> LockResult<Json<LeaseView>> {
    let name = name(&path).map_err(|e| Problem::invalid(vec![e]))?;
    match state.locks.inspect(&caller.tenant, &name).await? {
        Some(lease) => Ok(Json(lease.into())),
        None => Err(Problem::not_found("lock").into()),
    }
}
