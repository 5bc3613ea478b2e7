//! `/v1/locks`: the locks capability over HTTP for apps in any language (tenant key).

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The locks routes (tenant-authenticated).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
