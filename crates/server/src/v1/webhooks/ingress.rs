//! `POST /hooks/{tenant}/{source}`: the public ingress, in its fixed order — unknown source
//! (404) → size limit (413) → signature (401) → timestamp (401) → replay guard and durable
//! insert → 2xx.

use super::api;
use crate::http::extract::ApiPath;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_webhooks::ingest::{size_check, source_for};
use palisade_webhooks::{Inbound, Inserted, Source, WebhookError};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The public ingress route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(hook_receive))
}

/// The answer to an accepted (or duplicate) event.
#[derive(Serialize, ToSchema)]
pub struct Received {
    /// `accepted`, or `duplicate` for an event already stored (not delivered again).
    pub status: &'static str,
    /// The stored event's id.
    pub id: String,
}

/// Receive a signed event from a provider. No key: the signature over the raw body is the
/// authentication; there is no way to turn verification off.
#[utoipa::path(post, path = "/hooks/{tenant}/{source}", tag = "webhooks",
    params(("tenant" = String, Path, description = "Tenant id"),
           ("source" = String, Path, description = "Source name")),
    request_body(content = Vec<u8>, content_type = "*/*", description = "The provider's raw body"),
    responses(
        (status = 200, body = Received, description = "Stored (or a duplicate: `Palisade-Duplicate: true`, not delivered again)"),
        (status = 401, description = "`webhook-signature-missing`, `webhook-signature-duplicate`, `webhook-signature-malformed`, `webhook-signature-invalid`, `webhook-timestamp-stale` or `webhook-timestamp-future`"),
        (status = 404, description = "`not-found`: no such source (also another tenant's)"),
        (status = 413, description = "`webhook-body-too-large`: over the source's limit"),
        (status = 503, description = "`store-unavailable` or `webhooks-key-unavailable`: not stored, send again later")))]
async fn hook_receive(
    State(state): State<AppState>,
    ApiPath((tenant, name)): ApiPath<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let w = &state.webhooks;
    let source = match source_for(w.store.as_ref(), &tenant, &name).await {
        Ok(s) => s,
        Err(e) => return refused(&state, None, e),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Err(e) = declared.map_or(Ok(()), |n| size_check(&source, n)) {
        return refused(&state, Some(&source), e);
    }
    let limit = u64::from(source.max_body_bytes).min(state.config.http.body_limit.as_u64());
    let bytes = match axum::body::to_bytes(body, limit as usize).await {
        Ok(b) => b,
        // over the limit (or the client went away mid-body): nothing was stored
        Err(_) => return refused(&state, Some(&source), WebhookError::TooLarge { limit }),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    // Twilio signs the URL it called: the configured public base URL, else the Host
    let url = w.settings.public_url(host, path);
    let req = Inbound {
        url: &url,
        headers: &headers,
        body: &bytes,
    };
    let r = w.receive(&source, &req).await;
    w.ingress_record(Some(&source), &r);
    match r {
        Ok(i) => received(i),
        Err(e) => api(e).into_response(),
    }
}

fn received(i: Inserted) -> Response {
    let body = Received {
        status: if i.duplicate { "duplicate" } else { "accepted" },
        id: i.event.id.to_string(),
    };
    let mut r = Json(body).into_response();
    if i.duplicate {
        r.headers_mut()
            .insert("palisade-duplicate", HeaderValue::from_static("true"));
    }
    r
}

fn refused(state: &AppState, source: Option<&Source>, e: WebhookError) -> Response {
    let r: Result<Inserted, WebhookError> = Err(e);
    state.webhooks.ingress_record(source, &r);
    r.map_or_else(|e| api(e).into_response(), received)
}
