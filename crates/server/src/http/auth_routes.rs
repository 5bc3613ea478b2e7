//! The tenant-authenticated part of `/v1`: every route here runs behind `require_tenant`.

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

/// Tenant routes of every capability, behind tenant-key authentication.
pub fn tenant_scoped(state: &AppState) -> OpenApiRouter<AppState> {
    crate::app::tenant_routes().route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::auth::require_tenant,
    ))
}
