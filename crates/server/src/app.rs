//! The one registration point: the capabilities the server hosts, each giving its runtime
//! (built from the open stores), its `/v1` routes and its maintenance tasks.

use crate::audit::Audit;
use crate::config::Config;
use crate::state::AppState;
use crate::stores::Stores;
use crate::v1;
use metrics_exporter_prometheus::PrometheusHandle;
use palisade_core::{Maintenance, SystemClock};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// A capability as the server hosts it.
#[derive(Clone, Copy)]
pub struct Capability {
    /// Its name (`ratelimit`).
    pub name: &'static str,
    /// Its routes behind operator authentication (each handler takes the `Operator` extractor).
    pub operator_routes: fn() -> OpenApiRouter<AppState>,
    /// Its routes behind tenant authentication.
    pub tenant_routes: fn() -> OpenApiRouter<AppState>,
    /// Its public routes (no key: the request carries its own proof, e.g. a signature).
    pub public_routes: fn() -> OpenApiRouter<AppState>,
    /// Its background tasks, from its started runtime.
    pub maintenance: fn(&AppState) -> Vec<Arc<dyn Maintenance>>,
}

/// Every capability of the server. Adding one: its crate, its SQL and migrations, its
/// testkit suite, `src/v1/<capability>/` exporting a `CAPABILITY`, its runtime in
/// [`Runtimes`], and one line here.
pub const CAPABILITIES: &[Capability] = &[
    v1::tenants::CAPABILITY,
    v1::locks::CAPABILITY,
    v1::idempotency::CAPABILITY,
    v1::ratelimit::CAPABILITY,
    v1::previews::CAPABILITY,
    v1::cron::CAPABILITY,
    v1::jobs::CAPABILITY,
    v1::realtime::CAPABILITY,
    v1::otp::CAPABILITY,
    v1::csrf::CAPABILITY,
    v1::webhooks::CAPABILITY,
    v1::tokens::CAPABILITY,
];

/// Routes with no capability of their own.
pub fn none() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// Every capability's runtime, started from the open stores.
pub struct Runtimes {
    /// Tenants and API keys.
    pub tenants: Arc<dyn palisade_tenancy::TenantStore>,
    /// Verified tenant keys.
    pub keys: Arc<palisade_tenancy::KeyCache>,
    /// Fenced locks.
    pub locks: palisade_locks::Locks,
    /// Idempotency entries.
    pub idempotency: Arc<dyn palisade_idempotency::IdempotencyStore>,
    /// Rate limiting.
    pub ratelimit: Arc<palisade_ratelimit::RateLimits>,
    /// Link previews: the outbound client and the cache.
    pub previews: Arc<v1::previews::Previews>,
    /// Cron schedules.
    pub cron: Arc<dyn palisade_jobs::cron::CronStore>,
    /// Durable jobs.
    pub jobs: palisade_jobs::Jobs,
    /// Realtime streams.
    pub realtime: palisade_realtime::Realtime,
    /// One-time passcodes.
    pub otp: palisade_otp::Otp,
    /// One-time CSRF tokens.
    pub csrf: palisade_csrf::Csrf,
    /// Inbound webhooks.
    pub webhooks: palisade_webhooks::Webhooks,
    /// JWT/JWKS verification.
    pub tokens: palisade_tokens::Tokens,
}

impl Runtimes {
    /// Starts every capability's runtime over `stores`.
    pub async fn start(cfg: &Config, stores: &Stores, audit: &Audit) -> Result<Self, String> {
        let jobs = v1::jobs::start(cfg, stores).await;
        let otp = v1::otp::start(cfg, stores, audit.sink(), jobs.store.clone()).await?;
        Ok(Self {
            tenants: v1::tenants::start(stores),
            keys: v1::tenants::key_cache(stores).await?,
            locks: v1::locks::start(stores),
            idempotency: v1::idempotency::start(cfg, stores),
            ratelimit: v1::ratelimit::start(cfg, stores).await?,
            previews: v1::previews::start(cfg, audit.sink())?,
            cron: v1::cron::start(cfg, stores).await?,
            jobs,
            realtime: v1::realtime::start(cfg, stores).await?,
            otp,
            csrf: v1::csrf::start(cfg, stores, audit.sink()),
            webhooks: v1::webhooks::start(cfg, stores, audit).await?,
            tokens: v1::tokens::start(cfg, stores, audit.sink())?,
        })
    }
}

/// The handlers' state: configuration, stores, runtimes, operator key hash, metrics.
pub async fn state(
    cfg: Arc<Config>,
    stores: Stores,
    operator_key_hashes: Arc<[String]>,
    metrics: PrometheusHandle,
) -> Result<AppState, String> {
    let clock = SystemClock::shared();
    let audit = Audit::start(&cfg, &stores, clock.clone());
    let rt = Runtimes::start(&cfg, &stores, &audit).await?;
    Ok(AppState::new(crate::state::Shared {
        config: cfg,
        stores,
        tenants: rt.tenants,
        keys: rt.keys,
        locks: rt.locks,
        idempotency: rt.idempotency,
        ratelimit: rt.ratelimit,
        previews: rt.previews,
        cron: rt.cron,
        jobs: rt.jobs,
        realtime: rt.realtime,
        otp: rt.otp,
        csrf: rt.csrf,
        webhooks: rt.webhooks,
        tokens: rt.tokens,
        operator_key_hashes,
        metrics,
        clock,
        audit,
        lifecycle: crate::lifecycle::Lifecycle::new(),
    }))
}

/// Every capability's operator routes.
pub fn operator_routes() -> OpenApiRouter<AppState> {
    CAPABILITIES
        .iter()
        .fold(OpenApiRouter::new(), |r, c| r.merge((c.operator_routes)()))
}

/// Every capability's tenant routes.
pub fn tenant_routes() -> OpenApiRouter<AppState> {
    CAPABILITIES
        .iter()
        .fold(OpenApiRouter::new(), |r, c| r.merge((c.tenant_routes)()))
}

/// Every capability's public routes.
pub fn public_routes() -> OpenApiRouter<AppState> {
    CAPABILITIES
        .iter()
        .fold(OpenApiRouter::new(), |r, c| r.merge((c.public_routes)()))
}

/// Every capability's maintenance tasks.
pub fn maintenance(state: &AppState) -> Vec<Arc<dyn Maintenance>> {
    CAPABILITIES
        .iter()
        .flat_map(|c| (c.maintenance)(state))
        .chain([state.audit.retention()])
        .collect()
}
