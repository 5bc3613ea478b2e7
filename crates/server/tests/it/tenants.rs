//! Tenants and API keys over HTTP: idempotent create, validation, keys shown once, scoping, revocation.

use crate::common::{problem, spawn};
use serde_json::{json, Value};

#[tokio::test]
async fn tenant_create_is_idempotent_and_validated() {
    let p = spawn(&[]);
    let op = p.operator();
    let body = json!({"external_id": "acme-1", "name": "Acme"});
    let a = op.post("/v1/tenants", body.clone()).await;
    assert_eq!(a.status(), 201);
    let a: Value = a.json().await.unwrap();
    let b = op.post("/v1/tenants", body).await;
    assert_eq!(
        b.status(),
        200,
        "same external id answers the existing tenant"
    );
    let b: Value = b.json().await.unwrap();
    assert_eq!(a["id"], b["id"]);

    let bad = json!({"external_id": "no spaces", "name": ""});
    let body = problem(op.post("/v1/tenants", bad).await, 400, "invalid-request").await;
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(
        fields,
        vec![json!("external_id"), json!("name")],
        "every bad field is named"
    );

    let unknown = json!({"external_id": "x", "name": "y", "plan": "gold"});
    problem(
        op.post("/v1/tenants", unknown).await,
        400,
        "invalid-request",
    )
    .await;
}

#[tokio::test]
async fn keys_authenticate_are_scoped_and_revocable() {
    let p = spawn(&[]);
    let op = p.operator();
    let (ta, ka) = p.tenant_with_key("a").await;
    let (tb, _kb) = p.tenant_with_key("b").await;
    assert!(ka.starts_with("pal_key_"));
    let a = p.api(&ka);

    let me = a.get_json("/v1/me").await;
    assert_eq!(me["tenant"]["id"], ta.as_str());

    let listed = op.get_json(&format!("/v1/tenants/{ta}/keys")).await;
    let listed_text = listed.to_string();
    assert!(
        !listed_text.contains(&ka[ka.len() - 40..]),
        "a listing never shows the secret"
    );
    let key_id = listed["items"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        listed["items"][0]["last_used_at_ms"].is_i64(),
        "last use is recorded"
    );

    // Another tenant's key answers 404, exactly like a missing one.
    let cross = op.delete(&format!("/v1/tenants/{tb}/keys/{key_id}")).await;
    let missing = op
        .delete(&format!("/v1/tenants/{tb}/keys/key_doesnotexist"))
        .await;
    let (x, m) = (
        problem(cross, 404, "not-found").await,
        problem(missing, 404, "not-found").await,
    );
    assert_eq!(x["detail"], m["detail"]);

    let rev = op.delete(&format!("/v1/tenants/{ta}/keys/{key_id}")).await;
    assert_eq!(rev.status(), 204);
    problem(a.get("/v1/me").await, 401, "unauthenticated").await;
    let list = |status: &str| format!("/v1/tenants/{ta}/keys?status={status}");
    let active = op.get_json(&list("active")).await;
    assert_eq!(active["items"].as_array().unwrap().len(), 0);
    let revoked = op.get_json(&list("revoked")).await;
    assert_eq!(revoked["items"][0]["id"], key_id.as_str());
    let bad = problem(op.get(&list("deleted")).await, 400, "invalid-request").await;
    let detail = bad["detail"].as_str().unwrap();
    assert!(
        detail.contains("active") && detail.contains("revoked") && detail.contains("all"),
        "{detail}"
    );
    assert!(
        !p.stderr().contains(&ka),
        "a tenant key never reaches the log"
    );
}

