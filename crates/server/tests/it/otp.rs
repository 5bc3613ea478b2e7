//! `/v1/otp` against real servers: issue and single-use verify, bad input, identical answers for
//! unknown identities, per-IP quotas, 1,000 concurrent verifies of one code, and a 1,000-IP
//! brute force across three instances sharing PostgreSQL that stops at the per-identity limit
//! and locks out at `otp.lockout_after` (both storms also with OTP state in Redis), and where
//! state lives when Redis is configured.

use crate::common::{drop_schema, problem, spawn, spawn_in, temp_dir, Api, Proc};

const OP_KEY: &str = "pal_op_otp_multi_instance_0123456789abcdef";
use palisade_testkit::backends;
use reqwest::Response;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

async fn issue(a: &Api, identity: &str, ip: &str) -> Response {
    a.post("/v1/otp/issue", json!({"identity": identity, "ip": ip}))
        .await
}

async fn verify(a: &Api, identity: &str, code: &str, ip: &str) -> Response {
    let body = json!({"identity": identity, "code": code, "ip": ip});
    a.post("/v1/otp/verify", body).await
}

/// A fresh code for `identity`.
async fn code_for(a: &Api, identity: &str) -> String {
    let res = issue(a, identity, "198.51.100.1").await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    v["code"].as_str().unwrap().to_owned()
}

/// The progressive delay off, for tests of the other limits.
const NO_DELAY: (&str, &str) = ("PALISADE_OTP__DELAY_BASE", "0s");
/// 1,000 verifies of one identity queue on its row: let each wait for a connection (the
/// default 2 s answers 503 past it, which a loaded machine reaches).
const PATIENT: (&str, &str) = ("PALISADE_STORAGE__ACQUIRE_TIMEOUT", "60s");

/// A wrong code of the default shape (10 digits) different from `code`.
fn wrong(code: &str) -> String {
    let last = code.as_bytes()[9];
    format!("{}{}", &code[..9], if last == b'0' { '1' } else { '0' })
}

/// The `i`-th of many distinct end-user addresses.
fn ip(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

#[tokio::test]
async fn issue_then_verify_once_with_no_store() {
    let p = spawn(&[]);
    let a = p.tenant_api("otp-once").await;
    let res = issue(&a, "alice@example.com", "198.51.100.1").await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let v: Value = res.json().await.unwrap();
    let code = v["code"].as_str().unwrap();
    assert_eq!(code.len(), 10, "default: 10 digits");
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    assert!(v["expires_at_ms"].as_i64().unwrap() > 0);
    let ok = verify(&a, "alice@example.com", code, "198.51.100.1").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap(), json!({"valid": true}));
    let again = verify(&a, "alice@example.com", code, "198.51.100.1").await;
    problem(again, 422, "otp-invalid").await;
    let other = p.tenant_api("otp-once-other").await;
    let code = code_for(&a, "bob").await;
    let cross = verify(&other, "bob", &code, "198.51.100.1").await;
    problem(cross, 422, "otp-invalid").await;
}

#[tokio::test]
async fn bad_input_names_fields_without_echoing() {
    let p = spawn(&[]);
    let a = p.tenant_api("otp-bad").await;
    let res = a
        .post(
            "/v1/otp/verify",
            json!({"identity": "x\u{0}secret-identity", "code": "12a", "ip": "not-an-ip"}),
        )
        .await;
    let body = problem(res, 400, "invalid-request").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["identity", "code", "ip"]);
    let text = body.to_string();
    assert!(
        !text.contains("secret-identity") && !text.contains("12a") && !text.contains("not-an-ip")
    );
    let res = verify(&a, "alice", "12345678901", "198.51.100.1").await;
    problem(res, 400, "invalid-request").await;
    let res = a
        .post("/v1/otp/issue", json!({"identity": "", "ip": 5}))
        .await;
    let body = problem(res, 400, "invalid-request").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    let res = a.post("/v1/otp/unlock", json!({"identity": 7})).await;
    problem(res, 400, "invalid-request").await;
}

