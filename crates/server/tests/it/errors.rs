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

/// What a lenient server would accept silently is refused with a 400 naming it: a key repeated
/// in any JSON object (also inside a free-form payload), two `Authorization` headers, a cursor
/// Palisade never handed out; and heads too large are problem+json, not bare statuses.
#[tokio::test]
async fn ambiguous_or_oversized_requests_are_refused_as_problems() {
    let p = spawn(&[]);
    let api = p.tenant_api("ambiguous").await;
    p.tenant_api("ambiguous-2").await;
    let ct = Some("application/json");
    let dup = r#"{"queue":"q","kind":"k","payload":{"to":"a","to":"b"}}"#;
    let v = problem(
        api.post_raw("/v1/jobs", ct, dup).await,
        400,
        "invalid-request",
    )
    .await;
    assert_eq!(v["errors"][0]["field"], "payload.to", "{v}");
    let dup = r#"{"holder":"a","holder":"b","ttl_ms":1000}"#;
    let v = problem(
        api.post_raw("/v1/locks/x/acquire", ct, dup).await,
        400,
        "invalid-request",
    )
    .await;
    assert_eq!(v["errors"][0]["field"], "holder", "{v}");
    let two = api
        .c
        .get(format!("{}/v1/me", api.url))
        .header("authorization", format!("Bearer {}", api.key))
        .header("authorization", "Bearer other")
        .send()
        .await
        .unwrap();
    let v = problem(two, 400, "invalid-request").await;
    assert_eq!(v["errors"][0]["field"], "Authorization", "{v}");
    let op = p.operator();
    for path in [
        "/v1/jobs?cursor=garbage",
        "/v1/ratelimit/policies?cursor=garbage",
    ] {
        let v = problem(api.get(path).await, 400, "invalid-request").await;
        assert_eq!(v["errors"][0]["field"], "cursor", "{path}: {v}");
    }
    let v = problem(
        op.get("/v1/tenants?cursor=%25%25garbage").await,
        400,
        "invalid-request",
    )
    .await;
    assert_eq!(v["errors"][0]["field"], "cursor", "{v}");
    let page = op.get_json("/v1/tenants?limit=1").await;
    let next = page["next"]
        .as_str()
        .expect("two tenants at least: a next page");
    let page2 = op
        .get_json(&format!("/v1/tenants?limit=1&cursor={next}"))
        .await;
    assert_ne!(
        page2["items"][0]["id"], page["items"][0]["id"],
        "a real cursor pages on"
    );
    let long = format!("/v1/me?x={}", "a".repeat(9 * 1024));
    problem(api.get(&long).await, 414, "uri-too-long").await;
    let mut many = api.c.get(format!("{}/v1/me", api.url));
    for i in 0..150 {
        many = many.header(format!("x-h-{i}"), "v");
    }
    problem(many.send().await.unwrap(), 431, "headers-too-large").await;
}

/// Every route that takes a JSON body documents its 415.
#[tokio::test]
async fn openapi_documents_415_on_every_json_body_route() {
    let p = spawn(&[]);
    let doc = p.openapi().await;
    let mut with_body = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let content = &op["requestBody"]["content"];
            let only_json = content.as_object().is_some_and(|c| c.len() == 1)
                && content.get("application/json").is_some();
            if only_json {
                with_body += 1;
                assert!(
                    op["responses"].get("415").is_some(),
                    "{method} {path} lacks 415"
                );
            }
        }
    }
    assert!(with_body > 20, "the API has JSON-body routes: {with_body}");
    // Two answer types once shared the schema name `LeaseView`: each route shows its own.
    let answer = |path: &str| {
        let r = doc["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: no 200 schema"))
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        doc["components"]["schemas"][&r]["properties"].clone()
    };
    assert!(
        answer("/v1/jobs/lease").get("jobs").is_some(),
        "jobs lease answer"
    );
    assert!(
        answer("/v1/locks/{name}/acquire").get("token").is_some(),
        "lock lease answer"
    );
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
    let op = Api::new(
        &url,
        running.state.config.operator_key.as_ref().unwrap().expose(),
    );
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
    let op = op.expose();
    let start = Instant::now();
    let r = Api::new(&url, op).get("/v1/tenants").await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "answered promptly"
    );
    assert_eq!(r.headers()["retry-after"], "1");
    problem(r, 503, "store-unavailable").await;
    drop(held);
    let r = Api::new(&url, op).get("/v1/tenants").await;
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
