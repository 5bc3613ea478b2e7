//! The process-wide Prometheus recorder, its text exposition and the optional metrics listener.
//!
//! Every label value is bounded and chosen by Palisade, never by a tenant or a client: no policy
//! names, raw methods or raw paths (see [`method_label`]); per-tenant figures belong in
//! tenant-authenticated APIs.

use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::OnceLock;
use tokio::sync::watch;

/// Buckets (seconds) of the rate-limit store latency histograms: 50 µs to 1 s.
const RATELIMIT_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Installs the recorder once per process and returns its handle.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Prefix("palisade_ratelimit_".into()),
                    RATELIMIT_BUCKETS,
                )
                .expect("non-empty buckets")
                .set_buckets_for_metric(
                    Matcher::Prefix("palisade_jobs_".into()),
                    palisade_jobs::metrics::BUCKETS,
                )
                .expect("non-empty buckets")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// The `method` label: a standard method's name, else `other` (a client can send any token as
/// a method; each would otherwise be a new label set, resident forever).
pub fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// The Prometheus text of `handle` as an HTTP response, with the runtime's live task count
/// (`palisade_runtime_tasks_alive`: a stream, connection or timer that leaks shows here) read
/// at the moment of the scrape.
pub fn exposition(handle: &PrometheusHandle) -> Response {
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    metrics::gauge!("palisade_runtime_tasks_alive").set(tasks as f64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// Binds `addr` and serves `GET /metrics` there without authentication until `stop` turns
/// true (every other path: 404). Returns the bound address.
pub async fn listen(
    addr: SocketAddr,
    handle: PrometheusHandle,
    mut stop: watch::Receiver<bool>,
) -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("binding metrics.listen {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || async move { exposition(&handle) }),
        )
        .fallback(crate::http::middleware::not_found);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        for m in ["FOO", "X-PERSONAL-DATA", "PROPFIND"] {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert_eq!(method_label(&m), "other");
        }
        assert_eq!(method_label(&Method::POST), "POST");
    }
}
