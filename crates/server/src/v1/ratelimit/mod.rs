//! `/v1/ratelimit`: decisions, policies and overrides over HTTP for apps in any language (tenant key).

mod admin;
mod check;

use crate::app::Capability;
use crate::config::{Config, RateLimitStoreKind};
use crate::error::ApiError;
use crate::state::AppState;
use crate::stores::Stores;
use axum::http::StatusCode;
use palisade_core::{Problem, StoreError};
use palisade_ratelimit::RateLimitError;
use palisade_ratelimit::{RateLimitStore, RateLimits, RateLimitsStart};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The ratelimit routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check::check))
        .routes(routes!(check::reset))
        .routes(routes!(admin::policy_list))
        .routes(routes!(
            admin::policy_put,
            admin::policy_get,
            admin::policy_delete
        ))
        .routes(routes!(admin::override_put, admin::override_list))
        .routes(routes!(admin::override_delete))
}

/// Rate limiting as the server hosts it.
pub const CAPABILITY: Capability = Capability {
    name: "ratelimit",
    operator_routes: crate::app::none,
    tenant_routes: routes,
    public_routes: crate::app::none,
    maintenance: |s| s.ratelimit.maintenance(),
};

/// Starts rate limiting over the store `ratelimit.store` names, with policies and overrides
/// in the durable store.
pub async fn start(cfg: &Config, stores: &Stores) -> Result<Arc<RateLimits>, String> {
    RateLimits::start(RateLimitsStart {
        settings: cfg.ratelimit.clone(),
        shared: shared_store(cfg.ratelimit.store, stores),
        policies: stores.durable.clone(),
        expected_instances: cfg.storage.expected_instances,
    })
    .await
    .map_err(|e| format!("rate limiting: {e}"))
}

/// The shared decision store `kind` names, with its name (`None`: memory). `auto` takes the
/// hot store, else the durable store when instances share it, else memory.
fn shared_store(
    kind: RateLimitStoreKind,
    stores: &Stores,
) -> Option<(Arc<dyn RateLimitStore>, &'static str)> {
    let hot = || {
        let h = stores.hot.clone()?;
        let name = h.features().name;
        Some((h as Arc<dyn RateLimitStore>, name))
    };
    let durable = || {
        let d = stores.durable.clone();
        let name = d.features().name;
        (d as Arc<dyn RateLimitStore>, name)
    };
    match kind {
        RateLimitStoreKind::Memory => None,
        RateLimitStoreKind::Redis => hot(),
        RateLimitStoreKind::Durable => Some(durable()),
        RateLimitStoreKind::Auto => hot().or_else(|| {
            let shared = stores.durable.features().shared;
            shared.then(durable)
        }),
    }
}

pub(super) fn unknown_policy() -> ApiError {
    Problem::new(
        StatusCode::NOT_FOUND,
        "policy-not-found",
        "Policy not found",
        "no rate limit policy of this name for this tenant",
    )
    .into()
}

/// 409 `policy-limit-reached` / `override-limit-reached` for a create past the tenant's cap
/// (the detail names the setting and its value); any other store error as usual.
pub(super) fn put_error(e: StoreError) -> ApiError {
    let StoreError::LimitReached { what, limit } = e else {
        return e.into();
    };
    let (code, title, setting) = if what == "overrides" {
        (
            "override-limit-reached",
            "Override limit reached",
            "max_overrides_per_tenant",
        )
    } else {
        (
            "policy-limit-reached",
            "Policy limit reached",
            "max_policies_per_tenant",
        )
    };
    let detail = format!(
        "this tenant already has {limit} {what} (ratelimit.{setting} = {limit}); \
         delete one or replace an existing one"
    );
    Problem::new(StatusCode::CONFLICT, code, title, detail).into()
}

pub(super) fn limit_error(e: RateLimitError) -> ApiError {
    if e.is_not_found() {
        return unknown_policy();
    }
    e.to_problem().into()
}