#[tokio::test]
async fn wrong_kind_of_key_or_no_key() {
    let p = spawn(&[]);
    let op = p.operator();
    let (_t, k) = p.tenant_with_key("kinds").await;
    problem(p.api(&k).get("/v1/tenants").await, 403, "forbidden").await;
    problem(op.get("/v1/me").await, 403, "forbidden").await;
    let r = reqwest::Client::new()
        .get(p.at("/v1/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    problem(r, 401, "unauthenticated").await;
    let last = if k.ends_with('X') { "Y" } else { "X" };
    let forged = format!("{}{last}", &k[..k.len() - 1]);
    problem(p.api(&forged).get("/v1/me").await, 401, "unauthenticated").await;
    problem(op.get("/v1/tenants/ten_nope").await, 404, "not-found").await;
    problem(op.get("/v1/tenants/bad:id").await, 404, "not-found").await;
}

#[tokio::test]
async fn tenants_list_pages_with_a_cursor() {
    let p = spawn(&[]);
    let op = p.operator();
    for i in 0..5 {
        p.tenant_with_key(&format!("page-{i}")).await;
    }
    let mut ids = Vec::new();
    let mut path = "/v1/tenants?limit=2".to_owned();
    loop {
        let page = op.get_json(&path).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        ids.extend(items.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(n) => path = format!("/v1/tenants?limit=2&cursor={n}"),
            None => break,
        }
    }
    assert_eq!(ids.len(), 5);
    let r = op.get("/v1/tenants?limit=500").await;
    let b = problem(r, 400, "invalid-request").await;
    assert_eq!(b["errors"][0]["field"], "limit");
}

#[tokio::test]
async fn a_revoked_key_answers_alike_with_the_right_or_a_wrong_secret() {
    let p = spawn(&[]);
    let op = p.operator();
    let (ta, key) = p.tenant_with_key("revoked").await;
    let listed = op.get_json(&format!("/v1/tenants/{ta}/keys")).await;
    let key_id = listed["items"][0]["id"].as_str().unwrap().to_owned();
    let rev = op.delete(&format!("/v1/tenants/{ta}/keys/{key_id}")).await;
    assert_eq!(rev.status(), 204);
    // Same key id, another secret of the right shape.
    let wrong = format!("{}{}", &key[..key.len() - 40], "Z".repeat(40));
    assert_ne!(wrong, key);
    let answer = |k: String| {
        let api = p.api(&k);
        async move {
            let r = api.get("/v1/me").await;
            let challenge = r.headers().get("www-authenticate").cloned();
            let mut body = problem(r, 401, "unauthenticated").await;
            body.as_object_mut().unwrap().remove("request_id");
            (challenge, body)
        }
    };
    let (right, wrong) = (answer(key).await, answer(wrong).await);
    assert_eq!(right, wrong, "revoked and wrong-secret answers differ");
}

#[tokio::test]
async fn revoked_keys_leave_the_default_listing() {
    let p = spawn(&[]);
    let op = p.operator();
    let (t, _k) = p.tenant_with_key("listing").await;
    let keys = format!("/v1/tenants/{t}/keys");
    let id = op.get_json(&keys).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    op.post(&keys, serde_json::json!({"name": "second"})).await;
    assert_eq!(op.delete(&format!("{keys}/{id}")).await.status(), 204);
    let active = op.get_json(&keys).await;
    let items = active["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{active}");
    assert!(items[0]["revoked_at_ms"].is_null());
    let all = op.get_json(&format!("{keys}?status=all")).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn tenants_are_renamed_and_deleted() {
    let p = spawn(&[]);
    let op = p.operator();
    let (t, k) = p.tenant_with_key("rename-me").await;
    let path = format!("/v1/tenants/{t}");
    let r = op
        .patch(&path, serde_json::json!({"name": " New name "}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(op.get_json(&path).await["name"], "New name");
    let bad = op.patch(&path, serde_json::json!({"name": ""})).await;
    let bad = problem(bad, 400, "invalid-request").await;
    assert_eq!(bad["errors"][0]["field"], "name", "{bad}");
    let missing = op
        .patch("/v1/tenants/ten_nope", serde_json::json!({"name": "x"}))
        .await;
    problem(missing, 404, "not-found").await;

    assert_eq!(op.delete(&path).await.status(), 204);
    problem(op.get(&path).await, 404, "not-found").await;
    problem(op.delete(&path).await, 404, "not-found").await;
    problem(op.get(&format!("{path}/keys")).await, 404, "not-found").await;
    problem(p.api(&k).get("/v1/me").await, 401, "unauthenticated").await;
    // The external id is free again: a new tenant, with a new id.
    let again: serde_json::Value = op
        .post(
            "/v1/tenants",
            serde_json::json!({"external_id": "rename-me", "name": "x"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(again["id"], t.as_str());
}

#[tokio::test]
async fn two_operator_keys_are_valid_during_a_rotation() {
    let old = "pal_op_rotation_old_0123456789abcdefghijkl";
    let new = "pal_op_rotation_new_0123456789abcdefghijkl";
    let p = spawn(&[
        ("PALISADE_OPERATOR_KEY", old),
        ("PALISADE_OPERATOR_KEY_NEXT", new),
    ]);
    for k in [old, new] {
        assert_eq!(p.api(k).get("/v1/tenants").await.status(), 200);
    }
    let other = "pal_op_rotation_bad_0123456789abcdefghijkl";
    problem(
        p.api(other).get("/v1/tenants").await,
        401,
        "unauthenticated",
    )
    .await;
    // After the switch only the new key is configured: the old one stops.
    drop(p);
    let p = spawn(&[("PALISADE_OPERATOR_KEY", new)]);
    assert_eq!(p.api(new).get("/v1/tenants").await.status(), 200);
    problem(p.api(old).get("/v1/tenants").await, 401, "unauthenticated").await;
}
