//! The idempotency capability over HTTP: the API, bad input, retention and metrics, and
//! exactly-once under 1,000 concurrent requests against three processes sharing PostgreSQL or
//! Redis, with a SIGKILLed process whose entry a retry takes over after the lock deadline.

use crate::common::{
    assert_config_errors, assert_contains_all, check_config, problem, spawn, temp_dir, Api, Proc,
};
use palisade_testkit::backends::{postgres_or_skip, redis_or_skip, unique};
use reqwest::Response;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request's body digest for `begin` (the test plays an app that hashes its bodies).
fn digest(body: &str) -> String {
    palisade_core::secret::sha256_hex(body.as_bytes())
}

/// The idempotency calls of a tenant's [`Api`].
impl Api {
    /// `POST /v1/idempotency/{op}`.
    async fn idem_post(&self, op: &str, body: Value) -> Response {
        self.post(&format!("/v1/idempotency/{op}"), body).await
    }

    /// Begins `key` for `POST /charges` with `body`.
    async fn begin(&self, key: &str, body: &str) -> Response {
        let request = json!({"method": "POST", "route": "/charges", "body_sha256": digest(body)});
        self.idem_post("begin", json!({"key": key, "request": request}))
            .await
    }

    /// Begins and expects `proceed`; returns the answer.
    async fn proceed(&self, key: &str, body: &str) -> Value {
        let r = self.begin(key, body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["idempotency-retention"], "86400");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "proceed", "{v}");
        v
    }

    async fn complete(&self, key: &str, token: &Value, status: u16, body: &str) -> Response {
        let response = json!({
            "status": status,
            "headers": [{"name": "Content-Type", "value": "application/json"},
                        {"name": "set-cookie", "value": "session=secret"}],
            "body_base64": b64(body),
        });
        let body = json!({"key": key, "entry_token": token, "response": response});
        self.idem_post("complete", body).await
    }
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Asserts a replay of `status` and `body` with only the allow-listed header.
async fn assert_replay(r: Response, status: u16, body: &str) {
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "replay", "{v}");
    assert_eq!(v["response"]["status"], status);
    assert_eq!(
        v["response"]["headers"],
        json!([{"name": "content-type", "value": "application/json"}]),
        "only allow-listed headers are stored"
    );
    assert_eq!(v["response"]["body_base64"], b64(body));
}

