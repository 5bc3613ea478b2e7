//! An axum app that embeds Palisade's rate limiting and idempotency keys as tower layers.
//!
//! Rate limiting runs from a [`RateLimits`] runtime: a configured policy applies to every
//! tenant, and a tenant's overrides (written to the policy store, here in memory; in
//! production the SQL store shared by every instance) take effect through the change feed,
//! which the process's maintenance [`Supervisor`] follows. Idempotency keys are claimed in an
//! in-memory store and swept by the same supervisor.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use palisade_core::{Caller, Supervisor, TenantId};
use palisade_idempotency::{
    ExpiredSweep, IdempotencyLayer, IdempotencySettings, MemoryIdempotencyStore,
};
use palisade_ratelimit::{
    MemoryPolicyStore, RateLimitLayer, RateLimitSettings, RateLimits, RateLimitsStart,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The app and what it embeds.
pub struct Embedded {
    /// The axum app with both layers.
    pub router: Router,
    /// The rate-limit runtime (its policy store takes per-tenant overrides).
    pub ratelimit: Arc<RateLimits>,
    /// The background tasks (feed sync, sweeps); shut it down on exit.
    pub maintenance: Supervisor,
}

/// Builds the app: `POST /charges` limited by the `per-tenant` policy (3 per minute unless
/// overridden) and made idempotent by the `Idempotency-Key` header.
pub async fn app(supervisor: Supervisor) -> Result<Embedded, String> {
    let ratelimit = ratelimits().await?;
    let idempotency = Arc::new(MemoryIdempotencyStore::default());
    let settings = IdempotencySettings::default();
    let mut maintenance = supervisor;
    maintenance.spawn_all(ratelimit.maintenance());
    let sweep = ExpiredSweep::new(idempotency.clone(), settings.sweep_interval);
    maintenance.spawn(Arc::new(sweep));
    let limit = RateLimitLayer::from_runtime(ratelimit.clone(), vec!["per-tenant".into()])
        .map_err(|e| format!("rate limit layer: {e}"))?;
    let charges = AtomicU64::new(0);
    let charges = Arc::new(charges);
    let router = Router::new()
        .route("/charges", post(move || charge(charges.clone())))
        .layer(IdempotencyLayer::new(idempotency, settings.layer_config()))
        .layer(limit)
        .layer(axum::middleware::from_fn(authenticate));
    Ok(Embedded {
        router,
        ratelimit,
        maintenance,
    })
}

/// The rate-limit runtime: one configured policy, policies and overrides kept in memory.
async fn ratelimits() -> Result<Arc<RateLimits>, String> {
    let settings = RateLimitSettings {
        poll_interval: std::time::Duration::from_millis(100),
        policies: vec![serde_json::json!({
            "name": "per-tenant", "algorithm": "fixed_window", "quota": 3,
            "window": "1m", "key": ["tenant"]
        })],
        ..RateLimitSettings::default()
    };
    let errors = settings.errors("ratelimit");
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    RateLimits::start(RateLimitsStart {
        settings,
        shared: None,
        policies: Arc::new(MemoryPolicyStore::default()),
        expected_instances: 1,
    })
    .await
    .map_err(|e| format!("rate limiting: {e}"))
}

/// Stand-in for the app's authentication: the `x-tenant` header names the caller's tenant.
async fn authenticate(mut req: Request, next: Next) -> Response {
    let tenant = req
        .headers()
        .get("x-tenant")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| TenantId::parse(t).ok());
    if let Some(tenant) = tenant {
        let principal = "user_1".to_owned();
        req.extensions_mut().insert(Caller { tenant, principal });
    }
    next.run(req).await
}

/// The operation made idempotent: counts the charges it made.
async fn charge(charges: Arc<AtomicU64>) -> (axum::http::StatusCode, String) {
    let n = charges.fetch_add(1, Ordering::SeqCst) + 1;
    (axum::http::StatusCode::CREATED, format!("charge {n}"))
}
