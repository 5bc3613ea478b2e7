//! `/v1/ratelimit`: decisions, policies and overrides over HTTP for apps in any language (tenant key).

mod admin;
mod check;

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use palisade_core::{Problem, StoreError};
use palisade_ratelimit::RateLimitError;
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
