//! Tenants and API keys over HTTP: idempotent create, validation, keys shown once, scoping, revocation.

use crate::common::{problem, spawn};
use serde_json::{json, Value};

#[tokio::test]
async fn tenant_create_is_idempotent_and_validated() {
    let p = spawn(&[]);
    let op = p.operator_key();
    let c = reqwest::Client::new();
    let body = json!({"external_id": "acme-1", "name": "Acme"});
    let a = c
        .post(p.at("/v1/tenants"))
        .bearer_auth(&op)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 201);
    let a: Value = a.json().await.unwrap();
    let b = c
        .post(p.at("/v1/tenants"))
        .bearer_auth(&op)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        b.status(),
        200,
        "same external id answers the existing tenant"
    );
    let b: Value = b.json().await.unwrap();
    assert_eq!(a["id"], b["id"]);

    let bad = c
        .post(p.at("/v1/tenants"))
        .bearer_auth(&op)
        .json(&json!({"external_id": "no spaces", "name": ""}))
        .send()
        .await
        .unwrap();
    let body = problem(bad, 400, "invalid-request").await;
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

    let unknown = c
        .post(p.at("/v1/tenants"))
        .bearer_auth(&op)
        .json(&json!({"external_id": "x", "name": "y", "plan": "gold"}))
        .send()
        .await
        .unwrap();
    problem(unknown, 400, "invalid-json").await;
}

#[tokio::test]
async fn keys_authenticate_are_scoped_and_revocable() {
    let p = spawn(&[]);
    let op = p.operator_key();
    let c = reqwest::Client::new();
    let (ta, ka) = p.tenant_with_key("a").await;
    let (tb, _kb) = p.tenant_with_key("b").await;
    assert!(ka.starts_with("pal_key_"));

    let me: Value = c
        .get(p.at("/v1/me"))
        .bearer_auth(&ka)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["tenant"]["id"], ta.as_str());

    let listed: Value = c
        .get(p.at(&format!("/v1/tenants/{ta}/keys")))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let cross = c
        .delete(p.at(&format!("/v1/tenants/{tb}/keys/{key_id}")))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    let missing = c
        .delete(p.at(&format!("/v1/tenants/{tb}/keys/key_doesnotexist")))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    let (x, m) = (
        problem(cross, 404, "not-found").await,
        problem(missing, 404, "not-found").await,
    );
    assert_eq!(x["detail"], m["detail"]);

    let rev = c
        .delete(p.at(&format!("/v1/tenants/{ta}/keys/{key_id}")))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(rev.status(), 204);
    let after = c.get(p.at("/v1/me")).bearer_auth(&ka).send().await.unwrap();
    problem(after, 401, "unauthenticated").await;
    let list = |status: &str| {
        let url = p.at(&format!("/v1/tenants/{ta}/keys?status={status}"));
        c.get(url).bearer_auth(&op).send()
    };
    let active: Value = list("active").await.unwrap().json().await.unwrap();
    assert_eq!(active["items"].as_array().unwrap().len(), 0);
    let revoked: Value = list("revoked").await.unwrap().json().await.unwrap();
    assert_eq!(revoked["items"][0]["id"], key_id.as_str());
    let bad = problem(list("deleted").await.unwrap(), 400, "invalid-query").await;
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
    let op = p.operator_key();
    let c = reqwest::Client::new();
    let (_t, k) = p.tenant_with_key("kinds").await;
    let r = c
        .get(p.at("/v1/tenants"))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap();
    problem(r, 403, "forbidden").await;
    let r = c.get(p.at("/v1/me")).bearer_auth(&op).send().await.unwrap();
    problem(r, 403, "forbidden").await;
    let r = c.get(p.at("/v1/tenants")).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    problem(r, 401, "unauthenticated").await;
    let last = if k.ends_with('X') { "Y" } else { "X" };
    let forged = format!("{}{last}", &k[..k.len() - 1]);
    let r = c
        .get(p.at("/v1/me"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    problem(r, 401, "unauthenticated").await;
    let r = c
        .get(p.at("/v1/tenants/ten_nope"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    problem(r, 404, "not-found").await;
    let r = c
        .get(p.at("/v1/tenants/bad:id"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    problem(r, 404, "not-found").await;
}

#[tokio::test]
async fn tenants_list_pages_with_a_cursor() {
    let p = spawn(&[]);
    let op = p.operator_key();
    let c = reqwest::Client::new();
    for i in 0..5 {
        p.tenant_with_key(&format!("page-{i}")).await;
    }
    let mut ids = Vec::new();
    let mut url = p.at("/v1/tenants?limit=2");
    loop {
        let page: Value = c
            .get(&url)
            .bearer_auth(&op)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        ids.extend(items.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(n) => url = p.at(&format!("/v1/tenants?limit=2&cursor={n}")),
            None => break,
        }
    }
    assert_eq!(ids.len(), 5);
    let r = c
        .get(p.at("/v1/tenants?limit=500"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    let b = problem(r, 400, "invalid-request").await;
    assert_eq!(b["errors"][0]["field"], "limit");
}
