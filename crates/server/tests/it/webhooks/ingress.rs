//! Ingress and the API on the embedded default: accepted and duplicate events, every refusal
//! with its status and code (audited, counted, nothing stored), secrets write-only and
//! rotated, pull with acknowledgement.

use super::{now_secs, pull_source, signature, source_create, Provider, SECRET, SECRET2};
use crate::common::{eventually_async, problem, spawn, Api};
use base64::Engine as _;
use serde_json::{json, Value};
use std::time::Duration;

async fn events(api: &Api, query: &str) -> Vec<Value> {
    let page = api.get_json(&format!("/v1/webhooks/events?{query}")).await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn accepts_signed_events_answers_duplicates_and_serves_pull() {
    let p = spawn(&[]);
    let (tenant, key) = p.tenant_with_key("wh-accept").await;
    let api = p.api(&key);
    let created = source_create(&api, pull_source("stripe")).await;
    assert!(created["delivery_secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    assert!(
        !created.to_string().contains(&SECRET[6..]),
        "secrets are write-only"
    );
    assert_eq!(
        created["source"]["ingress_path"],
        format!("/hooks/{tenant}/stripe")
    );
    let prov = Provider::new(&p.url);
    let body = br#"{"type":"invoice.paid"}"#;
    let r = prov.send(&tenant, "stripe", "msg_1", body).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("palisade-duplicate").is_none());
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["status"], "accepted");
    // the provider retries the same event (signed again, later)
    let ts = now_secs() + 1;
    let again = prov
        .send_at(&tenant, "stripe", SECRET, "msg_1", ts, body)
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["palisade-duplicate"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["status"].as_str(), &again["id"]),
        (Some("duplicate"), &first["id"])
    );

    let pending = events(&api, "status=pending&include_body=true").await;
    assert_eq!(pending.len(), 1);
    let b64 = base64::engine::general_purpose::STANDARD;
    let got = b64
        .decode(pending[0]["body_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(got, body);
    assert_eq!(pending[0]["content_type"], "application/json");
    let id = pending[0]["id"].as_str().unwrap();
    let acked: Value = api
        .post(&format!("/v1/webhooks/events/{id}/ack"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(acked["status"], "delivered");
    let stats = api.get_json("/v1/webhooks/stats").await;
    assert_eq!(
        (stats["pending"].as_u64(), stats["delivered"].as_u64()),
        (Some(0), Some(1))
    );
    // the acknowledged event is still a duplicate
    let third = prov.send(&tenant, "stripe", "msg_1", body).await;
    assert_eq!(third.headers()["palisade-duplicate"], "true");
}

#[tokio::test]
async fn every_refusal_has_its_code_is_audited_counted_and_stores_nothing() {
    let p = spawn(&[]);
    let (tenant, key) = p.tenant_with_key("wh-refuse").await;
    let api = p.api(&key);
    let mut src = pull_source("s");
    src["max_body_bytes"] = json!(1024);
    source_create(&api, src).await;
    let (other, other_key) = p.tenant_with_key("wh-other").await;
    source_create(&p.api(&other_key), pull_source("theirs")).await;
    let prov = Provider::new(&p.url);
    let body = br#"{"a":1}"#.to_vec();
    let now = now_secs();
    let sig = |id: &str, ts: i64| signature(SECRET, id, ts, &body);

    // unknown source, another tenant's source, a malformed tenant: the same 404
    for (t, s) in [
        (tenant.as_str(), "nope"),
        (tenant.as_str(), "theirs"),
        ("bad!", "s"),
    ] {
        let r = prov.send(t, s, "m", &body).await;
        problem(r, 404, "not-found").await;
    }
    let _ = other;
    // a signature with a key the source does not have
    let r = prov.send_at(&tenant, "s", SECRET2, "m1", now, &body).await;
    problem(r, 401, "webhook-signature-invalid").await;
    // a signature header missing
    let h = [
        ("webhook-id", "m2".into()),
        ("webhook-timestamp", now.to_string()),
    ];
    problem(
        prov.raw(&tenant, "s", &h, body.clone()).await,
        401,
        "webhook-signature-missing",
    )
    .await;
    // a signed header given twice
    let h = [
        ("webhook-id", "m3".into()),
        ("webhook-id", "m3b".into()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", sig("m3", now)),
    ];
    problem(
        prov.raw(&tenant, "s", &h, body.clone()).await,
        401,
        "webhook-signature-duplicate",
    )
    .await;
    // stale, future, absurd timestamps
    let stale = prov
        .send_at(&tenant, "s", SECRET, "m4", now - 301, &body)
        .await;
    let detail = problem(stale, 401, "webhook-timestamp-stale").await;
    assert!(
        !detail.to_string().contains(&(now - 301).to_string()),
        "no value echoed"
    );
    let future = prov
        .send_at(&tenant, "s", SECRET, "m5", now + 120, &body)
        .await;
    problem(future, 401, "webhook-timestamp-future").await;
    let huge = prov
        .send_at(&tenant, "s", SECRET, "m6", i64::MAX, &body)
        .await;
    // An absurd timestamp (over 12 digits) is refused by the header parser, before any MAC.
    problem(huge, 401, "webhook-signature-malformed").await;
    let h = [
        ("webhook-id", "m7".into()),
        ("webhook-timestamp", "99999999999999999999999".into()),
        ("webhook-signature", sig("m7", now)),
    ];
    problem(
        prov.raw(&tenant, "s", &h, body.clone()).await,
        401,
        "webhook-signature-malformed",
    )
    .await;
    // over the source's limit (declared), and a streamed one without a length
    let big = vec![b'x'; 2000];
    let r = prov.send_at(&tenant, "s", SECRET, "m8", now, &big).await;
    problem(r, 413, "webhook-body-too-large").await;
    let status = chunked_post(&p.url, &format!("/hooks/{tenant}/s"), now, &[b'y'; 1500]).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    // nothing of the above was stored
    assert!(events(&api, "").await.is_empty());
    // a signed body that is not UTF-8 is just bytes
    let raw = vec![0xff, 0xfe, 0x00, 0x80];
    let r = prov.send_at(&tenant, "s", SECRET, "bin", now, &raw).await;
    assert_eq!(r.status(), 200);
    let all = events(&api, "include_body=true").await;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        b64.decode(all[0]["body_base64"].as_str().unwrap()).unwrap(),
        raw
    );

    // each refusal with a source is an audit event of its tenant
    let audited = eventually_async(Duration::from_secs(10), || async {
        let page = api
            .get_json("/v1/audit?type=webhook.signature_invalid&limit=200")
            .await;
        let items = page["items"].as_array().unwrap().clone();
        (items.len() >= 8).then_some(items)
    })
    .await
    .expect("eight refusals audited");
    let reasons: Vec<String> = audited
        .iter()
        .map(|e| {
            e["detail"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    for r in [
        "bad_signature",
        "bad_signature_header",
        "stale",
        "future",
        "too_large",
    ] {
        assert!(reasons.iter().any(|x| x == r), "{r} in {reasons:?}");
    }
    let m = p.metrics().await;
    for needle in [
        r#"palisade_webhooks_ingress_total{provider="standard_webhooks",result="bad_signature"}"#,
        r#"palisade_webhooks_ingress_total{provider="standard_webhooks",result="stale"}"#,
        r#"palisade_webhooks_ingress_total{provider="standard_webhooks",result="too_large"}"#,
        r#"palisade_webhooks_ingress_total{provider="unknown",result="unknown_source"}"#,
        r#"palisade_webhooks_ingress_total{provider="standard_webhooks",result="accepted"}"#,
    ] {
        assert!(m.contains(needle), "{needle} missing");
    }
    assert!(!m.contains(&tenant), "no tenant in a metric label");
}

#[tokio::test]
async fn secrets_rotate_stay_write_only_and_are_sealed_at_rest() {
    let p = spawn(&[]);
    let (tenant, key) = p.tenant_with_key("wh-rotate").await;
    let api = p.api(&key);
    let s = source_create(&api, pull_source("r")).await;
    let old_id = s["source"]["secrets"][0]["id"].as_str().unwrap().to_owned();
    let add = api
        .post("/v1/webhooks/sources/r/secrets", json!({"secret": SECRET2}))
        .await;
    assert_eq!(add.status(), 201);
    let added: Value = add.json().await.unwrap();
    let text = added.to_string();
    assert!(!text.contains(&SECRET[6..]) && !text.contains(&SECRET2[6..]));
    let prov = Provider::new(&p.url);
    let now = now_secs();
    let ok = |r: reqwest::Response| async move { assert_eq!(r.status(), 200) };
    ok(prov.send_at(&tenant, "r", SECRET, "a", now, b"{}").await).await;
    ok(prov.send_at(&tenant, "r", SECRET2, "b", now, b"{}").await).await;
    let retire = format!("/v1/webhooks/sources/r/secrets/{old_id}/retire");
    let r = api.post(&retire, json!({"grace_secs": 0})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["secrets"].as_array().unwrap().len(), 1);
    let refused = prov.send_at(&tenant, "r", SECRET, "c", now, b"{}").await;
    problem(refused, 401, "webhook-signature-invalid").await;
    ok(prov.send_at(&tenant, "r", SECRET2, "d", now, b"{}").await).await;
    // the last secret cannot be retired; a secret of the wrong form is named
    let new_id = v["secrets"][0]["id"].as_str().unwrap();
    let last = api
        .post(
            &format!("/v1/webhooks/sources/r/secrets/{new_id}/retire"),
            json!({}),
        )
        .await;
    problem(last, 400, "invalid-request").await;
    let bad = api
        .post(
            "/v1/webhooks/sources/r/secrets",
            json!({"secret": "not base64!"}),
        )
        .await;
    let body = problem(bad, 400, "invalid-request").await;
    assert_eq!(body["errors"][0]["field"], "secret");
    assert!(!body.to_string().contains("not base64!"));
    // at rest: no secret in the database files
    let data = p.dir.join("palisade-data");
    for f in std::fs::read_dir(&data).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(&SECRET2[6..]) && !hay.contains(&SECRET[6..]));
    }
}

#[tokio::test]
async fn bad_source_input_is_named_and_foreign_sources_are_404() {
    let p = spawn(&[]);
    let api = p.tenant_api("wh-input").await;
    let bad =
        json!({"name": "a/b", "provider": {"kind": "standard_webhooks"}, "secrets": [SECRET]});
    let r = problem(
        api.post("/v1/webhooks/sources", bad).await,
        400,
        "invalid-request",
    )
    .await;
    assert_eq!(r["errors"][0]["field"], "name");
    let bad = json!({"name": "ok", "provider": {"kind": "standard_webhooks"}, "secrets": [],
                     "tolerance_secs": 10, "target": {"url": "ftp://x", "concurrency": 0}});
    let r = problem(
        api.post("/v1/webhooks/sources", bad).await,
        400,
        "invalid-request",
    )
    .await;
    let fields: Vec<&str> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "secrets",
        "tolerance_secs",
        "target.url",
        "target.concurrency",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    let unknown =
        json!({"name": "ok", "provider": {"kind": "carrier_pigeon"}, "secrets": [SECRET]});
    problem(
        api.post("/v1/webhooks/sources", unknown).await,
        400,
        "invalid-request",
    )
    .await;
    source_create(&api, pull_source("mine")).await;
    problem(
        api.post("/v1/webhooks/sources", pull_source("mine")).await,
        409,
        "webhook-source-exists",
    )
    .await;
    let other = p.tenant_api("wh-input-2").await;
    problem(
        other.get("/v1/webhooks/sources/mine").await,
        404,
        "not-found",
    )
    .await;
    problem(
        other.delete("/v1/webhooks/sources/mine").await,
        404,
        "not-found",
    )
    .await;
    let ghost = "evt_000000000000aaaaaaaaaaaa";
    problem(
        other.get(&format!("/v1/webhooks/events/{ghost}")).await,
        404,
        "not-found",
    )
    .await;
    problem(
        other.get("/v1/webhooks/events/nope").await,
        400,
        "invalid-request",
    )
    .await;
    problem(
        other.get("/v1/webhooks/events?status=dead").await,
        400,
        "invalid-request",
    )
    .await;
    let doc = p.openapi().await;
    for path in [
        "/hooks/{tenant}/{source}",
        "/v1/webhooks/sources",
        "/v1/webhooks/events/{id}/replay",
        "/v1/webhooks/stats",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} in /openapi.json");
    }
}

/// POSTs `body` signed as event `m9` with `Transfer-Encoding: chunked` (no length declared);
/// answers the status line.
async fn chunked_post(base: &str, path: &str, ts: i64, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\n\
         content-type: application/json\r\nwebhook-id: m9\r\nwebhook-timestamp: {ts}\r\n\
         webhook-signature: {}\r\nconnection: close\r\n\r\n",
        signature(SECRET, "m9", ts, body)
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for part in body.chunks(500) {
        s.write_all(format!("{:x}\r\n", part.len()).as_bytes())
            .await
            .unwrap();
        s.write_all(part).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// On the embedded default ingress groups concurrent inserts into one write: 200 concurrent
/// deliveries of 20 events (each sent 10 times) store each event once and answer every copy,
/// one `accepted` per event and 9 `duplicate`s with its id.
#[tokio::test]
async fn concurrent_deliveries_grouped_store_each_event_once() {
    let p = spawn(&[]);
    let (tenant, key) = p.tenant_with_key("wh-grouped").await;
    let api = p.api(&key);
    source_create(&api, pull_source("bulk")).await;
    let prov = Provider::new(&p.url);
    let sends = (0..200).map(|i| {
        let (prov, tenant) = (&prov, &tenant);
        async move {
            let id = format!("msg_{}", i % 20);
            let body = format!("{{\"n\":{}}}", i % 20);
            let r = prov.send(tenant, "bulk", &id, body.as_bytes()).await;
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            (
                id,
                v["status"].as_str().unwrap().to_owned(),
                v["id"].clone(),
            )
        }
    });
    let answers = futures::future::join_all(sends).await;
    let mut ids = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    let accepted = answers.iter().filter(|a| a.1 == "accepted").count();
    for (msg, _, id) in &answers {
        ids.entry(msg.clone()).or_default().insert(id.to_string());
    }
    assert_eq!(accepted, 20, "one accepted per event");
    assert!(
        ids.values().all(|s| s.len() == 1),
        "every copy answers its event's id"
    );
    assert_eq!(events(&api, "limit=100").await.len(), 20);
}
