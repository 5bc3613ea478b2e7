//! The locks capability over HTTP: the API, bad input, metrics, and faults with real processes
//! sharing PostgreSQL or Redis (SIGKILLed holder, paused holder, racing processes, drain).

use crate::common::{assert_contains_all, eventually, problem, spawn, Api, Proc};
use palisade_testkit::backends::{postgres_or_skip, redis_or_skip, unique};
use reqwest::Response;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lock calls of a tenant's [`Api`].
impl Api {
    /// `POST /v1/locks/{path}`.
    async fn lock_post(&self, path: &str, body: Value) -> Response {
        self.post(&format!("/v1/locks/{path}"), body).await
    }

    async fn acquire(&self, name: &str, holder: &str, ttl_ms: i64, wait_ms: i64) -> Response {
        let body = json!({"holder": holder, "ttl_ms": ttl_ms, "wait_ms": wait_ms});
        self.lock_post(&format!("{name}/acquire"), body).await
    }

    /// Acquires and expects a grant; returns the lease.
    async fn granted(&self, name: &str, holder: &str, ttl_ms: i64, wait_ms: i64) -> Value {
        let r = self.acquire(name, holder, ttl_ms, wait_ms).await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        let lease: Value = r.json().await.unwrap();
        assert_eq!(lease["holder"], holder);
        assert!(lease["token"].as_u64().unwrap() > 0);
        lease
    }

    async fn renew(&self, name: &str, holder: &str, token: &Value, ttl_ms: i64) -> Response {
        let body = json!({"holder": holder, "token": token, "ttl_ms": ttl_ms});
        self.lock_post(&format!("{name}/renew"), body).await
    }

    async fn release(&self, name: &str, holder: &str, token: &Value) -> Response {
        let body = json!({"holder": holder, "token": token});
        self.lock_post(&format!("{name}/release"), body).await
    }

    async fn inspect(&self, name: &str) -> Response {
        self.get(&format!("/v1/locks/{name}")).await
    }

    /// Asserts that `holder` can neither renew nor release `lease` of `name`: both answer 409
    /// with `code`.
    async fn refused(&self, name: &str, holder: &str, lease: &Value, code: &str) {
        problem(
            self.renew(name, holder, &lease["token"], 1_000).await,
            409,
            code,
        )
        .await;
        problem(self.release(name, holder, &lease["token"]).await, 409, code).await;
    }
}

fn token(lease: &Value) -> u64 {
    lease["token"].as_u64().expect("token")
}

/// Environment of a server over PostgreSQL (schema `schema`), plus Redis for locks when given.
fn shared_env<'a>(pg: &'a str, schema: &'a str, redis: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("PALISADE_STORAGE__URL", pg),
        ("PALISADE_STORAGE__SCHEMA", schema),
    ];
    if let Some(r) = redis {
        env.push(("PALISADE_STORAGE__REDIS_URL", r));
    }
    env
}

/// Two server processes sharing PostgreSQL (and Redis for locks when `redis`), and a key.
async fn two_shared(test: &str, redis: bool) -> Option<(Proc, Proc, String)> {
    let pg = postgres_or_skip(test).await?;
    let redis = match redis {
        true => Some(redis_or_skip(test).await?),
        false => None,
    };
    let schema = unique("locks_it");
    let env = shared_env(&pg, &schema, redis.as_deref());
    let a = spawn(&env);
    let b = spawn(&env);
    let (_, key) = a.tenant_with_key(&unique("t")).await;
    Some((a, b, key))
}