/// Status and body of `res` without the request id (which differs per request).
async fn answer(res: Response) -> (u16, BTreeMap<String, Value>) {
    let status = res.status().as_u16();
    let mut body: BTreeMap<String, Value> = res.json().await.unwrap();
    body.remove("request_id");
    (status, body)
}

#[tokio::test]
async fn unknown_and_known_identities_answer_identically() {
    // The progressive delay off: this checks the per-identity window (the delay has its test).
    let p = spawn(&[NO_DELAY]);
    let a = p.tenant_api("otp-enum").await;
    let code = code_for(&a, "known@example.com").await;
    let bad = wrong(&code);
    for i in 0..21 {
        let known = answer(verify(&a, "known@example.com", &bad, &ip(i)).await).await;
        let unknown = answer(verify(&a, "unknown@example.com", &bad, &ip(100 + i)).await).await;
        assert_eq!(known, unknown, "attempt {i}");
        let expected = if i < 20 { 422 } else { 429 };
        assert_eq!(known.0, expected, "attempt {i}");
    }
}

#[tokio::test]
async fn per_ip_quota_spans_identities() {
    let p = spawn(&[("PALISADE_OTP__IP_VERIFY_QUOTA", "5")]);
    let a = p.tenant_api("otp-ip").await;
    for i in 0..5 {
        let res = verify(&a, &format!("user{i}"), "0000000000", "2001:db8:1:2::1").await;
        problem(res, 422, "otp-invalid").await;
    }
    let res = verify(&a, "user-next", "0000000000", "2001:db8:1:2:ffff::9").await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    problem(res, 429, "otp-rate-limited").await;
    let other_net = verify(&a, "user-next", "0000000000", "2001:db8:1:3::1").await;
    problem(other_net, 422, "otp-invalid").await;
}

