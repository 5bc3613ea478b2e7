//! Shared state of the HTTP handlers.

use crate::config::Config;
use crate::stores::Stores;
use metrics_exporter_prometheus::PrometheusHandle;
use palisade_core::SharedClock;
use palisade_tenancy::TenantStore;
use std::sync::Arc;

/// What every handler can reach: one shared [`Shared`]. A clone is one reference count (axum
/// clones the state for every extractor of every request; cloning each field's own `Arc`
/// instead cost ~15 % of a rate-limit check's CPU in a profile).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state holding `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The handlers' configuration, stores and runtimes.
pub struct Shared {
    /// Loaded configuration.
    pub config: Arc<Config>,
    /// Open stores.
    pub stores: Stores,
    /// Tenancy store.
    pub tenants: Arc<dyn TenantStore>,
    /// Verified tenant keys, kept current from the change feed.
    pub keys: Arc<palisade_tenancy::KeyCache>,
    /// Fenced locks (one waiter queue per process).
    pub locks: palisade_locks::Locks,
    /// Idempotency entries (the store `idempotency.store` names).
    pub idempotency: Arc<dyn palisade_idempotency::IdempotencyStore>,
    /// SHA-256 hex of each accepted operator key (two during a rotation).
    pub operator_key_hashes: Arc<[String]>,
    /// Prometheus renderer.
    pub metrics: PrometheusHandle,
    /// Rate limiting: limiter, policies, registry.
    pub ratelimit: Arc<palisade_ratelimit::RateLimits>,
    /// Link previews: the outbound client and the cache.
    pub previews: Arc<crate::v1::previews::Previews>,
    /// Cron schedules (the durable store).
    pub cron: Arc<dyn palisade_jobs::cron::CronStore>,
    /// Durable jobs: store, settings, maintenance tasks.
    pub jobs: palisade_jobs::Jobs,
    /// Realtime streams: tokens, topics, hub, fan-out.
    pub realtime: palisade_realtime::Realtime,
    /// One-time passcodes: store, hash key, settings.
    pub otp: palisade_otp::Otp,
    /// One-time CSRF tokens.
    pub csrf: palisade_csrf::Csrf,
    /// Inbound webhooks: inbox, sealing keys, settings.
    pub webhooks: palisade_webhooks::Webhooks,
    /// JWT/JWKS verification: issuers, JWKS cache, revocations.
    pub tokens: palisade_tokens::Tokens,
    /// Wall clock.
    pub clock: SharedClock,
    /// Lame duck on shutdown (`/readyz` fails).
    pub lifecycle: Arc<crate::lifecycle::Lifecycle>,
    /// The audit trail: sink and store.
    pub audit: crate::audit::Audit,
}
