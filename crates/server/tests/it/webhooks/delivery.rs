//! Delivery to a local app: signed in Standard Webhooks form, retried while the app is down
//! and delivered once in order of arrival when it comes back, `Retry-After` honoured (seconds
//! or an HTTP-date, up to the schedule's longest delay), 410
//! disabling the target, dead after the last attempt, manual replay.

use super::{
    config_toml_schedule, push_source, server, signature, source_create, Hit, Provider, Target,
};
use crate::common::{eventually_async, spawn_in, temp_dir, Api};
use serde_json::{json, Value};
use std::time::Duration;

/// True when `hit` carries a valid Palisade signature under `secret`.
fn signed_by(hit: &Hit, secret: &str) -> bool {
    let h = |n: &str| hit.headers[n].to_str().unwrap().to_owned();
    let ts: i64 = h("webhook-timestamp").parse().unwrap();
    signature(secret, &h("webhook-id"), ts, &hit.body) == h("webhook-signature")
}

async fn event(api: &Api, id: &str) -> Value {
    api.get_json(&format!("/v1/webhooks/events/{id}")).await
}

/// Waits until event `id` has `status`; answers it.
async fn settled(api: &Api, id: &str, status: &str, within: Duration) -> Value {
    let found = eventually_async(within, || async {
        let e = event(api, id).await;
        (e["status"] == status).then_some(e)
    })
    .await;
    match found {
        Some(e) => e,
        None => panic!("event {id} not {status}: {}", event(api, id).await),
    }
}