#[tokio::test]
async fn acquire_renew_release_inspect_and_metrics() {
    let p = spawn(&[]);
    let api = p.tenant_api("locks-api").await;
    // A name with a slash, a space and a non-ASCII letter, percent-encoded in the path.
    let name = "cron%2Fdaily%20r%C3%A9port";
    let a = api.granted(name, "w1", 5_000, 0).await;
    assert_eq!(a["name"], "cron/daily réport");

    let held = problem(api.acquire(name, "w2", 5_000, 0).await, 409, "lock-held").await;
    assert_eq!(held["expires_at_ms"], a["expires_at_ms"]);
    assert!(
        held.get("holder").is_none() && held.get("token").is_none(),
        "{held}"
    );
    let r = api.acquire(name, "w2", 5_000, 150).await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 409, "lock-held").await;

    let seen: Value = api.inspect(name).await.json().await.unwrap();
    assert_eq!(
        (&seen["holder"], &seen["token"]),
        (&a["holder"], &a["token"])
    );

    let renewed: Value = api
        .renew(name, "w1", &a["token"], 10_000)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renewed["token"], a["token"], "renew keeps the token");
    assert!(renewed["expires_at_ms"].as_i64() > a["expires_at_ms"].as_i64());

    let wrong = json!(token(&a) + 1);
    problem(
        api.release(name, "w1", &wrong).await,
        409,
        "lock-not-holder",
    )
    .await;
    problem(
        api.release(name, "w2", &a["token"]).await,
        409,
        "lock-not-holder",
    )
    .await;
    problem(
        api.renew(name, "w2", &a["token"], 1_000).await,
        409,
        "lock-not-holder",
    )
    .await;
    assert_eq!(api.release(name, "w1", &a["token"]).await.status(), 204);
    problem(
        api.release(name, "w1", &a["token"]).await,
        409,
        "lock-not-holder",
    )
    .await;
    let missing = problem(api.inspect(name).await, 404, "not-found").await;

    let b = api.granted(name, "w2", 1_000, 0).await;
    assert!(token(&b) > token(&a), "fencing tokens increase");

    // Another tenant: the held name looks exactly like a missing one, and is a separate lock.
    let other = p.tenant_api("locks-other").await;
    let hidden = problem(other.inspect(name).await, 404, "not-found").await;
    assert_eq!(
        (&hidden["title"], &hidden["detail"]),
        (&missing["title"], &missing["detail"])
    );
    other.granted(name, "w9", 1_000, 0).await;
    problem(
        other.release(name, "w2", &b["token"]).await,
        409,
        "lock-not-holder",
    )
    .await;

    let m = p.metrics().await;
    assert_contains_all(
        &m,
        &[
            r#"palisade_locks_acquisitions_total{outcome="granted"} 3"#,
            r#"palisade_locks_acquisitions_total{outcome="held"} 2"#,
            r#"palisade_locks_contended_waits_total{outcome="timeout"} 1"#,
            r#"palisade_locks_renew_failures_total{reason="not_holder"} 1"#,
            "palisade_locks_wait_seconds",
            r#"palisade_http_requests_total{route="/v1/locks/{name}/acquire",method="POST",status="409"} 2"#,
        ],
    );
}

