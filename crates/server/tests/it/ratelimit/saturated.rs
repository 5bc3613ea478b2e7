//! Saturated instances keep the quota exact: three processes, bursts of concurrent checks on
//! one key, the default fallback deadline (50 ms), a healthy shared store. Time a decision
//! spends queued inside an instance is not store slowness, so nothing falls back and the
//! shared store's atomic decisions hold the quota to the unit.

use super::multi::{instances, tenant, wait_known};
use crate::common::{drop_schema, temp_dir, Api, Proc};
use palisade_testkit::backends;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Barrier;

/// Concurrent checks per instance per burst (3 instances: 300 at once).
const PER_INSTANCE: usize = 100;
/// Bursts one after the other.
const BURSTS: usize = 3;
/// The quota (GCRA over 24 h: no unit comes back during the test).
const QUOTA: u64 = 200;

#[derive(Debug, Default)]
struct Tally {
    allowed: u64,
    denied: u64,
    fallback: u64,
    not_200: u64,
}

/// One burst: every caller of every instance checks `key` at the same moment.
async fn burst(apis: &[Api], t: &mut Tally) {
    let n = apis.len() * PER_INSTANCE;
    let gate = Arc::new(Barrier::new(n));
    let mut calls = Vec::with_capacity(n);
    for a in apis {
        for _ in 0..PER_INSTANCE {
            let (a, gate) = (Api::new(&a.url, &a.key), gate.clone());
            calls.push(tokio::spawn(async move {
                gate.wait().await;
                a.check(json!({"checks": [{"policy": "burst", "key": "one"}]}))
                    .await
            }));
        }
    }
    for c in calls {
        let res = c.await.unwrap();
        if res.status() != 200 {
            t.not_200 += 1;
            continue;
        }
        let v: Value = res.json().await.unwrap();
        let r = &v["results"][0];
        t.fallback += u64::from(r["fallback"] == true);
        if r["allowed"] == true {
            t.allowed += 1;
        } else {
            t.denied += 1;
        }
    }
}

async fn exactly_the_quota(ps: &[Proc], name: &str) {
    let apis = tenant(ps, name).await;
    let pol = json!({"algorithm": "gcra", "quota": QUOTA, "window": "24h", "key": ["custom:all"]});
    assert_eq!(apis[0].put_policy("burst", pol).await.status(), 200);
    wait_known(&apis, "burst").await;
    let mut t = Tally::default();
    for _ in 0..BURSTS {
        burst(&apis, &mut t).await;
    }
    eprintln!("{name}: {t:?}");
    assert_eq!(t.not_200, 0, "{t:?}");
    assert_eq!(t.allowed + t.denied, (3 * PER_INSTANCE * BURSTS) as u64);
    assert_eq!(
        t.allowed, QUOTA,
        "exactly the quota across 3 instances: {t:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_saturated_instances_allow_exactly_the_quota_over_postgres() {
    let Some(pg) = backends::postgres_or_skip("saturated_quota_over_postgres").await else {
        return;
    };
    let schema = backends::unique("rl_sat");
    let ps = instances(
        3,
        &[
            ("PALISADE_STORAGE__URL", &pg),
            ("PALISADE_STORAGE__SCHEMA", &schema),
            ("PALISADE_STORAGE__POOL_SIZE", "6"),
            ("PALISADE_STORAGE__EXPECTED_INSTANCES", "3"),
        ],
    );
    exactly_the_quota(&ps, "postgres").await;
    drop(ps);
    drop_schema(&pg, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_saturated_instances_allow_exactly_the_quota_over_redis() {
    let Some(redis) = backends::redis_or_skip("saturated_quota_over_redis").await else {
        return;
    };
    let db = temp_dir().join("shared.db");
    let url = format!("sqlite://{}", db.display());
    let ps = instances(
        3,
        &[
            ("PALISADE_STORAGE__URL", &url),
            ("PALISADE_STORAGE__REDIS_URL", &redis),
            ("PALISADE_RATELIMIT__STORE", "redis"),
            ("PALISADE_STORAGE__EXPECTED_INSTANCES", "3"),
        ],
    );
    exactly_the_quota(&ps, "redis").await;
}
