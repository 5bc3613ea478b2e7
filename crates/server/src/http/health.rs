//! `/healthz`, `/readyz` and `/metrics`.

use crate::auth::Operator;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_core::Problem;
use std::time::Duration;

/// Alive: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready: every store answers within a second; otherwise 503 naming the failing ones.
/// Not ready from the start of shutdown (the lame duck), so load balancers stop sending.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.lifecycle.is_lame_duck() {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "Shutting down",
            "this instance is shutting down",
        )
        .with_retry_after(1)
        .into_response();
    }
    let failing = tokio::time::timeout(Duration::from_secs(1), state.stores.failing())
        .await
        .unwrap_or_else(|_| vec!["timeout"]);
    if failing.is_empty() {
        return Json(serde_json::json!({ "status": "ready" })).into_response();
    }
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not-ready",
        "Not ready",
        format!("unavailable: {}", failing.join(", ")),
    )
    .with_retry_after(1)
    .into_response()
}

/// Prometheus text exposition; on the main listener only for the operator key (a metrics
/// listener, `metrics.listen`, serves it without authentication).
pub async fn metrics(_: Operator, State(state): State<AppState>) -> Response {
    crate::metrics::exposition(&state.metrics)
}
