//! `/v1/csrf` against a real server: issue, verify once with a fresh token back, refusals as one
//! answer with an audit event, bad input, and 1,000 concurrent verifies of one token (on the
//! durable store and on Redis).

use crate::common::{problem, spawn, Api};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

async fn issue(a: &Api, session: &str) -> String {
    let res = a
        .post("/v1/csrf/issue", json!({"session_id": session}))
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let v: Value = res.json().await.unwrap();
    v["token"].as_str().unwrap().to_owned()
}

async fn verify(a: &Api, session: &str, token: &str) -> reqwest::Response {
    a.post(
        "/v1/csrf/verify",
        json!({"session_id": session, "token": token}),
    )
    .await
}

#[tokio::test]
async fn tokens_are_one_time_and_refreshed() {
    let p = spawn(&[]);
    let a = p.tenant_api("csrf-once").await;
    let t1 = issue(&a, "sess-1").await;
    assert!(t1.starts_with("csrf_"));
    let res = verify(&a, "sess-1", &t1).await;
    assert_eq!(res.status(), 200);
    let t2 = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(t1, t2);
    problem(verify(&a, "sess-1", &t1).await, 403, "csrf-invalid").await;
    let wrong_session = problem(verify(&a, "sess-2", &t2).await, 403, "csrf-invalid").await;
    assert!(!wrong_session.to_string().contains("sess-2"));
    assert_eq!(verify(&a, "sess-1", &t2).await.status(), 200, "t2 survived");
    let other = p.tenant_api("csrf-other").await;
    let t3 = issue(&a, "sess-1").await;
    problem(verify(&other, "sess-1", &t3).await, 403, "csrf-invalid").await;

    let found = crate::common::eventually_async(Duration::from_secs(10), || async {
        let list = a.get_json("/v1/audit?type=csrf.failure&limit=10").await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        (items.len() >= 2).then_some(items)
    })
    .await
    .expect("csrf.failure audit events");
    assert!(
        found.iter().all(|e| !e.to_string().contains("csrf_")),
        "no token in the audit trail"
    );
}

#[tokio::test]
async fn bad_input_is_named() {
    let p = spawn(&[]);
    let a = p.tenant_api("csrf-bad").await;
    let res = a
        .post(
            "/v1/csrf/verify",
            json!({"session_id": "", "token": "csrf_secretish"}),
        )
        .await;
    let body = problem(res, 400, "invalid-request").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["session_id", "token"]);
    assert!(!body.to_string().contains("secretish"));
    let res = a.post("/v1/csrf/issue", json!({"session_id": 3})).await;
    problem(res, 400, "invalid-request").await;
}

#[tokio::test]
async fn a_thousand_concurrent_verifies_of_one_token_succeed_once() {
    thousand_verifies_of_one_token(&[]).await;
}

#[tokio::test]
async fn a_thousand_concurrent_verifies_of_one_token_succeed_once_on_redis() {
    let test = "a_thousand_concurrent_verifies_of_one_token_succeed_once_on_redis";
    let Some(redis) = palisade_testkit::backends::redis_or_skip(test).await else {
        return;
    };
    let prefix = palisade_testkit::backends::unique("csrf");
    thousand_verifies_of_one_token(&[
        ("PALISADE_STORAGE__REDIS_URL", &redis),
        ("PALISADE_STORAGE__REDIS_PREFIX", &prefix),
    ])
    .await;
}

/// 1,000 verifies of one token at once on a server with `env`: exactly one succeeds.
async fn thousand_verifies_of_one_token(env: &[(&str, &str)]) {
    let p = spawn(env);
    let a = p.tenant_api("csrf-storm").await;
    let token = issue(&a, "sess").await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(200)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..1_000)
        .map(|_| {
            let a = Api::with_client(client.clone(), &a.url, &a.key);
            let token = token.clone();
            tokio::spawn(async move { verify(&a, "sess", &token).await.status().as_u16() })
        })
        .collect();
    let mut counts = BTreeMap::<u16, usize>::new();
    for t in tasks {
        *counts.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    crate::common::assert_one_success(&counts, 1_000, &[(403, 999)]);
}