#[tokio::test]
async fn begin_recovery_complete_replay_scopes_and_metrics() {
    let p = spawn(&[]);
    let api = p.tenant_api("idem-api").await;
    let first = api.proceed("order-1", r#"{"amount":5}"#).await;
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["recovery_point"], Value::Null);
    let token = &first["entry_token"];

    let busy = api.begin("order-1", r#"{"amount":5}"#).await;
    assert!(
        busy.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    problem(busy, 409, "idempotency-key-in-flight").await;
    let reused = api.begin("order-1", r#"{"amount":6}"#).await;
    problem(reused, 422, "idempotency-key-reused").await;

    let rp = json!({"key": "order-1", "entry_token": token, "name": "charged", "data": {"c": 1}});
    assert_eq!(api.idem_post("recovery-point", rp).await.status(), 204);
    let done = api
        .complete("order-1", token, 402, r#"{"error":"card"}"#)
        .await;
    assert_eq!(done.status(), 204);
    assert_eq!(done.headers()["idempotency-retention"], "86400");

    // The stored result (a 4xx the operation produced) replays, under every form of the key.
    assert_replay(
        api.begin("order-1", r#"{"amount":5}"#).await,
        402,
        r#"{"error":"card"}"#,
    )
    .await;
    let request = json!({"method": "post", "route": "/charges", "body_sha256": digest(r#"{"amount":5}"#).to_uppercase()});
    for header in [r#""order-1""#, "order-1", " \"order-1\"\t"] {
        let r = api
            .idem_post("begin", json!({"key_header": header, "request": request}))
            .await;
        assert_replay(r, 402, r#"{"error":"card"}"#).await;
    }
    let again = api.complete("order-1", token, 200, "{}").await;
    problem(again, 409, "idempotency-entry-completed").await;

    // Scopes: another tenant, and a principal the app names, do not see the entry.
    let other = p.tenant_api("idem-other").await;
    assert_eq!(
        other.proceed("order-1", r#"{"amount":5}"#).await["attempt"],
        1
    );
    let request =
        json!({"method": "POST", "route": "/charges", "body_sha256": digest(r#"{"amount":5}"#)});
    let as_user = json!({"key": "order-1", "principal": "user-7", "request": request});
    let r: Value = api
        .idem_post("begin", as_user.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "proceed", "{r}");
    let user_token = &r["entry_token"];
    let wrong = json!({"key": "order-1", "principal": "user-7", "entry_token": "x".repeat(32)});
    problem(
        api.idem_post("abandon", wrong).await,
        409,
        "idempotency-entry-token-mismatch",
    )
    .await;
    let abandon = json!({"key": "order-1", "principal": "user-7", "entry_token": user_token});
    assert_eq!(
        api.idem_post("abandon", abandon.clone()).await.status(),
        204
    );
    problem(
        api.idem_post("abandon", abandon).await,
        404,
        "idempotency-entry-not-found",
    )
    .await;
    let late = json!({"key": "order-1", "principal": "user-7", "entry_token": user_token,
                      "response": {"status": 200}});
    problem(
        api.idem_post("complete", late).await,
        404,
        "idempotency-entry-not-found",
    )
    .await;
    let r: Value = api.idem_post("begin", as_user).await.json().await.unwrap();
    assert_eq!(
        (&r["status"], &r["attempt"]),
        (&json!("proceed"), &json!(1))
    );

    // The app's own fingerprint instead of the request.
    let fp = json!({"key": "order-2", "fingerprint": "v1:abc"});
    let r: Value = api.idem_post("begin", fp).await.json().await.unwrap();
    assert_eq!(r["status"], "proceed");
    let fp = json!({"key": "order-2", "fingerprint": "v1:abd"});
    problem(
        api.idem_post("begin", fp).await,
        422,
        "idempotency-key-reused",
    )
    .await;

    let m = api.metrics().await;
    assert_contains_all(
        &m,
        &[
            r#"palisade_idempotency_begins_total{outcome="new"} 5"#,
            r#"palisade_idempotency_begins_total{outcome="conflict"} 1"#,
            r#"palisade_idempotency_begins_total{outcome="mismatch"} 2"#,
            r#"palisade_idempotency_begins_total{outcome="replay"} 4"#,
        ],
    );
}

#[tokio::test]
async fn bad_input_is_400_with_stable_codes_and_never_500() {
    let p = spawn(&[("PALISADE_HTTP__BODY_LIMIT", "4MiB")]);
    let api = p.tenant_api("idem-bad").await;
    let fp = "f";
    for (body, code) in [
        (json!({"fingerprint": fp}), "idempotency-key-missing"),
        (
            json!({"key": "", "fingerprint": fp}),
            "idempotency-key-empty",
        ),
        (
            json!({"key": "k".repeat(256), "fingerprint": fp}),
            "idempotency-key-too-long",
        ),
        (
            json!({"key": "a\nb", "fingerprint": fp}),
            "idempotency-key-invalid",
        ),
        (
            json!({"key": "ключ", "fingerprint": fp}),
            "idempotency-key-invalid",
        ),
        (
            json!({"key_header": "\"abc", "fingerprint": fp}),
            "idempotency-key-invalid",
        ),
        (
            json!({"key_header": "\"k\";a=1", "fingerprint": fp}),
            "idempotency-key-invalid",
        ),
        (
            json!({"key_header": "a b", "fingerprint": fp}),
            "idempotency-key-invalid",
        ),
        (
            json!({"key_header": "   ", "fingerprint": fp}),
            "idempotency-key-empty",
        ),
        (
            json!({"key": "k", "key_header": "k", "fingerprint": fp}),
            "invalid-request",
        ),
        (json!({"key": "k"}), "invalid-request"),
        (
            json!({"key": "k", "fingerprint": fp, "request": {"method": "POST", "route": "/", "body_sha256": "0".repeat(64)}}),
            "invalid-request",
        ),
        (json!({"key": "k", "fingerprint": ""}), "invalid-request"),
        (
            json!({"key": "k", "fingerprint": fp, "principal": ""}),
            "invalid-request",
        ),
        (
            json!({"key": "k", "fingerprint": fp, "principal": "a\u{0}b"}),
            "invalid-request",
        ),
        (
            json!({"key": "k", "request": {"method": "PO ST", "route": "/", "body_sha256": "0".repeat(64)}}),
            "invalid-request",
        ),
        (
            json!({"key": "k", "request": {"method": "POST", "route": "", "body_sha256": "0".repeat(64)}}),
            "invalid-request",
        ),
        (
            json!({"key": "k", "request": {"method": "POST", "route": "/", "body_sha256": "xyz"}}),
            "invalid-request",
        ),
        (
            json!({"key": "k", "fingerprint": fp, "extra": 1}),
            "invalid-request",
        ),
        (json!({"key": 5, "fingerprint": fp}), "invalid-request"),
        (json!([]), "invalid-request"),
    ] {
        let r = api.idem_post("begin", body.clone()).await;
        let got = problem(r, 400, code).await;
        assert!(got["detail"].is_string(), "{body} → {got}");
    }
    let missing = problem(
        api.idem_post("begin", json!({"fingerprint": fp})).await,
        400,
        "idempotency-key-missing",
    )
    .await;
    let detail = missing["detail"].as_str().unwrap();
    assert!(
        detail.contains("key field") && !detail.starts_with("the Idempotency-Key header"),
        "the API's own field is named: {detail}"
    );
    let invalid = problem(
        api.idem_post("begin", json!({"key": "k", "principal": "", "request": {"method": "", "route": "/", "body_sha256": "0"}})).await,
        400,
        "invalid-request",
    )
    .await;
    assert_eq!(invalid["errors"].as_array().unwrap().len(), 2, "{invalid}");

    let began: Value = api
        .idem_post("begin", json!({"key": "k", "fingerprint": fp}))
        .await
        .json()
        .await
        .unwrap();
    let token = &began["entry_token"];
    let huge = "x".repeat((1 << 20) + 1);
    for (op, body) in [
        (
            "complete",
            json!({"key": "k", "entry_token": token, "response": {"status": 99}}),
        ),
        (
            "complete",
            json!({"key": "k", "entry_token": token, "response": {"status": 600}}),
        ),
        (
            "complete",
            json!({"key": "k", "entry_token": token, "response": {"status": 200, "body_base64": "***"}}),
        ),
        (
            "complete",
            json!({"key": "k", "entry_token": token, "response": {"status": 200, "body_base64": b64(&huge)}}),
        ),
        (
            "complete",
            json!({"key": "k", "entry_token": token, "response": {"status": 200, "headers": [{"name": "bad name", "value": "v"}]}}),
        ),
        (
            "complete",
            json!({"key": "k", "entry_token": token, "response": {"status": 200, "headers": [{"name": "etag", "value": "a\u{7f}"}]}}),
        ),
        (
            "complete",
            json!({"key": "k", "entry_token": "", "response": {"status": 200}}),
        ),
        (
            "recovery-point",
            json!({"key": "k", "entry_token": token, "name": "", "data": 1}),
        ),
        (
            "recovery-point",
            json!({"key": "k", "entry_token": token, "name": "n", "data": "x".repeat(70_000)}),
        ),
        ("abandon", json!({"key": "k", "entry_token": "t\u{1}"})),
    ] {
        let r = api.idem_post(op, body.clone()).await;
        assert_eq!(r.status(), 400, "{op} {:.200}", body.to_string());
        problem(r, 400, "invalid-request").await;
    }
    let no_key = json!({"entry_token": token, "response": {"status": 200}});
    problem(
        api.idem_post("complete", no_key).await,
        400,
        "idempotency-key-missing",
    )
    .await;
    let too_big = json!({"key": "k", "fingerprint": "x".repeat(5 << 20)});
    // The server answers 413 before reading the whole body and closes the connection; its
    // `Connection: close` keeps the shared client from reusing it for the requests below
    // (without it they failed now and then with an incomplete message).
    let r = api.idem_post("begin", too_big).await;
    assert_eq!(r.headers()["connection"], "close");
    problem(r, 413, "payload-too-large").await;
    let anon = reqwest::Client::new()
        .post(p.at("/v1/idempotency/begin"))
        .json(&json!({}))
        .send();
    problem(anon.await.unwrap(), 401, "unauthenticated").await;
    // Nothing above stored anything: the entry is still in flight under its token.
    let r = api.complete("k", token, 201, "{}").await;
    assert_eq!(r.status(), 204);
    assert!(!api.metrics().await.contains("status=\"500\""));
}

/// Polls /metrics until `line` shows up or `limit` passes.
async fn metrics_eventually(api: &Api, line: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let m = api.metrics().await;
        if m.contains(line) || start.elapsed() > limit {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn expired_entries_are_swept_counted_and_reusable() {
    let p = spawn(&[
        ("PALISADE_IDEMPOTENCY__TTL", "1s"),
        ("PALISADE_IDEMPOTENCY__LOCK_TIMEOUT", "1s"),
        ("PALISADE_IDEMPOTENCY__SWEEP_INTERVAL", "100ms"),
    ]);
    let api = p.tenant_api("idem-sweep").await;
    let r = api.begin("k", "{}").await;
    assert_eq!(r.headers()["idempotency-retention"], "1");
    let v: Value = r.json().await.unwrap();
    let done = api.complete("k", &v["entry_token"], 200, "{}").await;
    assert_eq!(done.headers()["idempotency-retention"], "1");
    let line = "palisade_idempotency_expired_total 1";
    let m = metrics_eventually(&api, line, Duration::from_secs(5)).await;
    assert!(m.contains(line), "{m}");
    let late = api.complete("k", &v["entry_token"], 200, "{}").await;
    problem(late, 404, "idempotency-entry-not-found").await;
    let v: Value = api.begin("k", "{\"other\":1}").await.json().await.unwrap();
    assert_eq!(
        (&v["status"], &v["attempt"]),
        (&json!("proceed"), &json!(1))
    );
}

#[test]
fn config_requires_redis_for_the_redis_store_and_checks_durations() {
    let out = check_config(
        &temp_dir(),
        &[
            ("PALISADE_IDEMPOTENCY__STORE", "redis"),
            ("PALISADE_IDEMPOTENCY__LOCK_TIMEOUT", "10ms"),
            ("PALISADE_IDEMPOTENCY__SWEEP_INTERVAL", "2h"),
        ],
    );
    assert_config_errors(
        &out,
        &[
            "idempotency.store",
            "idempotency.lock_timeout",
            "idempotency.sweep_interval",
        ],
    );
}

/// Environment of a server over PostgreSQL (schema `schema`), with idempotency in Redis when given.
fn shared_env(pg: &str, schema: &str, redis: Option<&str>, lock: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("PALISADE_STORAGE__URL", pg),
        ("PALISADE_STORAGE__SCHEMA", schema),
        ("PALISADE_STORAGE__POOL_SIZE", "8"),
        ("PALISADE_STORAGE__ACQUIRE_TIMEOUT", "20s"),
        ("PALISADE_IDEMPOTENCY__LOCK_TIMEOUT", lock),
    ];
    if let Some(r) = redis {
        env.push(("PALISADE_STORAGE__REDIS_URL", r));
        env.push(("PALISADE_IDEMPOTENCY__STORE", "redis"));
    }
    env.into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `n` server processes sharing PostgreSQL (and Redis for idempotency when `redis`), and a key.
async fn shared(test: &str, redis: bool, n: usize, lock: &str) -> Option<(Vec<Proc>, String)> {
    let pg = postgres_or_skip(test).await?;
    let redis = match redis {
        true => Some(redis_or_skip(test).await?),
        false => None,
    };
    let schema = unique("idem_it");
    let env = shared_env(&pg, &schema, redis.as_deref(), lock);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let first = spawn(&env); // migrates the schema before the others start
    let mut procs = vec![first];
    procs.extend((1..n).map(|_| spawn(&env)));
    let (_, key) = procs[0].tenant_with_key(&unique("t")).await;
    Some((procs, key))
}

/// What one of the concurrent callers got.
enum Got {
    Ran,
    InFlight,
    Replayed,
}

/// One caller playing the app: begin; only on `proceed` run the operation (count it) and
/// complete; otherwise accept 409 in flight or the replay of the one result.
async fn caller(api: Api, key: String, ran: Arc<AtomicU64>) -> Got {
    let r = api.begin(&key, r#"{"amount":100}"#).await;
    match r.status().as_u16() {
        409 => {
            problem(r, 409, "idempotency-key-in-flight").await;
            Got::InFlight
        }
        200 => {
            let v: Value = r.json().await.unwrap();
            if v["status"] == "replay" {
                assert_eq!(v["response"]["body_base64"], b64(r#"{"charge":"ch_1"}"#));
                return Got::Replayed;
            }
            assert_eq!(v["status"], "proceed", "{v}");
            ran.fetch_add(1, Ordering::SeqCst);
            // The operation takes a while, so that many callers arrive while it is in flight.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let done = api
                .complete(&key, &v["entry_token"], 201, r#"{"charge":"ch_1"}"#)
                .await;
            assert_eq!(done.status(), 204, "{:?}", done.text().await);
            Got::Ran
        }
        s => panic!("unexpected {s}: {:?}", r.text().await),
    }
}

/// 1,000 concurrent begins of one key spread over three processes: the operation runs once,
/// every other caller gets 409 or the replay; a changed body then gets 422.
async fn thousand_concurrent(redis: bool) {
    let Some((procs, key)) = shared("idem_thousand", redis, 3, "60s").await else {
        return;
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(400)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let apis: Vec<Api> = procs
        .iter()
        .map(|p| {
            let mut api = Api::with_client(client.clone(), &p.url, &key);
            api.metrics_key = Some(p.operator_key());
            api
        })
        .collect();
    let idem_key = unique("charge");
    let ran = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..1_000)
        .map(|i| tokio::spawn(caller(apis[i % 3].clone(), idem_key.clone(), ran.clone())))
        .collect();
    let (mut done, mut in_flight, mut replayed) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Got::Ran => done += 1,
            Got::InFlight => in_flight += 1,
            Got::Replayed => replayed += 1,
        }
    }
    let took = t0.elapsed();
    eprintln!("1000 begins: ran {done}, 409 {in_flight}, replay {replayed} in {took:?}");
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "the operation ran exactly once"
    );
    assert_eq!((done, in_flight + replayed), (1, 999));
    assert!(took < Duration::from_secs(30), "bounded: {took:?}");
    for api in &apis {
        let r = api.begin(&idem_key, r#"{"amount":100}"#).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "replay", "every process replays: {v}");
        let changed = api.begin(&idem_key, r#"{"amount":101}"#).await;
        problem(changed, 422, "idempotency-key-reused").await;
    }
    let mut begins = 0.0;
    for api in &apis {
        let m = api.metrics().await;
        begins += m
            .lines()
            .filter(|l| l.starts_with("palisade_idempotency_begins_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    assert_eq!(begins, 1_000.0 + 6.0, "every begin is counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_requests_run_once_postgres() {
    thousand_concurrent(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_requests_run_once_redis() {
    thousand_concurrent(true).await;
}

/// Process A begins and records a recovery point, then is SIGKILLed mid-operation; a retry
/// against B gets 409 until the lock deadline, then proceeds with A's recovery point; A's
/// token can no longer complete.
async fn killed_mid_request(redis: bool) {
    let Some((mut procs, key)) = shared("idem_sigkill", redis, 2, "1s").await else {
        return;
    };
    let b = procs.pop().unwrap();
    let mut a = procs.pop().unwrap();
    let (api_a, api_b) = (a.api(&key), b.api(&key));
    let k = unique("killed");
    let body = r#"{"amount":7}"#;
    let first = api_a.begin(&k, body).await.json::<Value>().await.unwrap();
    assert_eq!(first["status"], "proceed");
    let rp = json!({"key": k, "entry_token": first["entry_token"], "name": "charged",
                    "data": {"charge": "ch_9"}});
    assert_eq!(api_a.idem_post("recovery-point", rp).await.status(), 204);
    let t0 = Instant::now(); // the lock now runs 1 s from here
    a.child.kill().unwrap(); // SIGKILL mid-operation: no complete, no abandon.
    a.child.wait().unwrap();
    problem(
        api_b.begin(&k, body).await,
        409,
        "idempotency-key-in-flight",
    )
    .await;
    let retry = loop {
        let r = api_b.begin(&k, body).await;
        if r.status() == 200 {
            break r.json::<Value>().await.unwrap();
        }
        problem(r, 409, "idempotency-key-in-flight").await;
        assert!(t0.elapsed() < Duration::from_secs(5), "lock never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "not before the deadline: {waited:?}"
    );
    assert_eq!(retry["status"], "proceed", "{retry}");
    assert_eq!(retry["attempt"], 2);
    assert_eq!(
        retry["recovery_point"],
        json!({"name": "charged", "data": {"charge": "ch_9"}})
    );
    let done = api_b.complete(&k, &retry["entry_token"], 201, "{}").await;
    assert_eq!(done.status(), 204);
    let stale = api_b.complete(&k, &first["entry_token"], 500, "{}").await;
    problem(stale, 409, "idempotency-entry-token-mismatch").await;
    let m = api_b.metrics().await;
    assert!(
        m.contains("palisade_idempotency_lock_expirations_total 1"),
        "{m}"
    );
}

#[tokio::test]
async fn killed_process_entry_is_taken_over_after_lock_deadline_postgres() {
    killed_mid_request(false).await;
}

#[tokio::test]
async fn killed_process_entry_is_taken_over_after_lock_deadline_redis() {
    killed_mid_request(true).await;
}

#[tokio::test]
async fn openapi_documents_the_idempotency_routes() {
    let p = spawn(&[]);
    let doc = p.openapi().await;
    for op in ["begin", "recovery-point", "complete", "abandon"] {
        let path = format!("/v1/idempotency/{op}");
        let post = &doc["paths"][&path]["post"];
        for code in ["400", "401", "409", "422", "500", "503"] {
            assert!(post["responses"][code].is_object(), "{path} lacks {code}");
        }
    }
    let view = &doc["components"]["schemas"]["BeginView"];
    assert!(view.to_string().contains("entry_token"), "{view}");
}
