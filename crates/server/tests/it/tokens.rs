//! `/v1/tokens` against real servers and a local JWKS server: the verify round trip, issuer
//! CRUD and another tenant's 404, bad input (never a 500, never echoed), and revocations
//! refused by every instance of a PostgreSQL deployment within a second, their lookup caches
//! following the change feed.

#[path = "../../../tokens/tests/support/mod.rs"]
mod support;

use crate::common::{
    all_refuse_after_bound, counter, drop_schema, metrics, problem, spawn_in, temp_dir, Api, Proc,
};
use palisade_testkit::backends;
use palisade_tokens::Alg;
use serde_json::{json, Value};
use std::time::Instant;
use support::{claims, now_secs, JwksServer, TestKey};

const ISS: &str = "https://idp.test";

/// A server (its own SQLite, or `env`'s store) whose `[fetch]` may reach the JWKS server.
fn server(jwks_port: u16, env: &[(&str, &str)]) -> Proc {
    let dir = temp_dir();
    let toml = format!(
        "[fetch]\nallow_ports = [80, 443, {jwks_port}]\n[fetch.allow]\ncidrs = [\"127.0.0.1/32\"]\n\
         [tokens]\nunknown_kid_cooldown = \"1s\"\n"
    );
    std::fs::write(dir.join("palisade.toml"), toml).unwrap();
    spawn_in(dir, env)
}

