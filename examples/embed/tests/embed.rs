//! The embedded example answers like Palisade's server: replayed idempotent requests, 429
//! after the quota, and a tenant's override applied through the change feed.

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use palisade_core::{Clock, Supervisor, SystemClock, TenantId};
use palisade_ratelimit::{KeyContext, RateLimitOverride};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

fn charge(tenant: &str, key: &str) -> Request<Body> {
    Request::post("/charges")
        .header("x-tenant", tenant)
        .header("idempotency-key", format!("\"{key}\""))
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap()
}

async fn send(app: &axum::Router, req: Request<Body>) -> (u16, String, bool) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let replayed = res.headers().contains_key("idempotent-replayed");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        replayed,
    )
}

#[tokio::test]
async fn replays_a_retried_charge_and_limits_each_tenant_with_its_override() {
    let e = palisade_example_embed::app(Supervisor::new(CancellationToken::new()))
        .await
        .unwrap();
    let first = send(&e.router, charge("acme", "k1")).await;
    assert_eq!(
        (first.0, first.1.as_str(), first.2),
        (201, "charge 1", false)
    );
    let retry = send(&e.router, charge("acme", "k1")).await;
    assert_eq!(
        (retry.0, retry.1.as_str(), retry.2),
        (201, "charge 1", true)
    );

    let o = RateLimitOverride {
        policy: "per-tenant".into(),
        key: None,
        quota: 1,
        window: None,
        burst: None,
    };
    let globex = TenantId::parse("globex").unwrap();
    let now = SystemClock.now_ms();
    e.ratelimit
        .policies()
        .ratelimit_override_put(&globex, &o, now, 10)
        .await
        .unwrap();
    // The supervisor's feed sync (every 100 ms) applies the override; no explicit sync here.
    let quota = || {
        let ctx = KeyContext::default();
        let r = e.ratelimit.resolve(&globex, "per-tenant", None, None, &ctx);
        r.unwrap().check.limit.quota
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while quota() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "override never applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(send(&e.router, charge("globex", "g1")).await.0, 201);
    assert_eq!(
        send(&e.router, charge("globex", "g2")).await.0,
        429,
        "globex's override of 1 applies to the layer"
    );
    // acme's replay counted too (the rate limit sits outside the idempotency layer).
    assert_eq!(send(&e.router, charge("acme", "k2")).await.0, 201);
    assert_eq!(
        send(&e.router, charge("acme", "k3")).await.0,
        429,
        "acme keeps the configured quota of 3"
    );
    assert!(e.maintenance.shutdown(Duration::from_secs(1)).await);
}
