//! Liveness, readiness (naming the failing store), metrics and the OpenAPI document.

use crate::common::{problem, spawn, sqlite, test_config};

#[tokio::test]
async fn healthz_readyz_and_metrics() {
    let p = spawn(&[]);
    let c = reqwest::Client::new();
    assert_eq!(c.get(p.at("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(p.at("/readyz")).send().await.unwrap().status(), 200);
    c.get(p.at("/v1/me")).send().await.unwrap();
    let m = p.metrics().await;
    assert!(
        m.contains(r#"palisade_http_requests_total{route="/v1/me",method="GET",status="401"} 1"#),
        "{m}"
    );
    assert!(m.contains("palisade_db_pool_size"), "{m}");
}

#[tokio::test]
async fn readyz_names_the_failing_store() {
    let running = palisade_server::serve::start(test_config()).await.unwrap();
    let db = sqlite(&running);
    db.close().await;
    let r = reqwest::get(format!("http://{}/readyz", running.addr))
        .await
        .unwrap();
    let body = problem(r, 503, "not-ready").await;
    assert!(
        body["detail"].as_str().unwrap().contains("database"),
        "{body}"
    );
}

#[tokio::test]
async fn openapi_covers_every_v1_route_with_error_responses() {
    let p = spawn(&[]);
    let doc = p.openapi().await;
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/v1/tenants", "post"),
        ("/v1/tenants", "get"),
        ("/v1/tenants/{tenant_id}", "get"),
        ("/v1/tenants/{tenant_id}/keys", "post"),
        ("/v1/tenants/{tenant_id}/keys", "get"),
        ("/v1/tenants/{tenant_id}/keys/{key_id}", "delete"),
        ("/v1/me", "get"),
    ];
    for (path, method) in expected {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} undocumented");
        for code in ["400", "401", "404", "503"] {
            assert!(
                op["responses"][code].is_object(),
                "{method} {path} lacks {code}"
            );
        }
    }
    for path in paths.keys() {
        // `/hooks/…`: the public webhook ingress (docs/webhooks.md)
        assert!(
            path.starts_with("/v1/") || path.starts_with("/hooks/"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn postgres_and_redis_backed_server_serves_and_is_ready() {
    let Some(pg) = palisade_testkit::backends::postgres_or_skip("pg_redis_server").await else {
        return;
    };
    let Some(redis) = palisade_testkit::backends::redis_or_skip("pg_redis_server").await else {
        return;
    };
    let schema = palisade_testkit::backends::unique("srv");
    let p = spawn(&[
        ("PALISADE_STORAGE__URL", &pg),
        ("PALISADE_STORAGE__SCHEMA", &schema),
        ("PALISADE_STORAGE__REDIS_URL", &redis),
    ]);
    let (tenant, key) = p.tenant_with_key("pg-tenant").await;
    let me = p.api(&key).get_json("/v1/me").await;
    assert_eq!(me["tenant"]["id"], tenant.as_str());
    assert_eq!(reqwest::get(p.at("/readyz")).await.unwrap().status(), 200);
    let m = p.metrics().await;
    // The shared multiplexed connection and the realtime subscriber.
    assert!(m.contains("palisade_redis_connections 2"), "{m}");
    assert!(
        m.lines().any(|l| l.starts_with("palisade_db_pool_size ")),
        "{m}"
    );
}
