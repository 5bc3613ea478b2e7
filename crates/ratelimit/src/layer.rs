//! A tower layer for axum apps: checks every request against policies, answers 429
//! `quota-exceeded` problems, and sets the `RateLimit` headers on every response.

use crate::decision::{Check, Decision};
use crate::error::RateLimitError;
use crate::headers::{self, HeaderEntry};
use crate::key::{build_key, KeyContext, MAX_KEY_BYTES};
use crate::limiter::RateLimiter;
use crate::policy::Policy;
use crate::runtime::{RateLimits, Resolved};
use axum::extract::{ConnectInfo, MatchedPath};
use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use palisade_core::{Caller, FieldError, Problem, TenantId};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Where the layer's policies come from.
#[derive(Debug)]
enum Source {
    /// Fixed policies, the same for every tenant.
    Fixed(Vec<Policy>),
    /// Policies named in a [`RateLimits`] runtime, resolved per request: a tenant's own
    /// policy of that name and its overrides apply, kept current from the change feed.
    Runtime {
        rt: Arc<RateLimits>,
        names: Vec<String>,
    },
}

#[derive(Debug)]
struct Shared {
    limiter: RateLimiter,
    source: Source,
    anonymous: TenantId,
}

/// Applies policies to every request (at most [`crate::MAX_CHECKS`], decided together).
///
/// Tenant and principal come from the [`Caller`] extension; requests without one are counted
/// under the `anonymous` tenant. The client IP is the peer address (`ConnectInfo<SocketAddr>`);
/// put a trusted-proxy layer in front to rewrite it. Keys over 512 bytes are hashed.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    shared: Arc<Shared>,
}

impl RateLimitLayer {
    /// A layer deciding fixed `policies` with `limiter`. Fails with
    /// [`RateLimitError::Invalid`] naming each invalid policy field
    /// (`policies[i].<field>`), or `policies` when more than 16 are given.
    pub fn new(limiter: RateLimiter, policies: Vec<Policy>) -> Result<Self, RateLimitError> {
        let mut errors = count_errors(policies.len());
        for (i, p) in policies.iter().enumerate() {
            if let Err(fields) = p.validate() {
                errors.extend(fields.into_iter().map(|f| FieldError {
                    field: format!("policies[{i}].{}", f.field),
                    ..f
                }));
            }
        }
        match errors.is_empty() {
            true => Ok(Self::build(limiter, Source::Fixed(policies))),
            false => Err(RateLimitError::Invalid(errors)),
        }
    }

    /// A layer deciding the policies `names` of the runtime `rt` with its limiter: per request,
    /// the tenant's own policy of a name shadows the configured one and the tenant's overrides
    /// apply, as in Palisade's HTTP API. Each name must be a configured policy of `rt` (so
    /// every tenant has it): else [`RateLimitError::UnknownPolicy`].
    pub fn from_runtime(rt: Arc<RateLimits>, names: Vec<String>) -> Result<Self, RateLimitError> {
        let errors = count_errors(names.len());
        if !errors.is_empty() {
            return Err(RateLimitError::Invalid(errors));
        }
        let configured = rt.config_policies();
        if let Some(n) = names
            .iter()
            .find(|n| !configured.iter().any(|p| &p.name == *n))
        {
            return Err(RateLimitError::UnknownPolicy(n.clone()));
        }
        let limiter = rt.limiter().clone();
        Ok(Self::build(limiter, Source::Runtime { rt, names }))
    }

    fn build(limiter: RateLimiter, source: Source) -> Self {
        Self {
            shared: Arc::new(Shared {
                limiter,
                source,
                anonymous: TenantId::anonymous(),
            }),
        }
    }
}

/// The error of more than [`crate::MAX_CHECKS`] policies on one layer.
fn count_errors(n: usize) -> Vec<FieldError> {
    match n > crate::MAX_CHECKS {
        true => vec![FieldError::new("policies", "at most 16 policies per layer")],
        false => Vec::new(),
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] builds.
#[derive(Debug, Clone)]
pub struct RateLimitService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl Shared {
    fn is_empty(&self) -> bool {
        match &self.source {
            Source::Fixed(p) => p.is_empty(),
            Source::Runtime { names, .. } => names.is_empty(),
        }
    }

    fn checks(&self, req: &Request<Body>) -> (TenantId, Vec<Resolved>) {
        let caller = req.extensions().get::<Caller>();
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str())
            .unwrap_or_else(|| req.uri().path());
        let ctx = KeyContext {
            ip: req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
            tenant: caller.map(|c| &c.tenant),
            principal: caller.map(|c| c.principal.as_str()),
            route: Some(route),
            headers: Some(req.headers()),
        };
        let tenant = caller.map_or_else(|| self.anonymous.clone(), |c| c.tenant.clone());
        let mut checks = match &self.source {
            Source::Fixed(policies) => policies.iter().map(|p| fixed(p, &ctx)).collect(),
            Source::Runtime { rt, names } => names
                .iter()
                .filter_map(|n| rt.resolve(&tenant, n, None, None, &ctx).ok())
                .collect::<Vec<_>>(),
        };
        checks.iter_mut().for_each(|r| hash_long_key(&mut r.check));
        (tenant, checks)
    }
}

