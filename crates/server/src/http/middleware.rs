//! Per-request plumbing: request id, the request span and access log, metrics, deadline,
//! connection close after a 413.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use palisade_core::{FieldError, Problem};
use std::borrow::Cow;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The request id header, read (when well-formed) and always answered.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The caller's request id when it is 8 to 64 of `A-Z a-z 0-9 - _` and the redactor finds
/// nothing in it (a secret sent as a request id would reach the log and every answer); else a
/// generated one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (8..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && matches!(palisade_core::redact::redact(v), Cow::Borrowed(_))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", palisade_core::secret::random_token(20)))
}

/// Outermost layer: request id, span, access log line, HTTP metrics. The method is logged and
/// counted as [`crate::metrics::method_label`] (a standard name or `other`), the route as its
/// template or `unmatched`: no caller-chosen text becomes a label, and every span field still
/// goes through the redactor.
pub async fn observe(req: Request, next: Next) -> Response {
    let id = request_id(&req);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = crate::metrics::method_label(req.method());
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
        ("method", method.to_owned()),
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

/// Answers 413 at once when the declared `Content-Length` exceeds `limit`: the body is never
/// read, so hyper never sends `100 Continue`, and the connection is closed after the answer.
/// Chunked bodies are refused by the body limit as soon as they pass it.
pub async fn refuse_declared_oversize(
    State(limit): State<u64>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        let mut res = payload_too_large().into_response();
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return res;
    }
    next.run(req).await
}

/// The longest request target answered (longer: 414).
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most request headers answered (more: 431).
pub const MAX_HEADERS: usize = 100;
/// The most request header bytes answered, names and values (more: 431).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses, as problem+json, a request head Palisade will not serve: a target over
/// [`MAX_URI_BYTES`] (414), headers over [`MAX_HEADERS`] or [`MAX_HEADER_BYTES`] (431), or more
/// than one `Authorization` header (400: which one would count is ambiguous).
pub async fn refuse_bad_head(req: Request, next: Next) -> Response {
    match head_problem(&req) {
        Some(p) => {
            let mut res = p.into_response();
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            res
        }
        None => next.run(req).await,
    }
}

fn head_problem(req: &Request) -> Option<Problem> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(Problem::new(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            "URI too long",
            format!("the request target exceeds {MAX_URI_BYTES} bytes"),
        ));
    }
    let h = req.headers();
    let bytes: usize = h.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
    if h.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "Request headers too large",
            format!("send at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes in all"),
        ));
    }
    if h.get_all(header::AUTHORIZATION).iter().nth(1).is_some() {
        return Some(Problem::invalid(vec![FieldError::new(
            "Authorization",
            "header must appear once",
        )]));
    }
    None
}

/// 413 `payload-too-large`.
pub fn payload_too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Payload too large",
        "the request body exceeds the configured limit",
    )
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
