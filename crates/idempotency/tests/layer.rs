//! The idempotency layer on a real axum Router with the memory store.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use palisade_core::{Caller, FieldError, ManualClock, Problem, StoreError, TenantId};
use palisade_idempotency::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tower::ServiceExt;

#[derive(Clone, Default)]
struct App {
    runs: Arc<AtomicUsize>,
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

impl App {
    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
    fn run(&self) -> usize {
        self.runs.fetch_add(1, Ordering::SeqCst) + 1
    }
}

async fn charge(State(app): State<App>, body: String) -> Response {
    let n = app.run();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let headers = [
        ("content-type", "application/json"),
        ("location", "/charges/ch_1"),
        ("set-cookie", "session=secret"),
        ("x-internal", "1"),
    ];
    let body = format!(r#"{{"run":{n},"echo":{body:?}}}"#);
    (StatusCode::CREATED, headers, body).into_response()
}

async fn declined(State(app): State<App>) -> Response {
    app.run();
    (StatusCode::PAYMENT_REQUIRED, "card declined").into_response()
}

async fn invalid(State(app): State<App>) -> Response {
    app.run();
    Problem::invalid(vec![FieldError::new("amount", "must be positive")]).into_response()
}

async fn not_executed(State(app): State<App>) -> Response {
    app.run();
    (StatusCode::BAD_REQUEST, Extension(NotExecuted), "nope").into_response()
}

async fn big(State(app): State<App>) -> Response {
    app.run();
    "x".repeat(4096).into_response()
}

async fn slow(State(app): State<App>) -> Response {
    app.run();
    app.entered.notify_one();
    // Bounded so a broken layer fails the test instead of hanging it.
    let _ = tokio::time::timeout(Duration::from_secs(5), app.release.notified()).await;
    "done".into_response()
}

async fn phased(State(app): State<App>, Extension(ctx): Extension<IdempotencyContext>) -> Response {
    app.run();
    if let Some(p) = ctx.recovery_point() {
        return format!("resumed from {} at attempt {}", p.name, ctx.attempt()).into_response();
    }
    ctx.set_recovery_point("charged", serde_json::json!({"charge": "ch_1"}))
        .await
        .unwrap();
    app.entered.notify_one();
    std::future::pending::<Response>().await
}

/// Authentication stand-in: `x-tenant` and `x-principal` become the [`Caller`].
fn with_caller(mut req: Request<Body>) -> Request<Body> {
    let h = req.headers();
    let caller = h.get("x-tenant").map(|t| Caller {
        tenant: TenantId::parse(t.to_str().unwrap()).unwrap(),
        principal: h
            .get("x-principal")
            .map_or("key_1", |p| p.to_str().unwrap())
            .to_owned(),
    });
    if let Some(c) = caller {
        req.extensions_mut().insert(c);
    }
    req
}

async fn entered(app: &App) {
    tokio::time::timeout(Duration::from_secs(5), app.entered.notified())
        .await
        .expect("the handler starts");
}

fn config() -> IdempotencyConfig {
    IdempotencyConfig {
        max_request_body: 1024,
        max_stored_response: 1024,
        ..IdempotencyConfig::default()
    }
}

fn router(store: Arc<dyn IdempotencyStore>, app: App) -> Router {
    Router::new()
        .route("/charges", post(charge).get(|| async { "list" }))
        .route("/declined", post(declined))
        .route("/invalid", post(invalid))
        .route("/not-executed", post(not_executed))
        .route("/big", post(big))
        .route("/slow", post(slow))
        .route("/phased", post(phased))
        .route("/health", get(|| async { "ok" }))
        .layer(IdempotencyLayer::new(store, config()))
        .layer(tower::util::MapRequestLayer::new(with_caller))
        .with_state(app)
}

fn setup() -> (Router, App, Arc<ManualClock>) {
    let clock = ManualClock::new(1_700_000_000_000);
    let app = App::default();
    let store = Arc::new(MemoryIdempotencyStore::new(clock.clone()));
    (router(store, app.clone()), app, clock)
}

fn req(path: &str, key: Option<&str>, body: &str) -> Request<Body> {
    req_as("ten_a", path, key, body)
}

fn req_as(tenant: &str, path: &str, key: Option<&str>, body: &str) -> Request<Body> {
    let mut b = Request::post(path).header("x-tenant", tenant);
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn code(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.body).unwrap();
        v["code"].as_str().unwrap().to_owned()
    }
    fn replayed(&self) -> bool {
        self.headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
    }
}

async fn send(r: &Router, req: Request<Body>) -> Answer {
    let res = r.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

#[tokio::test]
async fn completed_request_is_replayed_with_marker_and_allow_listed_headers() {
    let (r, app, _) = setup();
    let first = send(&r, req("/charges", Some("\"k1\""), "{\"amount\":5}")).await;
    assert_eq!(first.status, 201);
    assert!(!first.replayed());
    assert_eq!(first.headers["idempotency-retention"], "86400");
    let again = send(&r, req("/charges", Some("k1"), "{\"amount\":5}")).await;
    assert_eq!(app.runs(), 1, "the handler ran once");
    assert_eq!(again.status, 201);
    assert!(again.replayed());
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["content-type"], "application/json");
    assert_eq!(again.headers["location"], "/charges/ch_1");
    assert_eq!(again.headers["idempotency-retention"], "86400");
    assert!(
        again.headers.get("set-cookie").is_none(),
        "set-cookie is never replayed"
    );
    assert!(
        again.headers.get("x-internal").is_none(),
        "only allow-listed headers"
    );
}

#[tokio::test]
async fn same_key_other_payload_is_422() {
    let (r, app, _) = setup();
    send(&r, req("/charges", Some("k"), "{\"amount\":5}")).await;
    let other = send(&r, req("/charges", Some("k"), "{\"amount\":6}")).await;
    assert_eq!(other.status, 422);
    assert_eq!(other.code(), "idempotency-key-reused");
    let other_route = send(&r, req("/declined", Some("k"), "{\"amount\":5}")).await;
    assert_eq!(other_route.status, 422);
    assert_eq!(app.runs(), 1);
}

#[tokio::test]
async fn same_key_in_flight_is_409_with_retry_after() {
    let (r, app, _) = setup();
    let first = tokio::spawn({
        let r = r.clone();
        async move { send(&r, req("/slow", Some("k"), "")).await }
    });
    entered(&app).await;
    let second = send(&r, req("/slow", Some("k"), "")).await;
    assert_eq!(second.status, 409);
    assert_eq!(second.code(), "idempotency-key-in-flight");
    assert_eq!(second.headers["retry-after"], "60");
    app.release.notify_one();
    assert_eq!(first.await.unwrap().status, 200);
    let third = send(&r, req("/slow", Some("k"), "")).await;
    assert!(third.replayed());
    assert_eq!(app.runs(), 1);
}

#[tokio::test]
async fn bad_or_missing_keys_are_400_with_stable_codes() {
    let (r, app, _) = setup();
    let long = "x".repeat(256);
    for (key, code) in [
        (None, "idempotency-key-missing"),
        (Some("\"\""), "idempotency-key-empty"),
        (Some(long.as_str()), "idempotency-key-too-long"),
        (Some("\"unterminated"), "idempotency-key-invalid"),
        (Some("a,b"), "idempotency-key-invalid"),
    ] {
        let a = send(&r, req("/charges", key, "{}")).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (400, code.to_owned()),
            "{key:?}"
        );
        assert_eq!(a.headers["content-type"], "application/problem+json");
    }
    let twice = Request::post("/charges")
        .header("x-tenant", "ten_a")
        .header("idempotency-key", "a")
        .header("idempotency-key", "b")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&r, twice).await.code(), "idempotency-key-invalid");
    assert_eq!(app.runs(), 0);
}

