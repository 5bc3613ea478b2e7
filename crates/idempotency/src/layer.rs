//! The tower layer that makes axum routes idempotent under an `Idempotency-Key`.

use crate::body::{self, Capped};
use crate::config::IdempotencyConfig;
use crate::context::{IdempotencyContext, NotExecuted};
use crate::error::{in_flight_problem, mismatch_problem, IdempotencyError};
use crate::fingerprint::{Fingerprint, FingerprintInput};
use crate::key::{IdempotencyKey, KeyError, HEADER};
use crate::model::{BeginOutcome, EntryRef, IdempotencyBegin, IdempotencyComplete};
use crate::store::IdempotencyStore;
use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::request::Parts;
use http::{Request, StatusCode};
use palisade_core::{Caller, Problem};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service, ServiceExt};

/// Applies idempotency keys to the wrapped service. Must sit behind authentication: it reads
/// the [`Caller`] request extension (absent → 401 `unauthenticated`). On an axum `Router`,
/// prefer `route_layer` so that unmatched paths (404) are not claimed and stored.
#[derive(Clone, Debug)]
pub struct IdempotencyLayer {
    store: Arc<dyn IdempotencyStore>,
    cfg: Arc<IdempotencyConfig>,
}

impl IdempotencyLayer {
    /// A layer over `store` with `cfg`.
    pub fn new(store: Arc<dyn IdempotencyStore>, cfg: IdempotencyConfig) -> Self {
        Self {
            store,
            cfg: Arc::new(cfg),
        }
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = IdempotencyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IdempotencyService {
            inner,
            store: self.store.clone(),
            cfg: self.cfg.clone(),
        }
    }
}

/// The service [`IdempotencyLayer`] builds.
#[derive(Clone, Debug)]
pub struct IdempotencyService<S> {
    inner: S,
    store: Arc<dyn IdempotencyStore>,
    cfg: Arc<IdempotencyConfig>,
}

impl<S> Service<Request<Body>> for IdempotencyService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if !self.cfg.methods.contains(req.method()) {
            return Box::pin(self.inner.call(req));
        }
        let clone = self.inner.clone();
        let run = Run {
            inner: std::mem::replace(&mut self.inner, clone),
            store: self.store.clone(),
            cfg: self.cfg.clone(),
        };
        Box::pin(run.handle(req))
    }
}

/// One keyed request's journey.
struct Run<S> {
    inner: S,
    store: Arc<dyn IdempotencyStore>,
    cfg: Arc<IdempotencyConfig>,
}

/// A request that passed the checks.
struct Prepared {
    caller: Caller,
    key: IdempotencyKey,
    body: bytes::Bytes,
    fingerprint: Fingerprint,
}

fn unauthenticated() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Unauthenticated",
        "the request carries no authenticated caller",
    )
}

fn key_of(parts: &Parts) -> Result<IdempotencyKey, KeyError> {
    let mut values = parts.headers.get_all(HEADER).iter();
    let first = values.next().ok_or(KeyError::Missing)?;
    if values.next().is_some() {
        return Err(KeyError::Invalid);
    }
    IdempotencyKey::parse_header(first.as_bytes())
}

