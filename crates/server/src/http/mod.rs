//! The HTTP surface: router assembly, middleware order and the OpenAPI document.

mod audit;
mod auth_routes;
pub mod docs;
mod dupkeys;
pub mod extract;
mod health;
pub mod middleware;

use crate::config::HttpConfig;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "Palisade", description = "Security and reliability layer for multi-tenant SaaS backends."),
    components(schemas(docs::ProblemDoc, docs::FieldErrorDoc)),
    modifiers(&Security)
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        for name in ["operator_key", "tenant_key"] {
            let s = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
            c.add_security_scheme(name, SecurityScheme::Http(s));
        }
    }
}

/// Every `/v1` route with its OpenAPI description.
fn api(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::app::operator_routes())
        .merge(crate::app::public_routes())
        .merge(audit::routes())
        .merge(auth_routes::tenant_scoped(state))
        .merge(crate::v1::realtime::stream_routes())
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api(&state).split_for_parts();
    let doc = std::sync::Arc::new(docs::with_media_type_errors(doc));
    let cfg = state.config.clone();
    let app = Router::new()
        .merge(api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(
            "/openapi.json",
            get(move || async move { Json((*doc).clone()) }),
        )
        .with_state(state);
    with_middleware(app, &cfg.http)
}

/// Wraps routes in Palisade's middleware: problem fallbacks, body limit (a 413 closes the
/// connection), panic catcher, deadline, early 413 on a declared oversized body, request id + access log + metrics (outermost).
pub fn with_middleware(app: Router, cfg: &HttpConfig) -> Router {
    app.fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(cfg.body_limit.as_u64() as usize))
        .layer(axum::middleware::from_fn(middleware::close_after_413))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            cfg.request_timeout,
            middleware::deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            cfg.body_limit.as_u64(),
            middleware::refuse_declared_oversize,
        ))
        .layer(axum::middleware::from_fn(middleware::refuse_bad_head))
        .layer(axum::middleware::from_fn(middleware::observe))
}
