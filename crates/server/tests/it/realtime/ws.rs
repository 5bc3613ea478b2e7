//! Realtime over WebSocket (`GET /v1/realtime/ws`): auth, subscribe, resume and gap, the same
//! token rules, closes with a reason, pings, size cap, and no stream leaked.

use super::{all_released, server, tasks_alive, tasks_back_to};
use crate::common::Proc;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client of one server.
struct Client {
    ws: Ws,
    pings: usize,
}

/// How a connection ended: its close code and reason.
#[derive(Debug, PartialEq)]
struct Closed(u16, String);

impl Client {
    async fn connect(p: &Proc, key: Option<&str>) -> Self {
        let url = format!("{}/v1/realtime/ws", p.url.replace("http://", "ws://"));
        let mut req = url.into_client_request().unwrap();
        if let Some(k) = key {
            req.headers_mut()
                .insert("authorization", format!("Bearer {k}").parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        Self { ws, pings: 0 }
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    /// The next JSON message within 10 s; `Err` with the close frame when the server closed.
    async fn next(&mut self) -> Result<Value, Closed> {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("a message within 10 s");
            match m {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
                Some(Ok(Message::Ping(_))) => self.pings += 1,
                Some(Ok(Message::Close(Some(f)))) => {
                    return Err(Closed(f.code.into(), f.reason.as_str().to_owned()))
                }
                other => return Err(Closed(0, format!("{other:?}"))),
            }
        }
    }

    async fn expect(&mut self, kind: &str) -> Value {
        let m = self
            .next()
            .await
            .unwrap_or_else(|c| panic!("closed {c:?}, wanted {kind}"));
        assert_eq!(m["type"], kind, "{m}");
        m
    }

    async fn auth(p: &Proc, token: &str) -> Self {
        let mut c = Self::connect(p, None).await;
        c.send(json!({"type": "auth", "token": token})).await;
        c.expect("authenticated").await;
        c
    }

    async fn closed(&mut self) -> Closed {
        loop {
            match self.next().await {
                Ok(_) => continue,
                Err(c) => return c,
            }
        }
    }
}

#[tokio::test]
async fn ws_subscriptions_get_events_in_order_resume_after_an_offset_and_see_gaps() {
    let p = server("");
    let a = p.tenant_api("rt-ws").await;
    let (tok, _) = a
        .mint(json!({"principal": "u1", "topics": ["t", "u"], "jobs": []}))
        .await;
    let mut c = Client::auth(&p, &tok).await;
    c.send(json!({"type": "subscribe", "topic": "t"})).await;
    assert_eq!(c.expect("subscribed").await["topic"], "t");
    a.publish("t", json!({"n": 1})).await;
    a.publish("t", json!({"n": 2})).await;
    for (id, n) in [("1", 1), ("2", 2)] {
        let m = c.expect("event").await;
        assert_eq!(
            (m["topic"].as_str(), m["id"].as_str()),
            (Some("t"), Some(id))
        );
        assert_eq!(m["data"], json!({"n": n}));
    }
    // Not covered (and another tenant's alike): an error, the connection goes on.
    c.send(json!({"type": "subscribe", "topic": "secret"}))
        .await;
    let e = c.expect("error").await;
    assert_eq!(
        (e["code"].as_str(), e["topic"].as_str()),
        (Some("not-found"), Some("secret"))
    );
    c.send(json!({"type": "subscribe", "topic": "t"})).await;
    assert_eq!(c.expect("error").await["code"], "already-subscribed");
    c.send(json!({"type": "dance"})).await;
    let e = c.expect("error").await;
    assert_eq!(e["code"], "invalid-request");
    assert!(
        !e.to_string().contains("dance"),
        "never echoes the input: {e}"
    );
    // Resume after an offset on a second connection; the history keeps 3 events: a gap.
    let mut r = Client::auth(&p, &tok).await;
    r.send(json!({"type": "subscribe", "topic": "t", "offset": 1}))
        .await;
    r.expect("subscribed").await;
    assert_eq!(r.expect("event").await["id"], "2");
    for n in 3..=6 {
        a.publish("t", json!({"n": n})).await;
    }
    let mut g = Client::auth(&p, &tok).await;
    g.send(json!({"type": "subscribe", "topic": "t", "offset": 1}))
        .await;
    g.expect("subscribed").await;
    let gap = g.expect("gap").await;
    assert_eq!(gap["topic"], "t");
    assert_eq!(gap["data"]["after"], 1);
    let ids: Vec<Value> = [
        g.expect("event").await,
        g.expect("event").await,
        g.expect("event").await,
    ]
    .iter()
    .map(|m| m["id"].clone())
    .collect();
    assert_eq!(ids, ["4", "5", "6"]);
    // Unsubscribe: no more events of it; pings arrive meanwhile.
    c.send(json!({"type": "unsubscribe", "topic": "t"})).await;
    loop {
        let m = c.next().await.unwrap();
        if m["type"] == "unsubscribed" {
            break;
        }
        assert_eq!(
            m["type"], "event",
            "only events queued before the unsubscribe: {m}"
        );
    }
    a.publish("t", json!({"n": 7})).await;
    c.send(json!({"type": "subscribe", "topic": "u"})).await;
    assert_eq!(
        c.expect("subscribed").await["topic"],
        "u",
        "nothing of t in between"
    );
    // Pings every heartbeat interval (200 ms here): they arrive between events.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.pings == 0 {
        assert!(std::time::Instant::now() < deadline, "no ping within 10 s");
        a.publish("u", json!({})).await;
        c.expect("event").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ws_refuses_bad_tokens_and_input_and_closes_on_revocation_and_expiry() {
    let p = server("");
    let a = p.tenant_api("rt-ws-close").await;
    // A bad token, a message that is not JSON, one over the cap, silence: closed with a reason.
    let mut c = Client::connect(&p, None).await;
    c.send(json!({"type": "auth", "token": "pst1.nope"})).await;
    assert_eq!(
        c.closed().await,
        Closed(4401, "stream-token-invalid".into())
    );
    let mut c = Client::connect(&p, None).await;
    c.ws.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(c.closed().await, Closed(1007, "invalid-message".into()));
    let (tok, tok_id) = a.mint(json!({"principal": "u1", "topics": ["t"]})).await;
    let mut c = Client::auth(&p, &tok).await;
    let big = json!({"type": "subscribe", "topic": "x".repeat(20_000)});
    c.send(big).await;
    assert_eq!(c.closed().await, Closed(1009, "message-too-large".into()));
    let mut c = Client::auth(&p, &tok).await;
    c.ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(c.closed().await, Closed(1003, "invalid-message".into()));
    // Revocation closes a subscribed connection.
    let mut c = Client::auth(&p, &tok).await;
    c.send(json!({"type": "subscribe", "topic": "t"})).await;
    c.expect("subscribed").await;
    let r = a
        .post("/v1/streams/revocations", json!({"token_id": tok_id}))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(c.closed().await, Closed(4403, "revoked".into()));
    let mut c = Client::connect(&p, None).await;
    c.send(json!({"type": "auth", "token": tok})).await;
    assert_eq!(
        c.closed().await,
        Closed(4401, "stream-token-revoked".into())
    );
    // Expiry closes it too, subscribed or not.
    let (tok, _) = a
        .mint(json!({"principal": "u2", "topics": ["t"], "ttl_ms": 1000}))
        .await;
    let mut c = Client::auth(&p, &tok).await;
    assert_eq!(c.closed().await, Closed(1000, "token-expired".into()));
}

#[tokio::test]
async fn ws_a_server_may_authenticate_the_upgrade_with_its_tenant_key() {
    let p = server("");
    let a = p.tenant_api("rt-ws-key").await;
    let mut c = Client::connect(&p, Some(&a.key)).await;
    c.expect("authenticated").await;
    c.send(json!({"type": "subscribe", "topic": "any"})).await;
    c.expect("subscribed").await;
    a.publish("any", json!({"k": 1})).await;
    assert_eq!(c.expect("event").await["data"], json!({"k": 1}));
    // A bad key is refused at the upgrade.
    let url = format!("{}/v1/realtime/ws", p.url.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer pk_nope".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_err());
}

#[tokio::test]
async fn ws_abandoned_connections_release_every_stream_and_task() {
    let p = server("max_streams_per_principal = 10000\nmax_streams_per_tenant = 10000\n");
    let a = p.tenant_api("rt-ws-leak").await;
    let (tok, _) = a.mint(json!({"principal": "u1", "topics": ["t"]})).await;
    let tasks = tasks_alive(&all_released(&p).await);
    for _ in 0..3 {
        let mut conns = Vec::new();
        for _ in 0..300 {
            let mut c = Client::auth(&p, &tok).await;
            c.send(json!({"type": "subscribe", "topic": "t"})).await;
            c.expect("subscribed").await;
            conns.push(c);
        }
        // Half leave by dropping the TCP connection, half with a close frame.
        for (i, mut c) in conns.into_iter().enumerate() {
            if i % 2 == 0 {
                let _ = c.ws.close(None).await;
            }
            drop(c);
        }
        all_released(&p).await;
        tasks_back_to(&p, tasks + 5.0).await;
    }
}

#[tokio::test]
async fn ws_job_subscriptions_follow_the_log_to_its_end_and_refuse_other_tenants() {
    let p = server("job_poll_interval = \"50ms\"\n");
    let a = p.tenant_api("rt-ws-job-a").await;
    let b = p.tenant_api("rt-ws-job-b").await;
    let id = a
        .enqueue(json!({"queue": "q", "kind": "k", "payload": {}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (tok, _) = a.mint(json!({"principal": "u1", "jobs": [id]})).await;
    let mut c = Client::auth(&p, &tok).await;
    c.send(json!({"type": "subscribe", "job": id})).await;
    assert_eq!(c.expect("subscribed").await["job"], id.as_str());
    let first = c.expect("event").await;
    assert_eq!(
        (first["id"].as_str(), &first["data"]["kind"]),
        (Some("0"), &json!("enqueued"))
    );
    let leased: Value = a
        .post(
            "/v1/jobs/lease",
            json!({"queue": "q", "worker": "w", "wait_ms": 1000}),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = leased["jobs"][0]["token"].as_u64().unwrap();
    let r = a
        .post(
            &format!("/v1/jobs/{id}/progress"),
            json!({"token": token, "percent": 40}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = a
        .post(&format!("/v1/jobs/{id}/complete"), json!({"token": token}))
        .await;
    assert!(r.status().is_success());
    let kinds: Vec<Value> = [
        c.expect("event").await,
        c.expect("event").await,
        c.expect("event").await,
    ]
    .iter()
    .map(|m| m["data"]["kind"].clone())
    .collect();
    assert_eq!(kinds, ["started", "progress", "completed"]);
    let closed = c.expect("closed").await;
    assert_eq!(
        (closed["job"].as_str(), closed["reason"].as_str()),
        (Some(id.as_str()), Some("job-finished"))
    );
    // Resume after offset 1 on a new subscription; another tenant's token: not found.
    c.send(json!({"type": "subscribe", "job": id, "offset": 1}))
        .await;
    c.expect("subscribed").await;
    assert_eq!(c.expect("event").await["id"], "2");
    let (tok_b, _) = b.mint(json!({"principal": "u1", "jobs": [id]})).await;
    let mut cb = Client::auth(&p, &tok_b).await;
    cb.send(json!({"type": "subscribe", "job": id})).await;
    assert_eq!(cb.expect("error").await["code"], "not-found");
}
