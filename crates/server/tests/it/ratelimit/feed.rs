//! The pruned change feed: an instance that lagged past `ratelimit.change_retention`, and one
//! started after the prune, still converge — deleted policies and overrides included.

use super::multi::{tenant, OP_KEY};
use crate::common::{eventually, problem, spawn_in, temp_dir, Proc};
use serde_json::{json, Value};
use std::time::Duration;

async fn pruned_total(p: &Proc) -> u64 {
    p.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("palisade_ratelimit_changes_pruned_total "))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

fn limit(v: &Value) -> u64 {
    v["results"][0]["limit"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_and_a_fresh_instance_converge_after_the_feed_was_pruned() {
    let db = temp_dir().join("shared.db");
    let url = format!("sqlite://{}", db.display());
    let common = [
        ("PALISADE_OPERATOR_KEY", OP_KEY),
        ("PALISADE_STORAGE__URL", url.as_str()),
        ("PALISADE_RATELIMIT__STORE", "memory"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut env = common.to_vec();
        env.extend_from_slice(extra);
        spawn_in(temp_dir(), &env)
    };
    // `pruner` keeps changes 2 s and prunes every second; `lagging` never polls on its own
    // (it reads the feed only after its own writes).
    let pruner = with(&[
        ("PALISADE_RATELIMIT__CHANGE_RETENTION", "2s"),
        ("PALISADE_RATELIMIT__PURGE_INTERVAL", "1s"),
    ]);
    let lagging = with(&[
        ("PALISADE_RATELIMIT__POLL_INTERVAL", "1h"),
        ("PALISADE_RATELIMIT__CHANGE_RETENTION", "3h"),
    ]);
    let ps = [pruner, lagging];
    let apis = tenant(&ps, "feed").await;
    let (a, b) = (&apis[0], &apis[1]);
    let pol = json!({"algorithm": "fixed_window", "quota": 5, "window": "1h", "key": ["tenant"]});
    for n in ["p1", "p2"] {
        assert_eq!(a.put_policy(n, pol.clone()).await.status(), 200);
    }
    let o = json!({"policy": "p1", "key": "k", "quota": 77});
    assert_eq!(a.put_override(o).await.status(), 200);
    assert_eq!(b.put_policy("marker1", pol.clone()).await.status(), 200);
    assert_eq!(limit(&b.check_one("p1", "k").await), 77, "b caught up");
    assert_eq!(limit(&b.check_one("p2", "k").await), 5);

    let del = a.delete("/v1/ratelimit/overrides/p1?key=k").await;
    assert_eq!(del.status(), 204);
    let del = a.delete("/v1/ratelimit/policies/p2").await;
    assert_eq!(del.status(), 204);
    assert_eq!(a.put_policy("p3", pol.clone()).await.status(), 200);
    assert_eq!(
        limit(&b.check_one("p1", "k").await),
        77,
        "b has not seen the changes yet"
    );

    // 7 changes in all: p1, p2, the override, marker1, two deletes, p3.
    let start = std::time::Instant::now();
    while pruned_total(&ps[0]).await < 7 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "never pruned: {}",
            pruned_total(&ps[0]).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    assert_eq!(b.put_policy("marker2", pol.clone()).await.status(), 200);
    assert_eq!(
        limit(&b.check_one("p1", "k").await),
        5,
        "the deleted override"
    );
    let p2 = b
        .check(json!({"checks": [{"policy": "p2", "key": "k"}]}))
        .await;
    problem(p2, 404, "policy-not-found").await;
    assert_eq!(limit(&b.check_one("p3", "k").await), 5, "p3 reached b");
    assert!(
        eventually(Duration::from_secs(2), || ps[1]
            .stderr()
            .contains("reloaded every policy"))
        .await,
        "the reload is logged"
    );

    let fresh = with(&[]);
    let c = fresh.api(&a.key);
    assert_eq!(limit(&c.check_one("p1", "k").await), 5);
    let p2 = c
        .check(json!({"checks": [{"policy": "p2", "key": "k"}]}))
        .await;
    problem(p2, 404, "policy-not-found").await;
    assert_eq!(limit(&c.check_one("marker2", "k").await), 5);
}
