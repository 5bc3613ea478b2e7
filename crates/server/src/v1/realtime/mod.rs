//! `/v1/streams`, `/v1/topics` and job streams: realtime over HTTP.
//!
//! A tenant's backend mints stream tokens and publishes topic events with its tenant key; a
//! browser opens an SSE stream with `?token=` (see docs/realtime.md). A token that does not
//! cover the topic or job, or of another tenant, answers 404 like a missing one.

mod job_feed;
mod sse;
mod tokens;
mod topics;
mod ws;

/// The stream routes (SSE and WebSocket), authenticated by stream token or tenant key.
pub fn stream_routes() -> OpenApiRouter<crate::state::AppState> {
    sse::stream_routes().merge(ws::routes())
}

use crate::app::Capability;
use crate::config::Config;
use crate::error::ApiError;
use crate::stores::Stores;
use axum::http::StatusCode;
use palisade_core::Problem;
use palisade_realtime::{Fanout, Hub, LocalFanout, Realtime, RealtimeError, RealtimeStore};
use palisade_store_postgres::{PgFanout, PgStore};
use palisade_store_redis::RedisFanout;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;

/// The tenant-key routes: mint tokens, revoke, publish.
pub fn routes() -> OpenApiRouter<crate::state::AppState> {
    tokens::routes().merge(topics::routes())
}

/// Realtime as the server hosts it: routes, and the revocation pruner.
pub const CAPABILITY: Capability = Capability {
    name: "realtime",
    operator_routes: crate::app::none,
    public_routes: crate::app::none,
    tenant_routes: routes,
    maintenance: |s| s.realtime.maintenance(),
};

/// The realtime runtime over the durable store: fan-out through Redis pub/sub when Redis is
/// configured, else PostgreSQL `LISTEN`/`NOTIFY` when the durable store is PostgreSQL, else
/// in-process.
pub async fn start(cfg: &Config, stores: &Stores) -> Result<Realtime, String> {
    let settings = cfg.realtime.clone();
    let hub = Hub::new(settings.stream_buffer);
    let store: Arc<dyn RealtimeStore> = stores.durable.clone();
    let pg = stores.durable.as_any().downcast_ref::<PgStore>();
    let fanout: Arc<dyn Fanout> = match (&stores.redis, pg) {
        (Some(redis), _) => Arc::new(
            RedisFanout::start(redis, hub.clone())
                .await
                .map_err(|e| format!("realtime: cannot SUBSCRIBE on Redis: {e}"))?,
        ),
        (None, Some(pg)) => Arc::new(
            PgFanout::start(pg, hub.clone(), settings.history())
                .await
                .map_err(|e| format!("realtime: cannot LISTEN on PostgreSQL: {e}"))?,
        ),
        (None, None) => Arc::new(LocalFanout::new(hub.clone())),
    };
    Ok(Realtime::new(
        store,
        hub,
        fanout,
        stores.stream_slots(),
        settings,
    ))
}

/// A realtime error as its problem: 400, 401, 404, 413, 429, or the store's 503/500.
fn problem(e: RealtimeError) -> ApiError {
    match e {
        RealtimeError::Invalid(errors) => Problem::invalid(errors).into(),
        RealtimeError::TooLarge { limit } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "event-too-large",
            "Event too large",
            format!("an event's JSON may be at most {limit} bytes"),
        )
        .into(),
        RealtimeError::Token(t) => {
            let detail = match t {
                palisade_realtime::TokenRejection::Expired => {
                    "the stream token expired: mint a new one and reconnect with last_event_id"
                }
                palisade_realtime::TokenRejection::Revoked => "the stream token was revoked",
                _ => "pass a valid stream token as ?token= (mint one with POST /v1/streams/tokens)",
            };
            Problem::new(
                StatusCode::UNAUTHORIZED,
                t.code(),
                "Unauthenticated",
                detail,
            )
            .into()
        }
        RealtimeError::NotFound => Problem::not_found("stream").into(),
        RealtimeError::TooManyStreams {
            scope,
            retry_after_ms,
        } => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-streams",
            "Too many open streams",
            format!(
                "this {} holds as many open streams as it may across the cluster: close one, \
                 or retry after Retry-After",
                scope.as_str()
            ),
        )
        .with_retry_after(retry_after_ms.div_ceil(1000).max(1))
        .into(),
        RealtimeError::Store(s) => s.into(),
        other => {
            tracing::error!(error = %other, "unexpected realtime error");
            Problem::internal().into()
        }
    }
}
