//! Per-tenant caps on policies and overrides over HTTP, and their configuration.

use crate::common::{
    assert_config_errors, assert_contains_all, check_config, check_config_file, problem, spawn_in,
    temp_dir, Api,
};
use serde_json::json;

fn pol(quota: u64) -> serde_json::Value {
    json!({"algorithm": "fixed_window", "quota": quota, "window": "1m", "key": ["tenant"]})
}

#[tokio::test]
async fn creating_past_the_policy_cap_is_a_409_problem_naming_the_limit() {
    let p = spawn_in(
        temp_dir(),
        &[
            ("PALISADE_RATELIMIT__MAX_POLICIES_PER_TENANT", "3"),
            ("PALISADE_RATELIMIT__MAX_OVERRIDES_PER_TENANT", "2"),
        ],
    );
    let a = p.tenant_api("a").await;
    let b = p.tenant_api("b").await;
    for n in ["p1", "p2", "p3"] {
        assert_eq!(a.put_policy(n, pol(10)).await.status(), 200);
    }
    let body = problem(
        a.put_policy("p4", pol(10)).await,
        409,
        "policy-limit-reached",
    )
    .await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("ratelimit.max_policies_per_tenant") && detail.contains('3'),
        "{detail}"
    );
    assert_eq!(body["type"], "urn:palisade:problem:policy-limit-reached");
    let gone = a
        .check(json!({"checks": [{"policy": "p4", "key": "k"}]}))
        .await;
    problem(gone, 404, "policy-not-found").await;

    assert_eq!(
        a.put_policy("p2", pol(99)).await.status(),
        200,
        "replacing at the cap is allowed"
    );
    assert_eq!(
        b.put_policy("p4", pol(10)).await.status(),
        200,
        "another tenant counts apart"
    );
    let del = a.delete("/v1/ratelimit/policies/p1").await;
    assert_eq!(del.status(), 204);
    assert_eq!(a.put_policy("p4", pol(10)).await.status(), 200);

    for key in ["k1", "k2"] {
        let o = json!({"policy": "p2", "key": key, "quota": 5});
        assert_eq!(a.put_override(o).await.status(), 200);
    }
    let o = json!({"policy": "p2", "key": "k3", "quota": 5});
    let body = problem(a.put_override(o).await, 409, "override-limit-reached").await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("ratelimit.max_overrides_per_tenant"));
    let again = json!({"policy": "p2", "key": "k1", "quota": 6});
    assert_eq!(a.put_override(again).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_at_the_cap_admit_exactly_one() {
    let p = spawn_in(
        temp_dir(),
        &[("PALISADE_RATELIMIT__MAX_POLICIES_PER_TENANT", "5")],
    );
    let a = p.tenant_api("a").await;
    for n in ["p1", "p2", "p3", "p4"] {
        assert_eq!(a.put_policy(n, pol(10)).await.status(), 200);
    }
    let tasks = (0..10).map(|i| {
        let a = Api::new(&a.url, &a.key);
        tokio::spawn(async move { a.put_policy(&format!("new{i}"), pol(10)).await.status() })
    });
    let mut statuses: Vec<u16> = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().as_u16());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
}

#[test]
fn caps_and_change_retention_are_configured_and_checked() {
    let dir = temp_dir();
    std::fs::write(
        dir.join("palisade.toml"),
        "[ratelimit]\nchange_retention = \"2h\"\nmax_policies_per_tenant = 7\n\
         max_overrides_per_tenant = 70\n",
    )
    .unwrap();
    let out = check_config(&dir, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_contains_all(
        &text,
        &[
            "change retention 2h",
            "max policies per tenant 7,",
            "max overrides per tenant 70",
        ],
    );
    let out = check_config(
        &temp_dir(),
        &[
            ("PALISADE_RATELIMIT__CHANGE_RETENTION", "0s"),
            ("PALISADE_RATELIMIT__MAX_POLICIES_PER_TENANT", "0"),
            ("PALISADE_RATELIMIT__MAX_OVERRIDES_PER_TENANT", "0"),
        ],
    );
    assert_config_errors(
        &out,
        &[
            "ratelimit.change_retention",
            "ratelimit.max_policies_per_tenant",
            "ratelimit.max_overrides_per_tenant",
        ],
    );
    let typo = dir.join("typo.toml");
    std::fs::write(&typo, "[ratelimit]\nchange_retension = \"1h\"\n").unwrap();
    let out = check_config_file(&typo);
    assert_eq!(out.status.code(), Some(2), "unknown keys are errors");
}
