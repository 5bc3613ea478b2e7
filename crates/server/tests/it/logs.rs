//! The access log: one redacted JSON line per request with request id, tenant, route, status, latency.

use crate::common::{eventually, spawn};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn every_request_logs_id_tenant_route_status_latency_without_secrets() {
    let p = spawn(&[]);
    let (tenant, key) = p.tenant_with_key("logs").await;
    let res = reqwest::Client::new()
        .get(p.at("/v1/me?email=jane.doe@example.com"))
        .bearer_auth(&key)
        .header("x-request-id", "trace_0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace_0123456789");
    let found = eventually(Duration::from_secs(5), || {
        p.stderr()
            .lines()
            .any(|l| l.contains("trace_0123456789") && l.contains("latency_ms"))
    })
    .await;
    assert!(found, "no access log line:\n{}", p.stderr());
    let log = p.stderr();
    let line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["request_id"] == "trace_0123456789" && v["message"] == "request")
        .expect("a JSON access line");
    assert_eq!(line["tenant"], tenant.as_str());
    assert_eq!(line["route"], "/v1/me");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].is_number(), "{line}");
    assert!(!log.contains(&key), "the API key never reaches the log");
    assert!(!log.contains("jane.doe@example.com"));
    for l in log.lines().filter(|l| l.starts_with('{')) {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
    }
    // docs/logging.md shows this very line: the same keys, target, span and message.
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/logging.md"
    ))
    .unwrap();
    let example: Value = doc
        .lines()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(|v| v["message"] == "request")
        })
        .expect("docs/logging.md shows an access log line");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&example), keys(&line), "documented vs real keys");
    for k in ["target", "span", "message", "level"] {
        assert_eq!(example[k], line[k], "{k}");
    }
}

#[tokio::test]
async fn secrets_sent_as_request_id_or_method_never_reach_the_log() {
    let p = spawn(&[]);
    let c = reqwest::Client::new();
    let secrets = [
        "sk_live_51H8xYzAbCdEfGhIjKlMnOpQr",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "xoxb-123456789012-AbCdEfGhIjKlMnOp",
        "AKIAIOSFODNN7EXAMPLE",
        "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
    ];
    for s in secrets {
        let r = c
            .get(p.at("/healthz"))
            .header("x-request-id", s)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, s, "a secret is not adopted as the request id");
        let m = reqwest::Method::from_bytes(s.as_bytes()).unwrap();
        c.request(m, p.at("/healthz")).send().await.unwrap();
    }
    let done = eventually(Duration::from_secs(5), || {
        p.stderr().matches("\"message\":\"request\"").count() >= 2 * secrets.len()
    })
    .await;
    let log = p.stderr();
    assert!(done, "access lines missing:\n{log}");
    for s in secrets {
        assert!(!log.contains(s), "{s} reached the log:\n{log}");
    }
}