#[tokio::test]
async fn bad_input_is_400_naming_every_field_and_never_500() {
    let p = spawn(&[]);
    let api = p.tenant_api("locks-bad").await;
    let fields = |v: &Value| -> Vec<String> {
        let errs = v["errors"].as_array().cloned().unwrap_or_default();
        errs.iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    };
    let long = "x".repeat(201);
    let cases: Vec<(String, Value, &[&str])> = vec![
        (
            "job/acquire".into(),
            json!({"holder": "", "ttl_ms": 0, "wait_ms": -1}),
            &["holder", "ttl_ms", "wait_ms"],
        ),
        (
            format!("{long}/acquire"),
            json!({}),
            &["name", "holder", "ttl_ms"],
        ),
        (
            "%01/acquire".into(),
            json!({"holder": "h", "ttl_ms": 1000}),
            &["name"],
        ),
        (
            "job/acquire".into(),
            json!({"holder": 7, "ttl_ms": "1000"}),
            &["holder", "ttl_ms"],
        ),
        (
            "job/acquire".into(),
            json!({"holder": "h", "ttl_ms": 99}),
            &["ttl_ms"],
        ),
        (
            "job/acquire".into(),
            json!({"holder": "h", "ttl_ms": 3_600_001}),
            &["ttl_ms"],
        ),
        (
            "job/acquire".into(),
            json!({"holder": "h", "ttl_ms": 1.5}),
            &["ttl_ms"],
        ),
        (
            "job/acquire".into(),
            json!({"holder": "h", "ttl_ms": 1e30}),
            &["ttl_ms"],
        ),
        (
            "job/acquire".into(),
            json!({"holder": "h", "ttl_ms": u64::MAX}),
            &["ttl_ms"],
        ),
        (
            "job/acquire".into(),
            json!({"holder": "h", "ttl_ms": i64::MIN}),
            &["ttl_ms"],
        ),
        (
            "job/acquire".into(),
            json!({"holder": "h", "ttl_ms": 1000, "wait_ms": 60_001}),
            &["wait_ms"],
        ),
        (
            "job/acquire".into(),
            json!({"holder": "h", "ttl_ms": 1000, "wait_ms": 29_001}),
            &["wait_ms"],
        ),
        (
            "job/renew".into(),
            json!({"holder": "h", "token": -1, "ttl_ms": 0}),
            &["token", "ttl_ms"],
        ),
        (
            "job/renew".into(),
            json!({}),
            &["holder", "token", "ttl_ms"],
        ),
        (
            "job/release".into(),
            json!({"holder": "h\n", "token": "12"}),
            &["holder", "token"],
        ),
    ];
    for (path, body, expected) in cases {
        let res = api.lock_post(&path, body.clone()).await;
        let v = problem(res, 400, "invalid-request").await;
        assert_eq!(fields(&v), expected, "{path} {body}: {v}");
        for f in expected {
            assert!(v["detail"].as_str().unwrap().contains(f), "{v}");
        }
        if expected.contains(&"ttl_ms") {
            assert!(
                v["detail"].as_str().unwrap().contains("3600000"),
                "names the limits"
            );
        }
    }
    // The wait limit follows the request timeout (30 s by default).
    let r = api.lock_post(
        "job/acquire",
        json!({"holder": "h", "ttl_ms": 1000, "wait_ms": 29_001}),
    );
    let v = problem(r.await, 400, "invalid-request").await;
    assert!(v["detail"].as_str().unwrap().contains("29000"), "{v}");
    // Malformed bodies and paths.
    let raw =
        |path: &'static str, body: &'static str| api.post_raw(path, Some("application/json"), body);
    problem(raw("/v1/locks/job/acquire", "{").await, 400, "invalid-json").await;
    let typo = r#"{"holder":"h","ttl":1000}"#;
    problem(
        raw("/v1/locks/job/acquire", typo).await,
        400,
        "invalid-request",
    )
    .await;
    problem(
        raw("/v1/locks/%FF/acquire", "{}").await,
        400,
        "invalid-path",
    )
    .await;
    problem(api.inspect(&long).await, 400, "invalid-request").await;
    let anon = api
        .c
        .post(format!("{}/v1/locks/job/acquire", api.url))
        .json(&json!({}));
    problem(anon.send().await.unwrap(), 401, "unauthenticated").await;
    // Wrong proof on a held lock: 409 with a code, not a 500.
    let lease = api.granted("job", "h", 1_000, 0).await;
    let bad = json!(u64::MAX);
    problem(api.release("job", "h", &bad).await, 409, "lock-not-holder").await;
    problem(
        api.renew("job", "other", &lease["token"], 1_000).await,
        409,
        "lock-not-holder",
    )
    .await;
    let m = p.metrics().await;
    assert!(!m.contains(r#"status="500""#), "no 500 at all:\n{m}");
}

/// `storage.redis_prefix` prefixes every Redis key, so deployments can share one Redis.
#[tokio::test]
async fn redis_keys_carry_the_configured_prefix() {
    let Some(redis) = redis_or_skip("redis_keys_carry_the_configured_prefix").await else {
        return;
    };
    let prefix = unique("dep");
    let p = spawn(&[
        ("PALISADE_STORAGE__REDIS_URL", &redis),
        ("PALISADE_STORAGE__REDIS_PREFIX", &prefix),
    ]);
    let api = p.tenant_api("prefixed").await;
    api.granted("report", "h", 5_000, 0).await;
    let scan = |pattern: String| {
        let out = std::process::Command::new("redis-cli")
            .args(["-u", &redis, "--scan", "--pattern", &pattern])
            .output()
            .expect("redis-cli runs");
        String::from_utf8(out.stdout).unwrap()
    };
    let ours = scan(format!("{prefix}:locks:*"));
    assert!(
        ours.contains(":lease:report"),
        "lease under the prefix: {ours}"
    );
    assert!(
        ours.contains(":meta:report"),
        "counter under the prefix: {ours}"
    );
    let tenant = ours
        .split('{')
        .nth(1)
        .and_then(|s| s.split('}').next())
        .unwrap();
    let default = scan(format!("pal:locks:{{{tenant}}}:*"));
    assert!(
        default.trim().is_empty(),
        "nothing under the default prefix: {default}"
    );
}

/// Each refusal says what is wrong: a text TTL is not "out of range", a token beyond 64 bits is
/// not "required", and the holder re-acquiring its own lock is not told of "another holder".
#[tokio::test]
async fn lock_answers_say_what_is_wrong() {
    let p = spawn(&[]);
    let api = p.tenant_api("locks-words").await;
    let detail = |v: Value| v["errors"][0]["message"].as_str().unwrap().to_owned();
    let r = api.lock_post("a/acquire", json!({"holder": "h", "ttl_ms": "1000"}));
    let d = detail(problem(r.await, 400, "invalid-request").await);
    assert!(d.contains("whole number of milliseconds"), "{d}");
    let big = serde_json::from_str::<Value>("18446744073709551616").unwrap();
    let r = api.lock_post("a/release", json!({"holder": "h", "token": big}));
    let d = detail(problem(r.await, 400, "invalid-request").await);
    assert!(!d.starts_with("required") && d.contains("2^64-1"), "{d}");
    let r = api.lock_post("a/release", json!({"holder": "h"}));
    let d = detail(problem(r.await, 400, "invalid-request").await);
    assert!(d.starts_with("required"), "{d}");
    api.granted("a", "h", 5_000, 0).await;
    let again = api.lock_post("a/acquire", json!({"holder": "h", "ttl_ms": 1000}));
    let v = problem(again.await, 409, "lock-held").await;
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("this holder already has"),
        "{v}"
    );
    let other = api.lock_post("a/acquire", json!({"holder": "g", "ttl_ms": 1000}));
    let v = problem(other.await, 409, "lock-held").await;
    assert!(
        v["detail"].as_str().unwrap().contains("another holder"),
        "{v}"
    );
}

/// A holder paused past its TTL cannot renew or release, and its successor's token is higher.
async fn paused_holder(api: &Api) {
    let name = unique("paused");
    let a = api.granted(&name, "a", 300, 0).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    api.refused(&name, "a", &a, "lock-expired").await;
    let b = api.granted(&name, "b", 5_000, 0).await;
    assert!(token(&b) > token(&a), "successor's token is higher");
    api.refused(&name, "a", &a, "lock-not-holder").await;
    let seen: Value = api.inspect(&name).await.json().await.unwrap();
    assert_eq!(
        (&seen["holder"], &seen["token"]),
        (&b["holder"], &b["token"])
    );
}

#[tokio::test]
async fn paused_holder_cannot_renew_or_release_embedded() {
    let p = spawn(&[]);
    paused_holder(&p.tenant_api("locks-paused").await).await;
}

#[tokio::test]
async fn paused_holder_cannot_renew_or_release_postgres_and_redis() {
    for redis in [false, true] {
        let Some((a, b, key)) = two_shared("locks_paused", redis).await else {
            return;
        };
        paused_holder(&a.api(&key)).await;
        paused_holder(&b.api(&key)).await;
    }
}

/// Process A takes the lock (TTL 1 s) and is SIGKILLed; process B gets it once the lease
/// expires, within TTL + a small bound, with a higher token.
async fn sigkill_holder(redis: bool) {
    let Some((mut a, b, key)) = two_shared("locks_sigkill", redis).await else {
        return;
    };
    let (api_a, api_b) = (a.api(&key), b.api(&key));
    let name = unique("killed");
    let t0 = Instant::now();
    let first = api_a.granted(&name, "process-a", 1_000, 0).await;
    a.child.kill().unwrap(); // SIGKILL: no release, no cleanup.
    a.child.wait().unwrap();
    problem(
        api_b.acquire(&name, "process-b", 1_000, 0).await,
        409,
        "lock-held",
    )
    .await;
    let second = api_b.granted(&name, "process-b", 5_000, 5_000).await;
    let waited = t0.elapsed();
    assert!(token(&second) > token(&first), "{first} then {second}");
    assert!(
        waited >= Duration::from_millis(950),
        "not before expiry: {waited:?}"
    );
    assert!(
        waited <= Duration::from_millis(1_000 + 500),
        "TTL + 500 ms: {waited:?}"
    );
}

#[tokio::test]
async fn sigkilled_holder_lock_is_taken_after_ttl_postgres() {
    sigkill_holder(false).await;
}

#[tokio::test]
async fn sigkilled_holder_lock_is_taken_after_ttl_redis() {
    sigkill_holder(true).await;
}

/// The shared record the lock protects: each grant writes its token, which must exceed every
/// earlier one, and `inside` counts holders in the critical section (must never exceed 1).
struct Fence {
    pool: sqlx::PgPool,
    table: String,
}

impl Fence {
    async fn create(pg: &str) -> Self {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(6)
            .connect(pg)
            .await
            .unwrap();
        let table = unique("fence");
        let ddl = format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, token BIGINT NOT NULL, \
             owner TEXT NOT NULL, inside INT NOT NULL, writes BIGINT NOT NULL)"
        );
        sqlx::query(&ddl).execute(&pool).await.unwrap();
        let seed = format!("INSERT INTO {table} VALUES (1, 0, '', 0, 0)");
        sqlx::query(&seed).execute(&pool).await.unwrap();
        Self { pool, table }
    }

    /// Enters with `token`: refused (an error) unless the token is the highest yet and no
    /// one else is inside.
    async fn enter(&self, token: u64, owner: &str) -> Result<(), String> {
        let t = &self.table;
        let q = format!(
            "UPDATE {t} SET token = $1, owner = $2, inside = inside + 1, writes = writes + 1 \
             WHERE id = 1 AND token < $1 RETURNING inside"
        );
        let row: Option<(i32,)> = sqlx::query_as(&q)
            .bind(token as i64)
            .bind(owner)
            .fetch_optional(&self.pool)
            .await
            .unwrap();
        match row {
            Some((1,)) => Ok(()),
            Some((n,)) => Err(format!("{owner} entered with {n} inside (token {token})")),
            None => Err(format!("{owner}'s token {token} is not above the last one")),
        }
    }

    async fn leave(&self) {
        let q = format!("UPDATE {} SET inside = inside - 1 WHERE id = 1", self.table);
        sqlx::query(&q).execute(&self.pool).await.unwrap();
    }

    async fn writes(&self) -> i64 {
        let q = format!("SELECT writes FROM {} WHERE id = 1", self.table);
        sqlx::query_as::<_, (i64,)>(&q)
            .fetch_one(&self.pool)
            .await
            .unwrap()
            .0
    }

    async fn drop_table(&self) {
        let q = format!("DROP TABLE {}", self.table);
        sqlx::query(&q).execute(&self.pool).await.unwrap();
    }
}