#[tokio::test]
async fn other_methods_pass_and_missing_caller_is_401() {
    let (r, _, _) = setup();
    let get = Request::get("/charges").body(Body::empty()).unwrap();
    assert_eq!(send(&r, get).await.status, 200);
    let anon = Request::post("/charges")
        .header("idempotency-key", "k")
        .body(Body::empty())
        .unwrap();
    let a = send(&r, anon).await;
    assert_eq!(
        (a.status.as_u16(), a.code()),
        (401, "unauthenticated".into())
    );
}

#[tokio::test]
async fn request_body_over_cap_is_413() {
    let (r, app, _) = setup();
    let a = send(&r, req("/charges", Some("k"), &"y".repeat(2000))).await;
    assert_eq!(
        (a.status.as_u16(), a.code()),
        (413, "payload-too-large".into())
    );
    // Without Content-Length (streamed), the cap still holds.
    let chunks = (0..3).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 600])));
    let streamed = Request::post("/charges")
        .header("x-tenant", "ten_a")
        .header("idempotency-key", "k2")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    assert_eq!(send(&r, streamed).await.status, 413);
    assert_eq!(app.runs(), 0);
}

#[tokio::test]
async fn operation_errors_are_stored_but_pre_operation_failures_are_not() {
    let (r, app, _) = setup();
    for _ in 0..2 {
        let a = send(&r, req("/declined", Some("d"), "")).await;
        assert_eq!(a.status, 402);
    }
    assert_eq!(app.runs(), 1, "a 4xx the operation produced is replayed");

    for _ in 0..2 {
        let a = send(&r, req("/invalid", Some("v"), "")).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (400, "invalid-request".into())
        );
        assert!(!a.replayed());
    }
    assert_eq!(app.runs(), 3, "validation errors are not stored");

    for _ in 0..2 {
        assert_eq!(
            send(&r, req("/not-executed", Some("n"), "")).await.status,
            400
        );
    }
    assert_eq!(app.runs(), 5, "NotExecuted responses are not stored");
    // The abandoned key is free for a corrected request.
    let fixed = send(&r, req("/charges", Some("v"), "{}")).await;
    assert_eq!(fixed.status, 201);
}

