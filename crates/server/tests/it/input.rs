//! Bad input on every JSON route and list query: the answer names the field and what is
//! expected, never the value received, with one code for every shape error.

use crate::common::{spawn, Api};
use reqwest::Method;
use serde_json::{json, Value};

/// Text that appears in every bad body below and must never come back.
const M: &str = "zqmarker7731";

/// A well-formed job id no job has.
const JOB: &str = "job_000000000000aaaaaaaaaaaa";

/// Words of serde's and Rust's that must not reach a client.
const RUSTY: &[&str] = &[
    "u64",
    "u32",
    "u16",
    "i64",
    "usize",
    "floating point",
    "struct ",
    "invalid type",
    "unknown variant",
    "unknown field `",
    "expected `",
];

/// Every route that takes a JSON body: (method, path, whether the operator key is needed,
/// the body's fields).
fn routes(tenant_id: &str) -> Vec<(Method, String, bool, &'static [&'static str])> {
    vec![
        (
            Method::POST,
            "/v1/tenants".into(),
            true,
            &["external_id", "name"],
        ),
        (
            Method::POST,
            format!("/v1/tenants/{tenant_id}/keys"),
            true,
            &["name"],
        ),
        (
            Method::POST,
            "/v1/ratelimit/check".into(),
            false,
            &["checks", "context"],
        ),
        (
            Method::POST,
            "/v1/ratelimit/reset".into(),
            false,
            &["policy", "key"],
        ),
        (
            Method::PUT,
            "/v1/ratelimit/policies/p1".into(),
            false,
            &[
                "algorithm",
                "quota",
                "window",
                "key",
                "mode",
                "on_store_error",
                "cost",
                "burst",
            ],
        ),
        (
            Method::PUT,
            "/v1/ratelimit/overrides".into(),
            false,
            &["policy", "quota", "window", "key"],
        ),
        (
            Method::POST,
            "/v1/locks/job/acquire".into(),
            false,
            &["holder", "ttl_ms", "wait_ms"],
        ),
        (
            Method::POST,
            "/v1/locks/job/renew".into(),
            false,
            &["holder", "token", "ttl_ms"],
        ),
        (
            Method::POST,
            "/v1/locks/job/release".into(),
            false,
            &["holder", "token"],
        ),
        (
            Method::POST,
            "/v1/idempotency/begin".into(),
            false,
            &["key", "principal", "fingerprint", "request"],
        ),
        (
            Method::POST,
            "/v1/idempotency/recovery-point".into(),
            false,
            &["key", "entry_token", "name", "data"],
        ),
        (
            Method::POST,
            "/v1/idempotency/complete".into(),
            false,
            &["key", "entry_token", "response"],
        ),
        (
            Method::POST,
            "/v1/idempotency/abandon".into(),
            false,
            &["key", "entry_token"],
        ),
        (
            Method::POST,
            "/v1/jobs".into(),
            false,
            &[
                "queue",
                "kind",
                "payload",
                "priority",
                "run_at_ms",
                "delay_ms",
                "max_attempts",
                "lease_ms",
                "backoff",
                "tags",
                "unique",
            ],
        ),
        (
            Method::POST,
            "/v1/jobs/lease".into(),
            false,
            &["queue", "worker", "count", "wait_ms"],
        ),
        (
            Method::POST,
            format!("/v1/jobs/{JOB}/heartbeat"),
            false,
            &["token", "progress", "checkpoint"],
        ),
        (
            Method::POST,
            format!("/v1/jobs/{JOB}/fail"),
            false,
            &["token", "error", "retry_at_ms", "give_up"],
        ),
        (
            Method::POST,
            "/v1/jobs/retry".into(),
            false,
            &["queue", "kind", "tag", "limit"],
        ),
    ]
}

/// Bad bodies for a route with `fields`: each holds the marker where a value or a name goes.
fn bad_bodies(fields: &[&str]) -> Vec<Value> {
    let mut bodies = vec![
        json!({ M: 1 }),
        json!({ "nested": { M: M } }),
        json!(M),
        json!([{ M: M }]),
        json!(12345),
    ];
    for f in fields {
        bodies.push(json!({ *f: { M: 1 } }));
        bodies.push(json!({ *f: [M] }));
        bodies.push(json!({ *f: M, M: M }));
    }
    bodies
}