/// Grants per backend in the race test (4 workers over 2 processes), as the issue asks.
const RACE_GRANTS: u64 = 10_000;

/// One worker: acquire (waiting), enter the fenced record, leave, release; until `RACE_GRANTS`
/// grants have been made across all workers. Returns its own grant count.
async fn race_worker(api: Api, fence: Arc<Fence>, me: String, done: Arc<AtomicU64>) -> u64 {
    let mut mine = 0;
    while done.fetch_add(1, Ordering::SeqCst) < RACE_GRANTS {
        let lease = api.granted("race", &me, 5_000, 10_000).await;
        fence.enter(token(&lease), &me).await.unwrap();
        fence.leave().await;
        let r = api.release("race", &me, &lease["token"]).await;
        assert_eq!(r.status(), 204, "{me}: {:?}", r.text().await);
        mine += 1;
    }
    mine
}

async fn race(redis: bool) {
    let Some((a, b, key)) = two_shared("locks_race", redis).await else {
        return;
    };
    let fence = Arc::new(Fence::create(&postgres_or_skip("locks_race").await.unwrap()).await);
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for (p, proc_name) in [(&a, "a"), (&b, "b")] {
        for i in 0..2 {
            let w = race_worker(
                p.api(&key),
                fence.clone(),
                format!("{proc_name}{i}"),
                done.clone(),
            );
            workers.push(tokio::spawn(w));
        }
    }
    let mut per_worker = Vec::new();
    for w in workers {
        per_worker.push(w.await.unwrap());
    }
    let total: u64 = per_worker.iter().sum();
    eprintln!(
        "locks race (redis: {redis}): {total} grants in {:?}, per worker {per_worker:?}",
        started.elapsed()
    );
    assert_eq!(total, RACE_GRANTS);
    assert_eq!(
        fence.writes().await as u64,
        RACE_GRANTS,
        "every grant wrote once"
    );
    let (from_a, from_b) = (per_worker[0] + per_worker[1], per_worker[2] + per_worker[3]);
    assert!(
        from_a > 0 && from_b > 0,
        "both processes held the lock: {per_worker:?}"
    );
    fence.drop_table().await;
}