/// The `Retry-After` seconds of `res`.
fn retry_after(res: &Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn progressive_delay_answers_retry_after_uncounted_then_the_right_code_verifies() {
    // Two failures, then 20 s before the next verify is decided (long enough for a loaded
    // machine to send the early tries inside it). Lockout at 4: had the delayed verifies
    // counted, the identity would lock.
    let p = spawn(&[
        ("PALISADE_OTP__DELAY_AFTER", "2"),
        ("PALISADE_OTP__DELAY_BASE", "20s"),
        ("PALISADE_OTP__LOCKOUT_AFTER", "4"),
    ]);
    let a = p.tenant_api("otp-delay").await;
    let code = code_for(&a, "grace@example.com").await;
    let bad = wrong(&code);
    for i in 0..2 {
        let known = answer(verify(&a, "grace@example.com", &bad, &ip(i)).await).await;
        let unknown = answer(verify(&a, "nobody@example.com", &bad, &ip(50 + i)).await).await;
        assert_eq!(known.0, 422, "failure {i}");
        assert_eq!(known, unknown, "failure {i}");
    }
    // Right and wrong codes alike are refused before the delay, with Retry-After, uncounted;
    // an unknown identity answers the same.
    for (i, c) in [&code, &bad, &code].into_iter().enumerate() {
        let res = verify(&a, "grace@example.com", c, &ip(10 + i)).await;
        let retry = retry_after(&res);
        assert!((1..=20).contains(&retry), "Retry-After {retry}");
        let known = answer(res).await;
        let res = verify(&a, "nobody@example.com", &bad, &ip(60 + i)).await;
        assert!((1..=20).contains(&retry_after(&res)));
        assert_eq!(known, answer(res).await, "early try {i}");
        assert_eq!(known.0, 429);
        assert_eq!(known.1["code"], "otp-delayed");
    }
    // After the delay the right code verifies (every early poll is refused and not counted).
    let polls = std::sync::atomic::AtomicUsize::new(0);
    let verified = crate::common::eventually_async(Duration::from_secs(90), || async {
        // One address per poll (the per-IP quota is 30), one poll per 500 ms.
        let n = polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let res = verify(&a, "grace@example.com", &code, &ip(1_000 + n)).await;
        match res.status().as_u16() {
            200 => Some(true),
            429 => {
                let body = problem(res, 429, "otp-delayed").await;
                assert_eq!(body["status"], 429);
                None
            }
            s => panic!("unexpected {s}: {}", res.text().await.unwrap()),
        }
    })
    .await;
    assert_eq!(
        verified,
        Some(true),
        "the right code verifies after the delay"
    );
}

/// `n` verifies of `code` for `identity`, all at once, spread over `apis`, each from its own
/// IP; the count of each status.
async fn storm(apis: &[Api], identity: &str, code: &str, n: usize) -> BTreeMap<u16, usize> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(200)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let a = &apis[i % apis.len()];
            let a = Api::with_client(client.clone(), &a.url, &a.key);
            let (identity, code) = (identity.to_owned(), code.to_owned());
            tokio::spawn(
                async move { verify(&a, &identity, &code, &ip(i)).await.status().as_u16() },
            )
        })
        .collect();
    let mut counts = BTreeMap::new();
    for t in tasks {
        *counts.entry(t.await.unwrap()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_thousand_concurrent_verifies_of_one_code_succeed_once() {
    thousand_verifies_of_one_code(&[NO_DELAY, PATIENT]).await;
}

#[tokio::test]
async fn a_thousand_concurrent_verifies_of_one_code_succeed_once_on_redis() {
    let test = "a_thousand_concurrent_verifies_of_one_code_succeed_once_on_redis";
    let Some(redis) = backends::redis_or_skip(test).await else {
        return;
    };
    let prefix = backends::unique("otp");
    thousand_verifies_of_one_code(&[NO_DELAY, PATIENT, redis_url(&redis), redis_prefix(&prefix)])
        .await;
}

fn redis_url(url: &str) -> (&'static str, &str) {
    ("PALISADE_STORAGE__REDIS_URL", url)
}

fn redis_prefix(prefix: &str) -> (&'static str, &str) {
    ("PALISADE_STORAGE__REDIS_PREFIX", prefix)
}

/// 1,000 verifies of one code at once on a server with `env`: exactly one succeeds.
async fn thousand_verifies_of_one_code(env: &[(&str, &str)]) {
    let p = spawn(env);
    let a = p.tenant_api("otp-storm").await;
    let code = code_for(&a, "carol").await;
    let counts = storm(std::slice::from_ref(&a), "carol", &code, 1_000).await;
    // The first decided verify uses the code; at most 19 more are decided (invalid); the rest
    // are past the identity's 20 per hour.
    crate::common::assert_one_success(&counts, 1_000, &[(422, 19), (429, 999)]);
}

/// Three instances sharing one PostgreSQL schema, with `env` on top.
fn trio(pg: &str, schema: &str, env: &[(&str, &str)]) -> Vec<Proc> {
    let mut all = vec![
        ("PALISADE_STORAGE__URL", pg),
        ("PALISADE_STORAGE__SCHEMA", schema),
        ("PALISADE_STORAGE__POOL_SIZE", "8"),
        PATIENT,
        ("PALISADE_OPERATOR_KEY", OP_KEY),
    ];
    all.extend_from_slice(env);
    (0..3).map(|_| spawn_in(temp_dir(), &all)).collect()
}

async fn trio_tenant(ps: &[Proc], name: &str) -> Vec<Api> {
    let (_, key) = ps[0].api(OP_KEY).tenant_with_key(name).await;
    ps.iter().map(|p| p.api(&key)).collect()
}

#[tokio::test]
async fn brute_force_from_a_thousand_ips_on_three_instances_stops_at_the_identity_limit() {
    let test = "brute_force_from_a_thousand_ips_on_three_instances_stops_at_the_identity_limit";
    let Some(pg) = backends::postgres_or_skip(test).await else {
        return;
    };
    let schema = backends::unique("otp_brute");
    let ps = trio(&pg, &schema, &[NO_DELAY]);
    let apis = trio_tenant(&ps, "otp-brute").await;
    let code = code_for(&apis[0], "dave").await;
    let counts = storm(&apis, "dave", &wrong(&code), 1_000).await;
    assert_eq!(
        counts,
        BTreeMap::from([(422, 20), (429, 980)]),
        "20 per identity per hour"
    );
    let ok = verify(&apis[1], "dave", &code, "198.51.100.7").await;
    problem(ok, 429, "otp-rate-limited").await;

    let code = code_for(&apis[2], "erin").await;
    let counts = storm(&apis, "erin", &code, 1_000).await;
    assert_eq!(counts, BTreeMap::from([(200, 1), (422, 19), (429, 980)]));
    drop(ps);
    drop_schema(&pg, &schema).await;
}

#[tokio::test]
async fn brute_force_on_three_instances_locks_out_at_the_documented_count() {
    let test = "brute_force_on_three_instances_locks_out_at_the_documented_count";
    let Some(pg) = backends::postgres_or_skip(test).await else {
        return;
    };
    brute_force_locks_out(&pg, &[]).await;
}

/// As above with OTP state in Redis (shared by the three instances, each deciding in Rust and
/// writing by compare-and-set): the same counts, and the lockout written through to PostgreSQL.
#[tokio::test]
async fn brute_force_on_three_instances_over_redis_locks_out_at_the_documented_count() {
    let test = "brute_force_on_three_instances_over_redis_locks_out_at_the_documented_count";
    let Some(pg) = backends::postgres_or_skip(test).await else {
        return;
    };
    let Some(redis) = backends::redis_or_skip(test).await else {
        return;
    };
    let prefix = backends::unique("otp");
    brute_force_locks_out(&pg, &[redis_url(&redis), redis_prefix(&prefix)]).await;
}

/// 1,000 wrong codes across three instances sharing PostgreSQL (and what `env` adds): locked
/// at the 50th failure, audited once, and an unlock lets the next code verify.
async fn brute_force_locks_out(pg: &str, env: &[(&str, &str)]) {
    let schema = backends::unique("otp_lock");
    // The per-identity limit raised and the delay off so the default lockout count (50) is
    // reached in one storm.
    let mut env = env.to_vec();
    env.extend([("PALISADE_OTP__VERIFY_LIMIT", "1000"), NO_DELAY]);
    let ps = trio(pg, &schema, &env);
    let apis = trio_tenant(&ps, "otp-lock").await;
    let code = code_for(&apis[0], "frank").await;
    let counts = storm(&apis, "frank", &wrong(&code), 1_000).await;
    assert_eq!(
        counts,
        BTreeMap::from([(422, 49), (423, 951)]),
        "locked at the 50th failure"
    );
    assert_eq!(durable_lockouts(pg, &schema).await, 1, "in PostgreSQL");
    let res = verify(&apis[1], "frank", &code, "198.51.100.8").await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 86_000 && retry <= 86_400, "{retry}");
    problem(res, 423, "otp-locked").await;
    problem(
        issue(&apis[2], "frank", "198.51.100.8").await,
        423,
        "otp-locked",
    )
    .await;

    let events = apis[0]
        .get_json("/v1/audit?type=otp.lockout&limit=10")
        .await;
    let found = crate::common::eventually_async(Duration::from_secs(10), || async {
        let list = apis[0]
            .get_json("/v1/audit?type=otp.lockout&limit=10")
            .await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        (!items.is_empty()).then_some(items)
    })
    .await
    .unwrap_or_else(|| panic!("an otp.lockout audit event: {events}"));
    assert_eq!(found.len(), 1, "one lockout, one event");
    assert!(
        !found[0].to_string().contains("frank"),
        "no identity in the audit trail"
    );

    let unlock = apis[1]
        .post("/v1/otp/unlock", json!({"identity": "frank"}))
        .await;
    assert_eq!(
        unlock.json::<Value>().await.unwrap(),
        json!({"was_locked": true})
    );
    let code = code_for(&apis[2], "frank").await;
    assert_eq!(
        verify(&apis[0], "frank", &code, "198.51.100.8")
            .await
            .status(),
        200
    );
    drop(ps);
    drop_schema(pg, &schema).await;
}

/// Identities PostgreSQL holds as locked out now in `schema`.
async fn durable_lockouts(pg: &str, schema: &str) -> i64 {
    let pool = sqlx::PgPool::connect(pg).await.unwrap();
    let sql = format!(
        "SELECT count(*) FROM {schema}.otp_state
         WHERE locked_until_ms > (extract(epoch from now()) * 1000)::bigint"
    );
    sqlx::query_scalar(&sql).fetch_one(&pool).await.unwrap()
}

/// With Redis configured, OTP state and CSRF tokens live in Redis under the prefix (the
/// SQLite file holds only the OTP hash key), and issue and verify work as on any store.
#[tokio::test]
async fn with_redis_otp_and_csrf_state_live_in_redis() {
    let test = "with_redis_otp_and_csrf_state_live_in_redis";
    let Some(redis) = backends::redis_or_skip(test).await else {
        return;
    };
    let prefix = backends::unique("otp");
    let p = spawn(&[redis_url(&redis), redis_prefix(&prefix)]);
    let a = p.tenant_api("otp-redis").await;
    let code = code_for(&a, "alice@example.com").await;
    let ok = verify(&a, "alice@example.com", &code, "198.51.100.1").await;
    assert_eq!(ok.status(), 200);
    let again = verify(&a, "alice@example.com", &code, "198.51.100.1").await;
    problem(again, 422, "otp-invalid").await;
    let res = a
        .post("/v1/csrf/issue", json!({"session_id": "sess-1"}))
        .await;
    assert_eq!(res.status(), 201);
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"session_id": "sess-1", "token": token});
    assert_eq!(a.post("/v1/csrf/verify", body.clone()).await.status(), 200);
    problem(a.post("/v1/csrf/verify", body).await, 403, "csrf-invalid").await;
    let scan = |pattern: String| {
        let out = std::process::Command::new("redis-cli")
            .args(["-u", &redis, "--scan", "--pattern", &pattern])
            .output()
            .expect("redis-cli runs");
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    assert_eq!(scan(format!("{prefix}:otp:*")), 1, "alice's state in Redis");
    // The verify answered a fresh token: it is in Redis.
    assert_eq!(
        scan(format!("{prefix}:csrf:*")),
        1,
        "the fresh token in Redis"
    );
    let db = p.dir.join("palisade-data").join("palisade.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let sql = "SELECT (SELECT count(*) FROM otp_state) + (SELECT count(*) FROM csrf_tokens),
                      (SELECT count(*) FROM otp_key)";
    let (state, key): (i64, i64) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
    assert_eq!(
        (state, key),
        (0, 1),
        "only the hash key in the durable store"
    );
}

#[test]
fn check_config_names_bad_otp_and_csrf_keys_and_summarises_otp() {
    use crate::common::{assert_config_errors, check_config};
    let dir = temp_dir();
    let bad = [
        ("PALISADE_OTP__LOCKOUT_AFTER", "101"),
        ("PALISADE_OTP__CODE_LENGTH", "5"),
        ("PALISADE_OTP__HASH_KEY", "too-short-key"),
        ("PALISADE_OTP__DELAY_MAX", "2d"),
        ("PALISADE_CSRF__TOKEN_TTL", "2s"),
    ];
    let err = assert_config_errors(
        &check_config(&dir, &bad),
        &[
            "otp.lockout_after: must be between 1 and 100",
            "otp.code_length",
            "otp.hash_key: must be at least 32 bytes",
            "otp.delay_max: must be between otp.delay_base and 1d",
            "csrf.token_ttl",
        ],
    );
    assert!(!err.contains("too-short-key"), "{err}");
    let ok = check_config(&dir, &[("PALISADE_OTP__ALPHABET", "alphanumeric")]);
    assert_eq!(ok.status.code(), Some(0));
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.contains("10 alphanumeric symbols valid 10m, 20 verifies per identity per 1h, lockout after 50 for 1day, delay after 3 failures 1s doubling up to 5m"),
        "{out}"
    );
}