/// The check of a fixed policy.
fn fixed(p: &Policy, ctx: &KeyContext<'_>) -> Resolved {
    Resolved {
        check: Check {
            policy: p.name.clone(),
            limit: p.limit(),
            key: build_key(&p.key, ctx),
            cost: p.cost,
        },
        window_ms: p.window.as_millis() as u64,
        keyed_by_ip: p.key.iter().any(|k| matches!(k, crate::KeyPart::Ip { .. })),
    }
}

/// Replaces a key over [`MAX_KEY_BYTES`] by its SHA-256.
fn hash_long_key(c: &mut Check) {
    if c.key.len() > MAX_KEY_BYTES {
        c.key = format!(
            "sha256:{}",
            palisade_core::secret::sha256_hex(c.key.as_bytes())
        );
    }
}

/// The header entries of decided checks.
fn entries<'a>(resolved: &'a [Resolved], decisions: &'a [Decision]) -> Vec<HeaderEntry<'a>> {
    resolved
        .iter()
        .zip(decisions)
        .map(|(r, d)| HeaderEntry {
            policy: &r.check.policy,
            window_ms: r.window_ms,
            decision: d,
        })
        .collect()
}

/// The 429 answer: a `quota-exceeded` problem with `Retry-After` and the `RateLimit` headers.
pub fn quota_exceeded(entries: &[HeaderEntry<'_>]) -> Response {
    let ds: Vec<Decision> = entries.iter().map(|e| *e.decision).collect();
    let retry = headers::retry_after_secs(&ds).unwrap_or(1);
    let mut res = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "quota-exceeded",
        "Quota exceeded",
        format!("rate limit exceeded; retry after {retry} s"),
    )
    .with_retry_after(retry)
    .into_response();
    headers::apply(res.headers_mut(), entries);
    res
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for RateLimitService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            if shared.is_empty() {
                return inner.call(req).await;
            }
            let (tenant, resolved) = shared.checks(&req);
            let checks: Vec<Check> = resolved.iter().map(|r| r.check.clone()).collect();
            let decisions = match shared.limiter.check(&tenant, &checks).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "rate limit decision failed");
                    return Ok(e.to_problem().into_response());
                }
            };
            let entries = entries(&resolved, &decisions);
            if decisions.iter().any(|d| !d.allowed) {
                return Ok(quota_exceeded(&entries));
            }
            let mut res = inner.call(req).await?;
            headers::apply(res.headers_mut(), &entries);
            Ok(res)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryRateLimitStore;
    use crate::policy::Algorithm;
    use crate::KeyPart;
    use std::time::Duration;
    use tower::ServiceExt;

    fn request(tenant: &str, ip: &str) -> Request<Body> {
        let mut req = Request::builder()
            .uri("/v1/things")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut().insert(Caller {
            tenant: TenantId::parse(tenant).unwrap(),
            principal: "key_1".into(),
        });
        let addr: SocketAddr = format!("{ip}:4000").parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
        req
    }

    #[tokio::test]
    async fn answers_429_problem_with_headers_after_the_quota() {
        let limiter = RateLimiter::new(Arc::new(MemoryRateLimitStore::default()));
        let p = Policy::new(
            "per-ip",
            Algorithm::FixedWindow,
            2,
            Duration::from_secs(3600),
            vec![
                KeyPart::Tenant,
                KeyPart::Ip {
                    ipv6_prefix: Some(64),
                },
            ],
        );
        let layer = RateLimitLayer::new(limiter, vec![p]).unwrap();
        let svc = layer.layer(tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::from("ok")))
        }));
        let res = svc
            .clone()
            .oneshot(request("t1", "10.0.0.1"))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["ratelimit-policy"], "\"per-ip\";q=2;w=3600");
        assert!(res.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"per-ip\";r=1;t="));
        svc.clone()
            .oneshot(request("t1", "10.0.0.1"))
            .await
            .unwrap();
        let res = svc
            .clone()
            .oneshot(request("t1", "10.0.0.1"))
            .await
            .unwrap();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        assert!(res.headers().contains_key("retry-after"));
        assert!(res.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .contains(";r=0;"));
        let body = axum::body::to_bytes(res.into_body(), 10_000).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "quota-exceeded");
        let other = svc
            .clone()
            .oneshot(request("t2", "10.0.0.1"))
            .await
            .unwrap();
        assert_eq!(other.status(), 200, "another tenant has its own counter");
        let ip = svc.oneshot(request("t1", "10.0.0.2")).await.unwrap();
        assert_eq!(ip.status(), 200, "another IP has its own counter");
    }

    #[test]
    fn an_invalid_layer_is_an_error_naming_each_field_not_a_panic() {
        let limiter = || RateLimiter::new(Arc::new(MemoryRateLimitStore::default()));
        let bad = Policy::new(
            "p",
            Algorithm::FixedWindow,
            0,
            Duration::from_secs(60),
            vec![],
        );
        let Err(RateLimitError::Invalid(fields)) = RateLimitLayer::new(limiter(), vec![bad]) else {
            panic!("an invalid policy is an error")
        };
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert!(names.contains(&"policies[0].quota"), "{names:?}");
        assert!(names.contains(&"policies[0].key"), "{names:?}");
        let ok = Policy::new(
            "p",
            Algorithm::FixedWindow,
            1,
            Duration::from_secs(60),
            vec![KeyPart::Tenant],
        );
        let Err(RateLimitError::Invalid(fields)) = RateLimitLayer::new(limiter(), vec![ok; 17])
        else {
            panic!("17 policies are an error")
        };
        assert_eq!(fields[0].field, "policies");
    }
}