#[tokio::test]
async fn racing_processes_never_hold_at_once_postgres() {
    race(false).await;
}

#[tokio::test]
async fn racing_processes_never_hold_at_once_redis() {
    race(true).await;
}

#[tokio::test]
async fn sigterm_answers_a_waiting_acquire_before_exit() {
    let mut p = spawn(&[]);
    let api = p.tenant_api("locks-drain").await;
    let lease = api.granted("drain", "holder", 30_000, 0).await;
    let waiter = {
        let api = api.clone();
        tokio::spawn(async move {
            let r = api.acquire("drain", "waiter", 1_000, 20_000).await;
            (Instant::now(), r.status(), r.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Instant::now();
    let pid = p.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(killed.unwrap().success());
    let (answered, status, body) = waiter.await.unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "lock-held");
    assert_eq!(body["expires_at_ms"], lease["expires_at_ms"]);
    assert!(
        answered - sent < Duration::from_secs(3),
        "the wait ended at shutdown"
    );
    let mut status = None;
    let exited = eventually(Duration::from_secs(10), || {
        status = p.child.try_wait().unwrap();
        status.is_some()
    })
    .await;
    assert!(
        exited && status.unwrap().success(),
        "clean exit after answering"
    );
    assert!(p.stderr().contains(r#""drained":true"#), "{}", p.stderr());
}

#[tokio::test]
async fn openapi_documents_the_lock_routes_with_409() {
    let p = spawn(&[]);
    let doc = p.openapi().await;
    let paths = &doc["paths"];
    for (path, method, conflict) in [
        ("/v1/locks/{name}/acquire", "post", true),
        ("/v1/locks/{name}/renew", "post", true),
        ("/v1/locks/{name}/release", "post", true),
        ("/v1/locks/{name}", "get", false),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} undocumented");
        for code in ["400", "401", "404", "500", "503"] {
            assert!(
                op["responses"][code].is_object(),
                "{method} {path} lacks {code}"
            );
        }
        assert_eq!(
            op["responses"]["409"].is_object(),
            conflict,
            "{method} {path} 409"
        );
    }
    let lease = &doc["components"]["schemas"]["LockLeaseView"]["properties"];
    assert!(
        lease["token"].is_object(),
        "the token is in every lease answer"
    );
}
