//! Redis rate limiting beyond the suite: fallback when a real Redis stops and comes back, and
//! concurrent decisions in shared batches.

use crate::common;
use palisade_testkit::own_redis::OwnRedis;

use palisade_core::TenantId;
use palisade_ratelimit::{
    Algorithm, Check, Decision, FallbackOptions, FallbackStore, KeyPart, MemoryRateLimitStore,
    OnStoreError, Policy, RateLimitStore,
};
use palisade_store_redis::{RedisOptions, RedisStore};
use std::sync::Arc;
use std::time::Duration;

fn check(name: &str, quota: u64, on_err: OnStoreError) -> Check {
    let mut p = Policy::new(
        name,
        Algorithm::FixedWindow,
        quota,
        Duration::from_secs(3600),
        vec![KeyPart::Tenant],
    );
    p.on_store_error = on_err;
    Check {
        policy: p.name.clone(),
        limit: p.limit(),
        key: "k".into(),
        cost: 1,
    }
}

async fn decide(s: &FallbackStore, t: &TenantId, c: &[Check]) -> Vec<Decision> {
    s.ratelimit_check(t, c)
        .await
        .expect("a fallback store always answers")
}

#[tokio::test]
async fn fallback_when_redis_stops_and_recovery_when_it_returns() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    let port = OwnRedis::free_port();
    let Some(mut redis) = OwnRedis::start_or_skip("fallback_when_redis_stops", port) else {
        return;
    };
    redis.wait_ready().await;
    let mut opts = RedisOptions::new(redis.url());
    opts.response_timeout = Duration::from_millis(200);
    opts.connect_timeout = Duration::from_millis(200);
    let shared = Arc::new(RedisStore::connect(&opts).await.unwrap());
    let mut fo = FallbackOptions::for_instances(2);
    fo.probe_interval = Duration::from_millis(100);
    let store = FallbackStore::new(shared, MemoryRateLimitStore::default(), fo);
    let t = TenantId::generate();
    let fb = [check("fb", 10, OnStoreError::Fallback)];

    let d = decide(&store, &t, &fb).await;
    assert!(d[0].allowed && !d[0].fallback);
    assert_eq!(d[0].remaining, 9, "decided by Redis");

    redis.stop();
    let mut allowed = 0;
    for _ in 0..8 {
        let d = decide(&store, &t, &fb).await;
        assert!(d[0].fallback, "decided without Redis");
        allowed += d[0].allowed as u32;
    }
    assert_eq!(
        allowed, 5,
        "a fallback instance grants quota / expected instances"
    );
    assert!(store.is_failing());
    let allow = [check("open", 1, OnStoreError::Allow)];
    let deny = [check("closed", 1000, OnStoreError::Deny)];
    for _ in 0..3 {
        assert!(decide(&store, &t, &allow).await[0].allowed);
        assert!(!decide(&store, &t, &deny).await[0].allowed);
    }
    let mixed = [check("fb2", 10, OnStoreError::Fallback), deny[0].clone()];
    let d = decide(&store, &t, &mixed).await;
    assert!(
        !d[1].allowed && d[0].remaining == 5,
        "a deny answer consumes nothing: {d:?}"
    );

    let text = metrics.render();
    let line = |action: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("palisade_ratelimit_fallback_total")
                    && l.contains(&format!("action=\"{action}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    };
    // Eight checks of `fb` and one of `fb2` (in the mixed call); no policy label any more.
    assert_eq!(line("fallback").as_deref(), Some("9"), "{text}");

    let _again =
        OwnRedis::start_or_skip("fallback_when_redis_stops", port).expect("restart redis-server");
    _again.wait_ready().await;
    let mut recovered = None;
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let d = decide(&store, &t, &fb).await;
        if !d[0].fallback {
            recovered = Some((i, d[0]));
            break;
        }
    }
    let (_, d) = recovered.expect("decisions go back to Redis by themselves");
    assert!(!store.is_failing());
    assert_eq!(
        d.remaining, 9,
        "the restarted Redis starts empty (no persistence)"
    );
}

/// Many concurrent decisions on one key go out in shared batches (one script call deciding
/// several): exactly the quota is granted, per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batched_decisions_grant_exactly_the_quota() {
    let Some(store) = common::store("concurrent_batched_decisions").await else {
        return;
    };
    let store = Arc::new(store);
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let calls: Vec<_> = (0..400)
        .map(|i| {
            let (store, t) = (
                store.clone(),
                if i % 4 == 0 { b.clone() } else { a.clone() },
            );
            tokio::spawn(async move {
                let c = [check("one", 50, OnStoreError::Deny)];
                let d = store.ratelimit_check(&t, &c).await.unwrap();
                (t, d[0].allowed)
            })
        })
        .collect();
    let (mut on_a, mut on_b) = (0, 0);
    for c in calls {
        let (t, allowed) = c.await.unwrap();
        if allowed {
            *(if t == a { &mut on_a } else { &mut on_b }) += 1;
        }
    }
    assert_eq!((on_a, on_b), (50, 50), "each tenant gets exactly its quota");
}