async fn accepted(prov: &Provider, tenant: &str, source: &str, id: &str, body: &[u8]) -> String {
    let r = prov.send(tenant, source, id, body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn target_down_then_up_gets_each_event_once_in_order_of_arrival() {
    // the app's port, with nothing listening yet: connections are refused
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let p = server(port, 10);
    let (tenant, key) = p.tenant_with_key("wh-down").await;
    let api = p.api(&key);
    let created = source_create(&api, push_source("ordered", port, true)).await;
    let secret = created["delivery_secret"].as_str().unwrap().to_owned();
    let prov = Provider::new(&p.url);
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = format!("{{\"n\":{i}}}");
        ids.push(
            accepted(
                &prov,
                &tenant,
                "ordered",
                &format!("msg_{i}"),
                body.as_bytes(),
            )
            .await,
        );
    }
    // down for a while: the first event's attempts fail, none is delivered
    let first = eventually_async(Duration::from_secs(10), || async {
        let e = event(&api, &ids[0]).await;
        (e["attempts"].as_u64() >= Some(2)).then_some(e)
    })
    .await
    .expect("the first event is retried while the app is down");
    assert_eq!(first["status"], "pending");
    assert!(
        first["last_error"].as_str().unwrap().contains("fetch-"),
        "{first}"
    );
    for id in &ids[1..] {
        assert_eq!(
            event(&api, id).await["attempts"],
            0,
            "later events wait their turn"
        );
    }
    // up again
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let target = Target::on(listener);
    for id in &ids {
        settled(&api, id, "delivered", Duration::from_secs(30)).await;
    }
    let hits = target.hits();
    let bodies: Vec<String> = hits
        .iter()
        .map(|h| String::from_utf8_lossy(&h.body).into_owned())
        .collect();
    let want: Vec<String> = (0..5).map(|i| format!("{{\"n\":{i}}}")).collect();
    assert_eq!(bodies, want, "each once, in order of arrival");
    for (h, id) in hits.iter().zip(&ids) {
        assert_eq!(h.headers["webhook-id"], id.as_str());
        assert_eq!(h.headers["content-type"], "application/json");
        assert!(signed_by(h, &secret), "Palisade's signature verifies");
        assert!(!signed_by(h, super::SECRET), "not the provider's secret");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(target.hits().len(), 5, "nothing delivered twice");
}

#[tokio::test]
async fn retry_after_as_seconds_or_http_date_is_honoured_up_to_the_longest_delay() {
    let target = Target::start().await;
    let dir = temp_dir();
    let toml = config_toml_schedule(target.port, &["1s", "1s", "4s"]);
    std::fs::write(dir.join("palisade.toml"), toml).unwrap();
    let p = spawn_in(dir, &[]);
    let (tenant, key) = p.tenant_with_key("wh-retry-after").await;
    let api = p.api(&key);
    source_create(&api, push_source("s", target.port, false)).await;
    let prov = Provider::new(&p.url);
    // 503 until an HTTP-date 3 s ahead (the schedule says 1 s), then 429 asking for an hour
    // (the schedule says 1 s; its longest delay is 4 s), then 200
    target.answer(503, Some("date+3"));
    target.answer(429, Some("3600"));
    let id = accepted(&prov, &tenant, "s", "m1", b"{}").await;
    let e = settled(&api, &id, "delivered", Duration::from_secs(60)).await;
    assert_eq!(e["attempts"], 3);
    let hits = target.hits();
    assert_eq!(hits.len(), 3);
    let date_gap = hits[1].at - hits[0].at;
    assert!(
        date_gap >= Duration::from_secs(2),
        "the HTTP-date (whole seconds, 3 s ahead) was waited for: {date_gap:?}"
    );
    let seconds_gap = hits[2].at - hits[1].at;
    assert!(
        seconds_gap >= Duration::from_millis(3_500),
        "Retry-After in seconds honoured up to the longest delay (4 s): {seconds_gap:?}"
    );
    // and no longer: delivered within the deadline, not an hour later
}

#[tokio::test]
async fn the_last_attempt_fails_then_replay_redelivers() {
    let target = Target::start().await;
    let p = server(target.port, 1);
    let (tenant, key) = p.tenant_with_key("wh-retry").await;
    let api = p.api(&key);
    source_create(&api, push_source("s", target.port, false)).await;
    let prov = Provider::new(&p.url);
    // 429, then 500: two attempts, the schedule allows one retry
    target.answer(429, None);
    target.answer(500, None);
    let id = accepted(&prov, &tenant, "s", "m1", b"{}").await;
    let e = settled(&api, &id, "failed", Duration::from_secs(20)).await;
    assert_eq!(e["attempts"], 2);
    assert_eq!(e["last_status"], 500);
    assert_eq!(e["last_error"], "the target answered 500");
    assert_eq!(target.hits().len(), 2);
    // replay the failed ones in bulk: delivered now
    let r: Value = api
        .post("/v1/webhooks/events/replay", json!({"status": "failed"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["replayed"], 1);
    let e = settled(&api, &id, "delivered", Duration::from_secs(10)).await;
    assert_eq!(e["attempts"], 1, "a replay starts a fresh count");
    // one replay of a delivered event delivers it once more
    let r = api
        .post(&format!("/v1/webhooks/events/{id}/replay"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let done = eventually_async(Duration::from_secs(10), || async {
        (target.hits().len() == 4).then_some(())
    })
    .await;
    assert!(done.is_some(), "replayed delivery arrived");
    settled(&api, &id, "delivered", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn gone_disables_the_target_until_it_is_set_again() {
    let target = Target::start().await;
    let p = server(target.port, 3);
    let (tenant, key) = p.tenant_with_key("wh-gone").await;
    let api = p.api(&key);
    source_create(&api, push_source("s", target.port, true)).await;
    let prov = Provider::new(&p.url);
    target.answer(410, None);
    let first = accepted(&prov, &tenant, "s", "m1", b"{\"n\":1}").await;
    let e = settled(&api, &first, "failed", Duration::from_secs(10)).await;
    assert_eq!(e["last_status"], 410);
    let s = api.get_json("/v1/webhooks/sources/s").await;
    assert_eq!(s["target"]["disabled"], true);
    // pushes stop: a new event stays pending, the app is not called
    let second = accepted(&prov, &tenant, "s", "m2", b"{\"n\":2}").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(event(&api, &second).await["status"], "pending");
    assert_eq!(target.hits().len(), 1);
    // set the target again: the pending event is delivered
    let patch = json!({"target": {"url": target.url(), "ordered": true}});
    let r = api.patch("/v1/webhooks/sources/s", patch).await;
    assert_eq!(r.status(), 200);
    settled(&api, &second, "delivered", Duration::from_secs(10)).await;
    assert_eq!(target.hits().len(), 2);
}

#[tokio::test]
async fn concurrent_copies_of_one_event_are_delivered_once() {
    let target = Target::start().await;
    let p = server(target.port, 3);
    let (tenant, key) = p.tenant_with_key("wh-copies").await;
    let api = p.api(&key);
    source_create(&api, push_source("s", target.port, false)).await;
    let prov = Provider::new(&p.url);
    let sends = (0..200).map(|_| {
        let (prov, tenant) = (prov.clone(), tenant.clone());
        async move {
            prov.send(&tenant, "s", "the-one", b"{}")
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(sends).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let page = api.get_json("/v1/webhooks/events").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    settled(&api, &id, "delivered", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(target.hits().len(), 1);
}

/// The entries of a delivery's `webhook-signature` header (space-separated).
fn signatures(hit: &Hit) -> Vec<String> {
    let v = hit.headers["webhook-signature"].to_str().unwrap();
    v.split(' ').map(str::to_owned).collect()
}

/// True when one of the delivery's signatures is `secret`'s.
fn signed_with(hit: &Hit, secret: &str) -> bool {
    let h = |n: &str| hit.headers[n].to_str().unwrap().to_owned();
    let ts: i64 = h("webhook-timestamp").parse().unwrap();
    let expected = signature(secret, &h("webhook-id"), ts, &hit.body);
    signatures(hit).contains(&expected)
}

#[tokio::test]
async fn delivery_secret_rotation_signs_with_both_during_the_grace_then_the_new_one_alone() {
    let target = Target::start().await;
    let p = server(target.port, 3);
    let (tenant, key) = p.tenant_with_key("wh-rotate-delivery").await;
    let api = p.api(&key);
    let created = source_create(&api, push_source("s", target.port, false)).await;
    let first = created["delivery_secret"].as_str().unwrap().to_owned();
    let prov = Provider::new(&p.url);
    let path = "/v1/webhooks/sources/s/delivery-secret/rotate";

    // rotate with a day of grace: the next delivery carries both signatures
    let r = api.post(path, json!({"grace_secs": 3600})).await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let second = rotated["delivery_secret"].as_str().unwrap().to_owned();
    assert!(second.starts_with("whsec_") && second != first);
    assert!(rotated["source"]["delivery_previous_until_ms"]
        .as_i64()
        .is_some());
    accepted(&prov, &tenant, "s", "m1", b"{\"n\":1}").await;
    let got = eventually_async(Duration::from_secs(20), || async {
        (target.hits().len() == 1).then_some(())
    })
    .await;
    assert!(got.is_some(), "delivered");
    let hit = &target.hits()[0];
    assert_eq!(signatures(hit).len(), 2);
    assert!(signed_with(hit, &second), "signed with the new secret");
    assert!(signed_with(hit, &first), "and with the previous one");

    // rotate to a given secret without grace: the previous one stops signing at once
    let third = "whsec_dGhpcmQgZGVsaXZlcnkgc2VjcmV0IGZvciB0ZXN0cw==";
    let r = api
        .post(path, json!({"secret": third, "grace_secs": 0}))
        .await;
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    assert_eq!(rotated["delivery_secret"], third);
    assert!(rotated["source"]["delivery_previous_until_ms"].is_null());
    accepted(&prov, &tenant, "s", "m2", b"{\"n\":2}").await;
    let got = eventually_async(Duration::from_secs(20), || async {
        (target.hits().len() == 2).then_some(())
    })
    .await;
    assert!(got.is_some(), "delivered");
    let hit = &target.hits()[1];
    assert_eq!(signatures(hit).len(), 1);
    assert!(signed_with(hit, third));
    assert!(!signed_with(hit, &second) && !signed_with(hit, &first));

    // bad input names the field, never the value; another tenant's source is a 404
    let bad = api
        .post(path, json!({"secret": "not-a-delivery-VALUE"}))
        .await;
    let body = crate::common::problem(bad, 400, "invalid-request").await;
    assert!(body.to_string().contains("secret"));
    assert!(!body.to_string().contains("VALUE"));
    let bad = api.post(path, json!({"grace_secs": 700000})).await;
    crate::common::problem(bad, 400, "invalid-request").await;
    let other = p.tenant_api("wh-rotate-other").await;
    let r = other.post(path, json!({})).await;
    crate::common::problem(r, 404, "not-found").await;
    // the source view never shows a delivery secret
    let view = api
        .get("/v1/webhooks/sources/s")
        .await
        .text()
        .await
        .unwrap();
    for s in [&first, &second, third] {
        assert!(!view.contains(&s[6..]));
    }
}
