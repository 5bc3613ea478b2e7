//! The verified-key cache: revocation, renames and deletions reach every instance within one
//! second; unknown keys are never cached.
//!
//! The bound: an instance answers from its cache only while its last successful read of the
//! change feed *started* less than 1 s ago, and a read that starts after the revocation
//! committed sees it. The revocation commits before `DELETE` answers, and the test's clock
//! starts when that answer arrives, so a request sent 1 s later can no longer be served from a
//! stale entry; the 100 ms margin only absorbs the scheduling between the test reading its
//! clock and the request leaving (the bound itself needs none).

use crate::common::{self, counter, metrics, spawn, spawn_in, temp_dir, Api, Proc};
use palisade_testkit::backends;
use std::time::Instant;

const OP_KEY: &str = "pal_op_key_cache_test_0123456789abcdefghij";
fn cache_count(text: &str, result: &str) -> u64 {
    counter(
        text,
        &format!("palisade_auth_key_cache_total{{result=\"{result}\"}}"),
    )
}

/// Every instance refuses `/v1/me` after the bound.
async fn all_refuse_after_bound(apis: &[Api], t0: Instant) {
    common::all_refuse_after_bound(apis.len(), t0, |i| async move {
        apis[i].get("/v1/me").await.status().as_u16()
    })
    .await;
}

async fn three_instances_revoke(ps: &[Proc]) {
    let op = ps[0].api(OP_KEY);
    let (tenant, key) = op.tenant_with_key("cache-multi").await;
    let apis: Vec<Api> = ps.iter().map(|p| p.api(&key)).collect();
    // Warm every cache: after the first miss, the instances answer from memory.
    for a in &apis {
        for _ in 0..5 {
            assert_eq!(a.get("/v1/me").await.status(), 200);
        }
    }
    for p in ps {
        let m = metrics(&p.url, OP_KEY).await;
        assert!(
            cache_count(&m, "hit") >= 3,
            "the key is served from the cache:\n{m}"
        );
    }
    let keys = op.get_json(&format!("/v1/tenants/{tenant}/keys")).await;
    let key_id = keys["items"][0]["id"].as_str().unwrap().to_owned();
    let r = ps[1]
        .api(OP_KEY)
        .delete(&format!("/v1/tenants/{tenant}/keys/{key_id}"))
        .await;
    assert_eq!(r.status(), 204);
    all_refuse_after_bound(&apis, Instant::now()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_key_stops_on_three_instances_within_a_second_over_postgres() {
    let test = "a_revoked_key_stops_on_three_instances_within_a_second_over_postgres";
    let Some(pg) = backends::postgres_or_skip(test).await else {
        return;
    };
    let schema = backends::unique("key_cache");
    let env = [
        ("PALISADE_STORAGE__URL", pg.as_str()),
        ("PALISADE_STORAGE__SCHEMA", schema.as_str()),
        ("PALISADE_STORAGE__POOL_SIZE", "4"),
        ("PALISADE_OPERATOR_KEY", OP_KEY),
    ];
    let ps: Vec<Proc> = (0..3).map(|_| spawn_in(temp_dir(), &env)).collect();
    three_instances_revoke(&ps).await;
    // A deleted tenant's keys stop the same way.
    let op = ps[0].api(OP_KEY);
    let (tenant, key) = op.tenant_with_key("cache-deleted").await;
    let apis: Vec<Api> = ps.iter().map(|p| p.api(&key)).collect();
    for a in &apis {
        assert_eq!(a.get("/v1/me").await.status(), 200);
    }
    let r = ps[2]
        .api(OP_KEY)
        .delete(&format!("/v1/tenants/{tenant}"))
        .await;
    assert_eq!(r.status(), 204);
    all_refuse_after_bound(&apis, Instant::now()).await;
    drop(ps);
    let pool = sqlx::PgPool::connect(&pg).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn embedded_default_revocation_rename_and_deletion_apply_at_once() {
    let p = spawn(&[("PALISADE_OPERATOR_KEY", OP_KEY)]);
    let op = p.api(OP_KEY);
    let (tenant, key) = op.tenant_with_key("cache-local").await;
    let a = p.api(&key);
    for _ in 0..3 {
        assert_eq!(a.get("/v1/me").await.status(), 200);
    }
    let renamed = op
        .patch(
            &format!("/v1/tenants/{tenant}"),
            serde_json::json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    assert_eq!(a.get_json("/v1/me").await["tenant"]["name"], "Renamed");
    let keys = op.get_json(&format!("/v1/tenants/{tenant}/keys")).await;
    let key_id = keys["items"][0]["id"].as_str().unwrap().to_owned();
    let r = op
        .delete(&format!("/v1/tenants/{tenant}/keys/{key_id}"))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(a.get("/v1/me").await.status(), 401, "revoked: at once");

    let (tenant, key) = op.tenant_with_key("cache-local-2").await;
    let b = p.api(&key);
    assert_eq!(b.get("/v1/me").await.status(), 200);
    assert_eq!(b.get("/v1/me").await.status(), 200);
    assert_eq!(
        op.delete(&format!("/v1/tenants/{tenant}")).await.status(),
        204
    );
    assert_eq!(
        b.get("/v1/me").await.status(),
        401,
        "deleted tenant: at once"
    );
}

#[tokio::test]
async fn unknown_keys_are_never_cached() {
    let p = spawn(&[("PALISADE_OPERATOR_KEY", OP_KEY)]);
    let (_, key) = p.api(OP_KEY).tenant_with_key("cache-unknown").await;
    // Same id, another secret: the store says no every time, and nothing is cached.
    let last = if key.ends_with('X') { "Y" } else { "X" };
    let forged = p.api(&format!("{}{last}", &key[..key.len() - 1]));
    let unknown = p.api("pal_key_AAAAAAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
    for _ in 0..20 {
        assert_eq!(forged.get("/v1/me").await.status(), 401);
        assert_eq!(unknown.get("/v1/me").await.status(), 401);
    }
    let m = metrics(&p.url, OP_KEY).await;
    assert_eq!(cache_count(&m, "hit"), 0, "{m}");
    assert_eq!(cache_count(&m, "miss"), 40, "{m}");
}