impl<S> Run<S>
where
    S: Service<Request<Body>, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    async fn handle(self, req: Request<Body>) -> Result<Response, S::Error> {
        let (parts, body) = req.into_parts();
        let prep = match prepare(&self.cfg, &parts, body).await {
            Ok(p) => p,
            Err(problem) => return Ok(problem.into_response()),
        };
        let begin = IdempotencyBegin {
            principal: prep.caller.principal.clone(),
            key: prep.key.clone(),
            fingerprint: prep.fingerprint.clone(),
            lock_ttl: self.cfg.lock_ttl,
            retention: self.cfg.ttl,
        };
        let outcome = match self
            .store
            .idempotency_begin(&prep.caller.tenant, &begin)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(tenant = %prep.caller.tenant, error = %e, "idempotency begin failed");
                crate::metrics::store_error("begin");
                return Ok(self.unavailable());
            }
        };
        crate::metrics::begin(&outcome);
        match outcome {
            BeginOutcome::InFlight { lock_remaining_ms } => {
                Ok(in_flight_problem(lock_remaining_ms).into_response())
            }
            BeginOutcome::Mismatch => Ok(mismatch_problem().into_response()),
            BeginOutcome::Replay(r) => Ok(body::replay(r, &self.cfg)),
            BeginOutcome::Proceed {
                token,
                recovery_point,
                attempt,
            } => {
                let ctx = IdempotencyContext {
                    store: self.store.clone(),
                    tenant: prep.caller.tenant.clone(),
                    entry: EntryRef {
                        principal: prep.caller.principal.clone(),
                        key: prep.key.clone(),
                        token,
                    },
                    recovery_point,
                    attempt,
                    lock_ttl: self.cfg.lock_ttl,
                };
                self.proceed(parts, prep.body, ctx).await
            }
        }
    }

    fn unavailable(&self) -> Response {
        Problem::unavailable(self.cfg.store_retry_after_secs).into_response()
    }

    /// Runs the operation, then stores its response or abandons the entry.
    async fn proceed(
        self,
        mut parts: Parts,
        body: bytes::Bytes,
        ctx: IdempotencyContext,
    ) -> Result<Response, S::Error> {
        parts.extensions.insert(ctx.clone());
        let req = Request::from_parts(parts, Body::from(body));
        let res = match self.inner.oneshot(req).await {
            Ok(r) => r,
            Err(e) => {
                abandon(&ctx).await;
                return Err(e);
            }
        };
        if res.extensions().get::<NotExecuted>().is_some() {
            abandon(&ctx).await;
            return Ok(res);
        }
        let (rparts, rbody) = res.into_parts();
        let bytes = match body::read_response(rbody, self.cfg.max_stored_response).await {
            Ok(Capped::Full(b)) => b,
            Ok(Capped::TooBig(b)) => {
                abandon(&ctx).await;
                return Ok(Response::from_parts(rparts, b));
            }
            Err(e) => {
                // The operation ran but its response broke: keep the entry locked so a retry
                // after the lock deadline resumes from the last recovery point.
                tracing::warn!(error = %e, "response body failed; idempotency entry left in flight");
                return Ok(Problem::unavailable(self.cfg.lock_ttl.as_secs()).into_response());
            }
        };
        let code = body::problem_code(&rparts.headers, &bytes);
        if code.is_some_and(|c| self.cfg.not_executed_codes.contains(&c)) {
            abandon(&ctx).await;
            return Ok(Response::from_parts(rparts, Body::from(bytes)));
        }
        let req = IdempotencyComplete {
            entry: ctx.entry.clone(),
            response: body::stored(rparts.status, &rparts.headers, &bytes, &self.cfg),
            ttl: self.cfg.ttl,
        };
        if let Err(e) = ctx.store.complete(&ctx.tenant, &req).await {
            // The operation ran; its response goes out whatever the store says.
            tracing::warn!(tenant = %ctx.tenant, error = %e, "idempotency complete failed");
            crate::metrics::store_error("complete");
        }
        let res = Response::from_parts(rparts, Body::from(bytes));
        Ok(body::with_retention(res, &self.cfg))
    }
}

/// Caller, key and capped body, or the problem that answers the request.
async fn prepare(cfg: &IdempotencyConfig, parts: &Parts, body: Body) -> Result<Prepared, Problem> {
    let caller = parts
        .extensions
        .get::<Caller>()
        .cloned()
        .ok_or_else(unauthenticated)?;
    let key = key_of(parts).map_err(|e| IdempotencyError::Key(e).problem())?;
    let body = body::read_request(&parts.headers, body, cfg.max_request_body).await?;
    let route = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |pq| pq.as_str());
    let fingerprint = cfg.fingerprint.fingerprint(&FingerprintInput {
        method: parts.method.as_str(),
        route,
        tenant: caller.tenant.as_str(),
        principal: &caller.principal,
        body: &body,
    });
    Ok(Prepared {
        caller,
        key,
        body,
        fingerprint,
    })
}

async fn abandon(ctx: &IdempotencyContext) {
    if let Err(e) = ctx.store.abandon(&ctx.tenant, &ctx.entry).await {
        tracing::warn!(tenant = %ctx.tenant, error = %e, "idempotency abandon failed");
        crate::metrics::store_error("abandon");
    }
}
