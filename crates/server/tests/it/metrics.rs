//! `/metrics`: bounded labels never chosen by a client or tenant, and a protected endpoint.

use crate::common::{eventually, spawn};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// The label sets of `palisade_http_requests_total` on the page.
fn http_series(page: &str) -> Vec<&str> {
    page.lines()
        .filter(|l| l.starts_with("palisade_http_requests_total{"))
        .collect()
}

#[tokio::test]
async fn invented_methods_do_not_grow_the_page() {
    let p = spawn(&[]);
    let c = reqwest::Client::new();
    let send = |m: String| {
        let c = c.clone();
        let url = p.at("/healthz");
        async move {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            c.request(m, url).send().await.unwrap().status()
        }
    };
    for i in 0..5 {
        send(format!("INVENTED{i}")).await;
    }
    p.metrics().await; // the scrape's own series, so it is on both pages compared
    let before = p.metrics().await;
    for i in 5..200 {
        send(format!("INVENTED{i}")).await;
    }
    let after = p.metrics().await;
    assert!(
        !after.contains("INVENTED"),
        "a client-chosen method is a label"
    );
    assert_eq!(
        http_series(&before).len(),
        http_series(&after).len(),
        "195 more invented methods added label sets:\n{after}"
    );
    assert!(
        after.contains("method=\"other\""),
        "invented methods count as `other`"
    );
}

#[tokio::test]
async fn unmatched_paths_share_one_route_label() {
    let p = spawn(&[]);
    for i in 0..20 {
        reqwest::get(p.at(&format!("/nope/zq{i}"))).await.unwrap();
    }
    let page = p.metrics().await;
    assert!(!page.contains("zq1"), "a raw path is a label");
    assert!(page.contains("route=\"unmatched\""));
}

#[tokio::test]
async fn a_tenants_policy_name_never_appears_on_the_page() {
    let p = spawn(&[]);
    let a = p.tenant_api("metrics-a").await;
    let name = "zq-private-launch-plan";
    let policy =
        json!({"algorithm": "fixed_window", "quota": 1, "window": "1h", "key": ["tenant"]});
    assert_eq!(a.put_policy(name, policy).await.status(), 200);
    for _ in 0..2 {
        let r = a.check(json!({"checks": [{"policy": name}]})).await;
        assert_eq!(r.status(), 200);
    }
    let page = p.metrics().await;
    assert!(
        page.contains("palisade_ratelimit_decisions_total{outcome=\"limited\"}"),
        "the decisions are counted: {page}"
    );
    assert!(
        !page.contains(name),
        "a tenant's policy name is on /metrics"
    );
}

#[tokio::test]
async fn metrics_on_the_main_listener_need_the_operator_key() {
    let p = spawn(&[]);
    let r = reqwest::get(p.at("/metrics")).await.unwrap();
    assert_eq!(r.status(), 401, "unauthenticated");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated");
    let (_, key) = p.tenant_with_key("metrics-b").await;
    let r = p.api(&key).get("/metrics").await;
    assert_eq!(r.status(), 403, "a tenant key is not enough");
    let page = p.metrics().await;
    assert!(page.contains("palisade_http_requests_total"));
}

#[tokio::test]
async fn a_metrics_listener_serves_the_page_without_authentication() {
    let p = spawn(&[("PALISADE_METRICS__LISTEN", "127.0.0.1:0")]);
    let mut url = None;
    let found = eventually(Duration::from_secs(5), || {
        url = p
            .stderr()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message"] == "palisade ready")
            .and_then(|v| v["metrics"].as_str().map(str::to_owned));
        url.is_some()
    })
    .await;
    assert!(found, "no ready line:\n{}", p.stderr());
    let url = url.unwrap();
    assert!(
        url.starts_with("http://") && !url.starts_with(&p.url),
        "{url}"
    );
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("palisade_"));
    let other = url.replace("/metrics", "/v1/tenants");
    assert_eq!(
        reqwest::get(&other).await.unwrap().status(),
        404,
        "only /metrics there"
    );
    let r = reqwest::get(p.at("/metrics")).await.unwrap();
    assert_eq!(r.status(), 401, "still protected on the main listener");
}
