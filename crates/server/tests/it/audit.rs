//! The audit trail over HTTP: each event type of today is listed, tenants see only their own,
//! no secret is ever recorded, and events queued at a clean shutdown survive it.

use crate::common::{eventually_async, problem, spawn, spawn_in, Api, Proc};
use serde_json::{json, Value};
use std::time::Duration;

/// The events `api` lists with `query` (one page of up to 200).
async fn events(api: &Api, query: &str) -> Vec<Value> {
    let r = api.get(&format!("/v1/audit?limit=200{query}")).await;
    assert_eq!(r.status(), 200, "listing the audit trail");
    let body: Value = r.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

/// Waits (up to 10 s: the writer flushes every 100 ms) until `api` lists an event of `kind`
/// for which `pred` holds; returns it.
async fn listed(api: &Api, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let query = format!("&type={kind}");
    let pred = &pred;
    let found = eventually_async(Duration::from_secs(10), move || {
        let query = query.clone();
        async move { events(api, &query).await.into_iter().find(|e| pred(e)) }
    })
    .await;
    found.unwrap_or_else(|| panic!("no {kind} event listed"))
}

/// A key with the same id and a different secret.
fn wrong_secret(key: &str) -> String {
    let last = if key.ends_with('a') { "b" } else { "a" };
    format!("{}{last}", &key[..key.len() - 1])
}

fn key_id(key: &str) -> String {
    let rest = key.strip_prefix("pal_").unwrap();
    rest[..rest.rfind('_').unwrap()].to_owned()
}

#[tokio::test]
async fn auth_failures_are_listed() {
    let p = spawn(&[]);
    let (tenant, key) = p.tenant_with_key("a").await;
    let bad = p.api(&wrong_secret(&key));
    problem(bad.get("/v1/me").await, 401, "unauthenticated").await;
    let a = p.api(&key);
    let e = listed(&a, "auth.failure", |e| {
        e["detail"]["reason"] == "wrong_secret"
    })
    .await;
    assert_eq!(e["tenant_id"], tenant.as_str());
    assert_eq!(e["actor"], key_id(&key).as_str(), "the actor is the key id");
    assert!(e["request_id"].as_str().unwrap().starts_with("req_"));

    let stranger = p.api("not-a-key-at-all");
    problem(stranger.get("/v1/me").await, 401, "unauthenticated").await;
    let op = p.operator();
    let e = listed(&op, "auth.failure", |e| {
        e["detail"]["reason"] == "unknown_credential"
    })
    .await;
    assert_eq!(
        e["tenant_id"],
        Value::Null,
        "no tenant for an unknown credential"
    );
}

#[tokio::test]
async fn key_created_and_revoked_are_listed() {
    let p = spawn(&[]);
    let (tenant, key) = p.tenant_with_key("a").await;
    let op = p.operator();
    let second: Value = op
        .post(
            &format!("/v1/tenants/{tenant}/keys"),
            json!({"name": "second"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let second_id = second["id"].as_str().unwrap().to_owned();
    let del = op
        .delete(&format!("/v1/tenants/{tenant}/keys/{second_id}"))
        .await;
    assert_eq!(del.status(), 204);
    let a = p.api(&key);
    let created = listed(&a, "key.created", |e| {
        e["detail"]["key_id"] == second_id.as_str()
    })
    .await;
    assert_eq!(created["actor"], "operator");
    assert_eq!(created["tenant_id"], tenant.as_str());
    listed(&a, "key.created", |e| {
        e["detail"]["key_id"] == key_id(&key).as_str()
    })
    .await;
    listed(&a, "key.revoked", |e| {
        e["detail"]["key_id"] == second_id.as_str()
    })
    .await;
}

#[tokio::test]
async fn cross_tenant_attempts_answer_404_and_are_listed() {
    let p = spawn(&[]);
    let (ta, ka) = p.tenant_with_key("a").await;
    let (tb, kb) = p.tenant_with_key("b").await;
    let a = p.api(&ka);
    let other = a.get(&format!("/v1/tenants/{tb}/keys")).await;
    problem(other, 404, "not-found").await;
    let own = a.get(&format!("/v1/tenants/{ta}/keys")).await;
    problem(own, 403, "forbidden").await;
    problem(
        a.get(&format!("/v1/audit?tenant={tb}")).await,
        404,
        "not-found",
    )
    .await;

    let e = listed(&a, "cross_tenant.attempt", |e| {
        e["detail"]["target"] == "tenant"
    })
    .await;
    assert_eq!(
        e["tenant_id"],
        ta.as_str(),
        "recorded in the caller's trail"
    );
    assert_eq!(e["detail"]["target_tenant"], tb.as_str());
    assert_eq!(e["detail"]["route"], "/v1/tenants/{tenant_id}/keys");
    listed(&a, "cross_tenant.attempt", |e| {
        e["detail"]["target"] == "audit"
    })
    .await;
    let b = p.api(&kb);
    assert!(
        events(&b, "&type=cross_tenant.attempt").await.is_empty(),
        "the target tenant's trail does not name the caller"
    );
}

#[tokio::test]
async fn config_changes_are_listed() {
    let p = spawn(&[]);
    let a = p.tenant_api("a").await;
    let policy = json!({"algorithm": "gcra", "quota": 5, "window": "1m", "key": ["principal"]});
    assert_eq!(
        a.put("/v1/ratelimit/policies/api", policy).await.status(),
        200
    );
    let o = json!({"policy": "api", "key": "user@example.com", "quota": 9});
    assert_eq!(a.put("/v1/ratelimit/overrides", o).await.status(), 200);
    let del = a
        .delete("/v1/ratelimit/overrides/api?key=user@example.com")
        .await;
    assert_eq!(del.status(), 204);
    assert_eq!(a.delete("/v1/ratelimit/policies/api").await.status(), 204);
    for (what, action) in [
        ("ratelimit.policy", "put"),
        ("ratelimit.override", "put"),
        ("ratelimit.override", "delete"),
        ("ratelimit.policy", "delete"),
    ] {
        let e = listed(&a, "config.changed", |e| {
            e["detail"]["what"] == what && e["detail"]["action"] == action
        })
        .await;
        assert!(e["actor"].as_str().unwrap().starts_with("key_"));
    }
    let all = events(&a, "&type=config.changed").await;
    assert_eq!(all.len(), 4);
    assert!(
        !Value::Array(all).to_string().contains("example.com"),
        "an override's key (maybe personal data) is not recorded"
    );
}

#[tokio::test]
async fn tenants_list_only_their_own_events_and_the_operator_all() {
    let p = spawn(&[]);
    let (ta, ka) = p.tenant_with_key("a").await;
    let (tb, kb) = p.tenant_with_key("b").await;
    let (a, b, op) = (p.api(&ka), p.api(&kb), p.operator());
    listed(&a, "key.created", |_| true).await;
    listed(&b, "key.created", |_| true).await;
    for (api, own) in [(&a, &ta), (&b, &tb)] {
        let mine = events(api, "").await;
        assert!(!mine.is_empty());
        assert!(
            mine.iter().all(|e| e["tenant_id"] == own.as_str()),
            "a tenant lists only its own events"
        );
    }
    let all = events(&op, "&type=key.created").await;
    for t in [&ta, &tb] {
        assert!(
            all.iter().any(|e| e["tenant_id"] == t.as_str()),
            "operator sees {t}"
        );
    }
    let only_b = events(&op, &format!("&tenant={tb}")).await;
    assert!(!only_b.is_empty() && only_b.iter().all(|e| e["tenant_id"] == tb.as_str()));
}

#[tokio::test]
async fn no_secret_is_ever_recorded() {
    let p = spawn(&[]);
    let (_, ka) = p.tenant_with_key("a").await;
    let (tb, _) = p.tenant_with_key("b").await;
    let wrong = wrong_secret(&ka);
    let op_key = p.operator_key();
    problem(p.api(&wrong).get("/v1/me").await, 401, "unauthenticated").await;
    let raw = "Basic dXNlcjpodW50ZXIy";
    let r = reqwest::Client::new()
        .get(p.at("/v1/me"))
        .header("authorization", raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let a = p.api(&ka);
    a.get(&format!("/v1/tenants/{tb}/keys")).await;
    let op = p.operator();
    op.post(&format!("/v1/tenants/{tb}/keys"), json!({"name": "n"}))
        .await;
    listed(&a, "auth.failure", |_| true).await;
    listed(&a, "cross_tenant.attempt", |_| true).await;
    listed(&op, "key.created", |e| e["tenant_id"] == tb.as_str()).await;
    let text = format!("{:?}", events(&op, "").await);
    let secret = |k: &str| k[k.rfind('_').unwrap() + 1..].to_owned();
    let secrets = [
        secret(&ka),
        secret(&wrong),
        op_key,
        "dXNlcjpodW50ZXIy".into(),
    ];
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "an audit record holds a secret");
    }
    let data = p.dir.join("palisade-data");
    assert!(p.shutdown_gracefully());
    for file in ["palisade.db", "palisade.db-wal"] {
        let bytes = std::fs::read(data.join(file)).unwrap_or_default();
        let bytes = String::from_utf8_lossy(&bytes);
        for s in &secrets {
            assert!(!bytes.contains(s.as_str()), "{file} holds a secret");
        }
    }
}

#[tokio::test]
async fn bad_filters_answer_400_naming_the_field() {
    let p = spawn(&[]);
    let a = p.tenant_api("a").await;
    for (query, field) in [
        ("type=nope", "type"),
        ("since_ms=abc", "since_ms"),
        ("until_ms=-5", "until_ms"),
        ("since_ms=10&until_ms=5", "until_ms"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("cursor=zz", "cursor"),
    ] {
        let body = problem(
            a.get(&format!("/v1/audit?{query}")).await,
            400,
            "invalid-request",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], field, "{query}");
        assert!(
            !body.to_string().contains("abc"),
            "the value is never echoed"
        );
    }
    problem(a.get("/v1/audit?colour=red").await, 400, "invalid-request").await;
    let op = p.operator();
    let body = problem(
        op.get("/v1/audit?tenant=no%20way").await,
        400,
        "invalid-request",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "tenant");
    problem(p.api("nope").get("/v1/audit").await, 401, "unauthenticated").await;
    let doc = p.openapi().await;
    assert!(doc["paths"]["/v1/audit"]["get"].is_object(), "documented");
}

#[tokio::test]
async fn events_queued_before_a_clean_shutdown_are_stored() {
    // An hour's flush interval: every event stays queued until the shutdown writes it.
    let env = [("PALISADE_AUDIT__FLUSH_INTERVAL", "1h")];
    let p = spawn(&env);
    let (_, key) = p.tenant_with_key("a").await;
    let bad = p.api(&wrong_secret(&key));
    for _ in 0..20 {
        assert_eq!(bad.get("/v1/me").await.status(), 401);
    }
    let dir = p.dir.clone();
    assert!(p.shutdown_gracefully(), "clean exit");
    let p = spawn_in(dir, &env);
    let a = p.api(&key);
    let failures = events(&a, "&type=auth.failure").await;
    assert_eq!(
        failures.len(),
        20,
        "every queued event was written at shutdown"
    );
    assert_eq!(events(&a, "&type=key.created").await.len(), 1);
}

impl Proc {
    /// Sends SIGTERM and waits for the exit; true when it exited with success.
    pub fn shutdown_gracefully(mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        status.success()
    }
}
