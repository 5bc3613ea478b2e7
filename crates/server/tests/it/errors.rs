//! Errors are problem+json with stable codes; internal failures never leak detail; no hangs.

use crate::common::{problem, spawn, sqlite, test_config, Api};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn unknown_routes_methods_and_bad_bodies_are_problems() {
    let p = spawn(&[("PALISADE_HTTP__BODY_LIMIT", "2KB")]);
    let op = p.operator();
    let r = reqwest::get(p.at("/v1/nope")).await.unwrap();
    problem(r, 404, "route-not-found").await;
    let r = op.send(reqwest::Method::PUT, "/v1/tenants", None).await;
    problem(r, 405, "method-not-allowed").await;
    let ct = Some("application/json");
    let r = op.post_raw("/v1/tenants", ct, "{not json").await;
    problem(r, 400, "invalid-json").await;
    let r = op.post_raw("/v1/tenants", None, "x=1").await;
    problem(r, 415, "unsupported-media-type").await;
    let big = format!(
        "{{\"external_id\":\"a\",\"name\":\"{}\"}}",
        "x".repeat(4096)
    );
    let r = op.post_raw("/v1/tenants", ct, &big).await;
    problem(r, 413, "payload-too-large").await;
}

#[tokio::test]
async fn a_store_failure_is_a_500_without_sql_or_table_names() {
    let running = palisade_server::serve::start(test_config()).await.unwrap();
    let db = sqlite(&running);
    sqlx::query("DROP TABLE api_keys")
        .execute(db.pool())
        .await
        .unwrap();
    let url = format!("http://{}", running.addr);
    let op = Api::new(&url, running.state.config.operator_key.as_ref().unwrap());
    let t = json!({"external_id": "e", "name": "n"});
    let t: serde_json::Value = op.post("/v1/tenants", t).await.json().await.unwrap();
    let keys = format!("/v1/tenants/{}/keys", t["id"].as_str().unwrap());
    let r = op.post(&keys, json!({"name": "k"})).await;
    let body = problem(r, 500, "internal").await.to_string().to_lowercase();
    for leak in ["api_keys", "sqlite", "insert", "no such table", "select"] {
        assert!(!body.contains(leak), "{leak} leaked: {body}");
    }
    running.shutdown().await;
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_with_retry_after_instead_of_hanging() {
    let mut cfg = test_config();
    cfg.storage.pool_size = Some(1);
    cfg.storage.acquire_timeout = Duration::from_millis(300);
    let running = palisade_server::serve::start(cfg).await.unwrap();
    let db = sqlite(&running);
    let held = db.pool().acquire().await.unwrap();
    let url = format!("http://{}", running.addr);
    let op = running.state.config.operator_key.clone().unwrap();
    let start = Instant::now();
    let r = Api::new(&url, &op).get("/v1/tenants").await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "answered promptly"
    );
    assert_eq!(r.headers()["retry-after"], "1");
    problem(r, 503, "store-unavailable").await;
    drop(held);
    let r = Api::new(&url, &op).get("/v1/tenants").await;
    assert_eq!(r.status(), 200, "recovers once a connection is free");
    running.shutdown().await;
}

#[tokio::test]
async fn a_panicking_handler_answers_500_without_its_message() {
    let cfg = test_config();
    let app = Router::new().route(
        "/boom",
        get(|| async { panic!("secret sk_live_123 for jane@example.com") as &'static str }),
    );
    let app = palisade_server::http::with_middleware(app, &cfg.http);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let r = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
    let body = problem(r, 500, "internal").await.to_string();
    assert!(
        !body.contains("sk_live") && !body.contains("jane@"),
        "{body}"
    );
    assert!(
        !body.contains("panicked") && !body.contains(".rs:"),
        "{body}"
    );
}
