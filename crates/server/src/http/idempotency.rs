//! `/v1/idempotency`: the idempotency capability over HTTP for apps in any language (tenant key).

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The idempotency routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