#[tokio::test]
async fn response_too_big_to_store_passes_through_unstored() {
    let (r, app, _) = setup();
    for _ in 0..2 {
        let a = send(&r, req("/big", Some("b"), "")).await;
        assert_eq!((a.status.as_u16(), a.body.len()), (200, 4096));
        assert!(!a.replayed());
    }
    assert_eq!(app.runs(), 2);
}

#[tokio::test]
async fn tenants_never_see_each_others_responses() {
    let (r, app, _) = setup();
    let a = send(&r, req_as("ten_a", "/charges", Some("k"), "{}")).await;
    let b = send(&r, req_as("ten_b", "/charges", Some("k"), "{}")).await;
    assert!(!b.replayed());
    assert_eq!(app.runs(), 2);
    assert_ne!(a.body, b.body);
}

#[tokio::test]
async fn concurrent_identical_requests_run_the_handler_once() {
    let (r, app, _) = setup();
    let tasks = (0..20).map(|_| {
        let r = r.clone();
        tokio::spawn(async move { send(&r, req("/charges", Some("race"), "{}")).await })
    });
    let answers: Vec<Answer> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(app.runs(), 1, "the handler ran exactly once");
    let originals = answers
        .iter()
        .filter(|a| a.status == 201 && !a.replayed())
        .count();
    assert_eq!(originals, 1);
    assert!(answers
        .iter()
        .all(|a| a.status == 201 || (a.status == 409 && a.code() == "idempotency-key-in-flight")));
}

#[tokio::test]
async fn retry_after_lock_expiry_resumes_from_recovery_point() {
    let (r, app, clock) = setup();
    let crashed = tokio::spawn({
        let r = r.clone();
        async move { send(&r, req("/phased", Some("p"), "")).await }
    });
    entered(&app).await;
    crashed.abort(); // the request dies mid-operation, after its first phase
    let early = send(&r, req("/phased", Some("p"), "")).await;
    assert_eq!(early.status, 409, "locked until the deadline");
    clock.advance(Duration::from_secs(61));
    let retry = send(&r, req("/phased", Some("p"), "")).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body, "resumed from charged at attempt 2");
    assert!(send(&r, req("/phased", Some("p"), "")).await.replayed());
}

/// A store whose backend is down: a fault injector, not a model of a store.
#[derive(Debug)]
struct DownStore;

#[async_trait::async_trait]
impl IdempotencyStore for DownStore {
    async fn idempotency_begin(
        &self,
        _: &TenantId,
        _: &IdempotencyBegin,
    ) -> Result<BeginOutcome, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    async fn idempotency_recovery_point_set(
        &self,
        _: &TenantId,
        _: &RecoveryPointSet,
    ) -> Result<EntryUpdate, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    async fn idempotency_complete(
        &self,
        _: &TenantId,
        _: &IdempotencyComplete,
    ) -> Result<EntryUpdate, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    async fn idempotency_abandon(
        &self,
        _: &TenantId,
        _: &EntryRef,
    ) -> Result<EntryUpdate, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
    async fn idempotency_expired_delete(&self, _: u32) -> Result<u64, StoreError> {
        Err(StoreError::Unavailable("down".into()))
    }
}

#[tokio::test]
async fn store_failure_is_503_with_retry_after_never_500() {
    let app = App::default();
    let r = router(Arc::new(DownStore), app.clone());
    let a = send(&r, req("/charges", Some("k"), "{}")).await;
    assert_eq!(
        (a.status.as_u16(), a.code()),
        (503, "store-unavailable".into())
    );
    assert_eq!(a.headers["retry-after"], "1");
    assert_eq!(app.runs(), 0, "the operation does not run unprotected");
}