async fn issuer_create(api: &Api, url: &str) -> Value {
    let r = api
        .post(
            "/v1/tokens/issuers",
            json!({"issuer": ISS, "jwks_url": url, "audiences": ["api"],
                   "algorithms": ["RS256", "ES256", "EdDSA"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn verify(api: &Api, token: &str) -> reqwest::Response {
    api.post("/v1/tokens/verify", json!({ "token": token }))
        .await
}

#[tokio::test]
async fn verify_round_trip_with_a_local_jwks_server() {
    let (rsa, ed) = (TestKey::rsa("a", "r1", Alg::RS256), TestKey::ed("d1"));
    let jwks = JwksServer::start(&[&rsa, &ed]).await;
    let p = server(jwks.port, &[]);
    let a = p.tenant_api("tok-a").await;
    let iss = issuer_create(&a, &jwks.url()).await;
    assert!(iss["id"].as_str().unwrap().starts_with("tki_"));
    for k in [&rsa, &ed] {
        let c = claims(ISS, "api");
        let r = verify(&a, &k.sign(&c)).await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["claims"], c);
        assert_eq!(v["issuer"], iss["id"]);
        assert_eq!(v["kid"], k.kid.as_str());
        assert_eq!(v["alg"], k.alg.as_str());
    }
    assert_eq!(jwks.hits(), 1, "one fetch, then the cache");
    // Refusals carry their code.
    let mut c = claims(ISS, "api");
    c["exp"] = json!(now_secs() - 3600);
    problem(verify(&a, &rsa.sign(&c)).await, 401, "token-expired").await;
    problem(
        verify(&a, &rsa.sign(&claims(ISS, "web"))).await,
        401,
        "token-wrong-audience",
    )
    .await;
    // Rotation: the issuer publishes a new key; the unknown kid refetches once.
    let ec = TestKey::ec("e-new");
    jwks.set_keys(&[&ed, &ec]);
    let tok = ec.sign(&claims(ISS, "api"));
    let ok = crate::common::eventually_async(std::time::Duration::from_secs(10), || async {
        (verify(&a, &tok).await.status() == 200).then_some(())
    })
    .await;
    assert!(ok.is_some(), "the rotated key verifies within the cooldown");
    // Revocation by jti, then by subject, each an audit event.
    let c = claims(ISS, "api");
    let tok = ed.sign(&c);
    assert_eq!(verify(&a, &tok).await.status(), 200);
    let r = a
        .post(
            "/v1/tokens/revocations",
            json!({"jti": c["jti"], "exp": c["exp"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    problem(verify(&a, &tok).await, 401, "token-revoked").await;
    let tok2 = ed.sign(&claims(ISS, "api"));
    assert_eq!(verify(&a, &tok2).await.status(), 200);
    let r = a
        .post("/v1/tokens/revocations", json!({"subject": "user-1"}))
        .await;
    assert_eq!(r.status(), 201);
    problem(verify(&a, &tok2).await, 401, "token-revoked").await;
    // The audit sink writes in batches, off the request path: wait for both events.
    let audit = crate::common::eventually_async(std::time::Duration::from_secs(10), || async {
        let v = a.get_json("/v1/audit?type=token.revoked").await;
        (v["items"].as_array().unwrap().len() == 2).then_some(v)
    })
    .await
    .expect("two token.revoked events");
    assert!(
        !audit.to_string().contains("user-1"),
        "no subject in the audit trail"
    );
}

#[tokio::test]
async fn issuers_crud_and_another_tenants_issuer_is_404() {
    let p = server(443, &[]);
    let (a, b) = (
        p.tenant_api("tok-crud-a").await,
        p.tenant_api("tok-crud-b").await,
    );
    let iss = issuer_create(&a, "https://idp.test/jwks.json").await;
    let id = iss["id"].as_str().unwrap();
    let path = format!("/v1/tokens/issuers/{id}");
    assert_eq!(a.get_json(&path).await, iss);
    let list = a.get_json("/v1/tokens/issuers").await;
    assert_eq!(list["items"], json!([iss]));
    problem(
        a.post(
            "/v1/tokens/issuers",
            json!({"issuer": ISS, "jwks_url": "https://x.test/j", "audiences": ["x"], "algorithms": ["RS256"]}),
        )
        .await,
        409,
        "token-issuer-exists",
    )
    .await;
    let put = json!({"issuer": ISS, "jwks_url": "https://idp.test/v2/jwks.json",
                     "audiences": ["api", "web"], "algorithms": ["EdDSA"], "leeway_secs": 10});
    let r = a.put(&path, put.clone()).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["algorithms"], json!(["EdDSA"]));
    assert_eq!(v["leeway_secs"], 10);
    // Another tenant: 404 on every verb, and its list is empty.
    problem(b.get(&path).await, 404, "not-found").await;
    problem(b.put(&path, put).await, 404, "not-found").await;
    problem(b.delete(&path).await, 404, "not-found").await;
    assert_eq!(b.get_json("/v1/tokens/issuers").await["items"], json!([]));
    problem(
        b.get("/v1/tokens/issuers/not-an-id").await,
        404,
        "not-found",
    )
    .await;
    assert_eq!(a.delete(&path).await.status(), 204);
    problem(a.get(&path).await, 404, "not-found").await;
}

#[tokio::test]
async fn bad_input_is_a_problem_never_a_500_and_never_echoed() {
    let jwks = JwksServer::start(&[&TestKey::ed("d")]).await;
    let p = server(jwks.port, &[]);
    let a = p.tenant_api("tok-bad").await;
    issuer_create(&a, &jwks.url()).await;
    let secret = "SECRETVALUE";
    let tokens: Vec<(String, u16, &str)> = vec![
        (
            format!("{secret}.{secret}.{secret}"),
            401,
            "token-malformed",
        ),
        (format!("eyJ{secret}"), 401, "token-malformed"),
        (
            format!("{}{secret}", "a".repeat(20_000)),
            401,
            "token-too-large",
        ),
        ("\u{0}\u{1}💥".into(), 401, "token-malformed"),
    ];
    for (tok, status, code) in tokens {
        let body = problem(verify(&a, &tok).await, status, code).await;
        assert!(!body.to_string().contains(secret), "{body}");
    }
    for body in [
        json!({}),
        json!({"token": 5}),
        json!({"token": ""}),
        json!({"token": "a.b.c", SECRET_KEY: 1}),
    ] {
        let res = a.post("/v1/tokens/verify", body).await;
        let b = problem(res, 400, "invalid-request").await;
        assert!(!b.to_string().contains(SECRET_KEY), "{b}");
    }
    for body in [
        json!({"issuer": secret, "jwks_url": format!("ftp://{secret}/"), "audiences": [], "algorithms": ["none", "HS256"]}),
        json!({"issuer": ISS, "jwks_url": "https://x.test/", "audiences": ["a"], "algorithms": [secret]}),
        json!({"issuer": [secret]}),
    ] {
        let b = problem(
            a.post("/v1/tokens/issuers", body).await,
            400,
            "invalid-request",
        )
        .await;
        assert!(!b.to_string().contains(secret), "{b}");
    }
    for body in [
        json!({}),
        json!({"jti": secret}),
        json!({"jti": secret, "exp": -1}),
        json!({"jti": secret, "exp": i64::MAX}),
        json!({"jti": "", "exp": 1}),
        json!({"jti": "j", "exp": 1, "subject": secret}),
        json!({"subject": ""}),
    ] {
        let b = problem(
            a.post("/v1/tokens/revocations", body).await,
            400,
            "invalid-request",
        )
        .await;
        assert!(!b.to_string().contains(secret), "{b}");
    }
    // A JWKS that is not JSON, or too large: a 401 code, never a 500.
    let tok = TestKey::ed("d").sign(&claims(ISS, "api"));
    jwks.set(200, format!("<html>{secret}</html>"));
    problem(verify(&a, &tok).await, 401, "token-jwks-invalid").await;
    assert!(!p.stderr().contains(secret), "no JWKS body in the log");
    assert!(!p.stderr().contains(&tok), "no token in the log");
}

const SECRET_KEY: &str = "SECRETKEY";

/// `tok`'s verify on `a` as a status: 200 valid, 401 revoked, 500 any other answer.
async fn revoked_status(a: &Api, tok: &str) -> u16 {
    let r = verify(a, tok).await;
    match r.status().as_u16() {
        200 => 200,
        401 => match r.json::<Value>().await.unwrap()["code"] == "token-revoked" {
            true => 401,
            false => 500,
        },
        _ => 500,
    }
}

/// Three instances on one PostgreSQL schema, each verifying from its lookup cache (hits
/// counted): a jti revoked on one, then a subject revoked on another, are refused by every
/// instance for every request sent after the bound (1 s, see `keys.rs` for why the test's
/// clock starts when the revocation answers), while another token still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_on_one_instance_is_refused_by_every_instance_within_a_second() {
    let Some(pg) = backends::postgres_or_skip("tokens_three_instances").await else {
        return;
    };
    let schema = backends::unique("tokens_revoke");
    let op = "pal_op_tokens_three_instances_0123456789abcdef";
    let env = [
        ("PALISADE_STORAGE__URL", pg.as_str()),
        ("PALISADE_STORAGE__SCHEMA", schema.as_str()),
        ("PALISADE_STORAGE__POOL_SIZE", "4"),
        ("PALISADE_OPERATOR_KEY", op),
    ];
    let key = TestKey::ec("k1");
    let jwks = JwksServer::start(&[&key]).await;
    let ps: Vec<Proc> = (0..3).map(|_| server(jwks.port, &env)).collect();
    let (_, secret) = ps[0].api(op).tenant_with_key("tok-multi").await;
    let apis: Vec<Api> = ps.iter().map(|p| p.api(&secret)).collect();
    issuer_create(&apis[0], &jwks.url()).await;
    // The issuer's creation reaches every cache through the feed (dropping its issuers once
    // more, even on the creating instance): let that settle before warming the caches.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let mut c2 = claims(ISS, "api");
    c2["sub"] = json!("user-2");
    let (c1, c3) = (claims(ISS, "api"), claims(ISS, "api"));
    let (t1, t2, t3) = (key.sign(&c1), key.sign(&c2), key.sign(&c3));
    for a in &apis {
        for t in [&t1, &t2, &t3, &t1, &t2, &t3] {
            assert_eq!(verify(a, t).await.status(), 200);
        }
    }
    for p in &ps {
        let m = metrics(&p.url, op).await;
        let hits = counter(&m, "palisade_tokens_cache_total{result=\"hit\"}");
        assert!(hits >= 3, "verifies are served from the cache:\n{m}");
    }
    let r = apis[0]
        .post(
            "/v1/tokens/revocations",
            json!({"jti": c1["jti"], "exp": c1["exp"]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let apis = &apis;
    all_refuse_after_bound(3, Instant::now(), |i| revoked_status(&apis[i], &t1)).await;
    for a in apis {
        assert_eq!(verify(a, &t2).await.status(), 200, "another jti");
    }
    let r = apis[1]
        .post("/v1/tokens/revocations", json!({"subject": "user-2"}))
        .await;
    assert_eq!(r.status(), 201);
    all_refuse_after_bound(3, Instant::now(), |i| revoked_status(&apis[i], &t2)).await;
    for a in apis {
        assert_eq!(verify(a, &t3).await.status(), 200, "another subject");
    }
    drop(ps);
    drop_schema(&pg, &schema).await;
}