/// Bodies that reach the deeper, field-specific checks.
fn specific(route: &str) -> Vec<Value> {
    let policy = |over: Value| {
        let mut p = json!({"algorithm": "gcra", "quota": 5, "window": "1m", "key": ["tenant"]});
        p.as_object_mut()
            .unwrap()
            .extend(over.as_object().unwrap().clone());
        p
    };
    match route {
        "/v1/ratelimit/check" => vec![
            json!({"checks": [{"policy": "p1", "key": "k", "cost": M}]}),
            json!({"checks": [{"policy": "p1", "key": "k", "cost": -1}]}),
            json!({"checks": [{"policy": "p1", M: 1}]}),
            json!({"checks": [{"policy": "p1"}], "context": {"headers": {M: 5}}}),
            json!({"checks": [{"policy": "p1"}], "context": {"headers": {format!("{M} bad"): "v"}}}),
            json!({"checks": [{"policy": "p1"}], "context": {"ip": M}}),
            json!({"checks": [{"policy": "p1"}], "context": {M: "x"}}),
        ],
        "/v1/ratelimit/policies/p1" => vec![
            policy(json!({"algorithm": M})),
            policy(json!({"mode": M})),
            policy(json!({"on_store_error": M})),
            policy(json!({"quota": M})),
            policy(json!({"window": M})),
            policy(json!({"key": [M]})),
            policy(json!({"key": [format!("header:{M} x")]})),
            policy(json!({"key": [format!("custom:{M} x")]})),
            policy(json!({M: 1})),
        ],
        "/v1/ratelimit/overrides" => vec![
            json!({"policy": "p1", "quota": M}),
            json!({"policy": "p1", "quota": 1, "window": M}),
        ],
        "/v1/locks/job/acquire" => vec![
            json!({"holder": "h", "ttl_ms": M}),
            json!({"holder": "h", "ttl_ms": 1000, "wait_ms": M}),
        ],
        "/v1/idempotency/begin" => vec![
            json!({"key": "k", "request": {"method": "POST", "route": "/", "body_sha256": M}}),
            json!({"key": "k", "request": {"method": M, "route": "/", "body_sha256": "0"}}),
            json!({"key": "k", "request": {M: 1}}),
        ],
        "/v1/idempotency/complete" => vec![
            json!({"key": "k", "entry_token": "t", "response": {"status": 70000, "headers": [], "body": ""}}),
            json!({"key": "k", "entry_token": "t", "response": {"status": M}}),
            json!({"key": "k", "entry_token": "t", "response": {"status": 200, "headers": [{"name": M, "value": 1}]}}),
        ],
        "/v1/jobs" => vec![
            json!({"queue": "q", "kind": "k", "priority": M}),
            json!({"queue": "q", "kind": "k", "tags": [{ M: 1 }]}),
            json!({"queue": "q", "kind": "k", "unique": {"key": "k", "states": [M]}}),
            json!({"queue": "q", "kind": "k", "backoff": {"base_ms": M}}),
        ],
        _ => vec![],
    }
}

async fn send(api: &Api, method: &Method, path: &str, body: &str) -> (u16, Value) {
    let r = api
        .c
        .request(method.clone(), format!("{}{path}", api.url))
        .bearer_auth(&api.key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn assert_clean(what: &str, body: &Value) {
    // The request id is random text of the server's own: it may spell `i64` by chance.
    let mut body = body.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("request_id");
    }
    let text = body.to_string();
    assert!(!text.contains(M), "{what}: the input came back: {text}");
    for w in RUSTY {
        assert!(!text.contains(w), "{what}: `{w}` in {text}");
    }
}

#[tokio::test]
async fn no_error_on_any_json_route_carries_the_input_and_codes_are_uniform() {
    let p = spawn(&[]);
    let op = p.operator();
    let (tenant_id, key) = p.tenant_with_key("input").await;
    let tenant = p.api(&key);
    let mut checked = 0;
    for (method, path, as_operator, fields) in routes(&tenant_id) {
        let api = if as_operator { &op } else { &tenant };
        let mut bodies = bad_bodies(fields);
        bodies.extend(specific(&path));
        for body in bodies {
            let what = format!("{method} {path} {body}");
            let (status, got) = send(api, &method, &path, &body.to_string()).await;
            assert_eq!(status, 400, "{what} → {got}");
            assert_eq!(got["code"], "invalid-request", "{what} → {got}");
            let errors = got["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: {got}"));
            assert!(!errors.is_empty(), "{what}");
            for e in errors {
                assert!(
                    e["field"].is_string() && e["message"].is_string(),
                    "{what}: {e}"
                );
            }
            assert_clean(&what, &got);
            checked += 1;
        }
        let broken = format!("{{{M}: \"{M}");
        let (status, got) = send(api, &method, &path, &broken).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(got["code"], "invalid-json", "{path}: {got}");
        assert_clean(&path, &got);
    }
    assert!(checked > 100, "{checked} bad bodies checked");
}

#[tokio::test]
async fn a_mistyped_field_names_the_field_and_what_is_expected() {
    let p = spawn(&[]);
    let tenant = p.tenant_api("typed").await;
    let (_, got) = send(
        &tenant,
        &Method::POST,
        "/v1/ratelimit/check",
        &json!({"checks": [{"policy": "p1", "cost": "many"}]}).to_string(),
    )
    .await;
    assert_eq!(got["errors"][0]["field"], "checks[0].cost", "{got}");
    assert_eq!(
        got["errors"][0]["message"],
        "must be a whole number, 0 or more"
    );
    let (_, got) = send(
        &tenant,
        &Method::PUT,
        "/v1/ratelimit/policies/p1",
        &json!({"algorithm": "leaky", "quota": 5, "window": "1m", "key": ["tenant"]}).to_string(),
    )
    .await;
    assert_eq!(got["errors"][0]["field"], "algorithm", "{got}");
    let msg = got["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("must be one of: ") && msg.contains("gcra"),
        "{msg}"
    );
}

#[tokio::test]
async fn bad_list_queries_answer_an_errors_array_without_the_input() {
    let p = spawn(&[]);
    let op = p.operator();
    let tenant = p.tenant_api("query").await;
    for (api, path) in [
        (&op, "/v1/tenants"),
        (&tenant, "/v1/ratelimit/policies"),
        (&tenant, "/v1/ratelimit/overrides"),
    ] {
        for (query, field) in [
            (format!("limit=abc{M}"), "limit"),
            (format!("limit=-{M}"), "limit"),
            (format!("{M}=1"), ""),
        ] {
            let r = api.get(&format!("{path}?{query}")).await;
            assert_eq!(r.status(), 400, "{path}?{query}");
            let got: Value = r.json().await.unwrap();
            assert_eq!(got["code"], "invalid-request", "{path}?{query}: {got}");
            assert_eq!(got["errors"][0]["field"], field, "{path}?{query}: {got}");
            assert_clean(&format!("{path}?{query}"), &got);
        }
    }
}
