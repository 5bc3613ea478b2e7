//! `/v1/ratelimit`: decisions, policies and overrides over HTTP for apps in any language (tenant key).

mod admin;
mod check;

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use palisade_core::Problem;
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

pub(super) fn limit_error(e: RateLimitError) -> ApiError {
    if e.is_not_found() {
        return unknown_policy();
    }
    e.to_problem().into()
}
