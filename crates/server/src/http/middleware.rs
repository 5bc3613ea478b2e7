//! Per-request plumbing: request id, the request span and access log, metrics, deadline,
//! connection close after a 413.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use palisade_core::Problem;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The request id header, read (when well-formed) and always answered.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn request_id(req: &Request) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (8..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", palisade_core::secret::random_token(20)))
}

/// Outermost layer: request id, span, access log line, HTTP metrics.
pub async fn observe(req: Request, next: Next) -> Response {
    let id = request_id(&req);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        tenant = tracing::field::Empty,
    );
    let start = Instant::now();
    let fut = palisade_core::request_id::scope(id.clone(), next.run(req));
    let mut res = fut.instrument(span.clone()).await;
    let status = res.status().as_u16();
    let latency = start.elapsed();
    span.in_scope(|| {
        tracing::info!(status, latency_ms = latency.as_secs_f64() * 1e3, "request");
    });
    let labels = [
        ("route", route),
        ("method", method),
        ("status", status.to_string()),
    ];
    metrics::counter!("palisade_http_requests_total", &labels).increment(1);
    metrics::histogram!("palisade_http_request_duration_seconds", &labels[..2])
        .record(latency.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    res
}

/// Adds `Connection: close` to a 413: the rest of the oversized body was never read, so the
/// server closes the connection after answering, and says so, so no client reuses it for its
/// next request (which would fail mid-flight).
pub async fn close_after_413(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// Answers 503 `timeout` when a request outlives its deadline.
pub async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "Request timed out",
            "the request did not finish within the server's deadline",
        )
        .with_retry_after(1)
        .into_response(),
    }
}

/// Turns a handler panic into a 500 problem (no message, no backtrace on the wire).
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    Problem::internal().into_response()
}

/// 404 problem for unknown routes.
pub async fn not_found() -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "route-not-found",
        "Not found",
        "no such route",
    )
    .into_response()
}

/// 405 problem for known routes with another method.
pub async fn method_not_allowed() -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        "this route does not accept that method",
    )
    .into_response()
}
