//! Rate limiting over HTTP: decisions and headers, policies and overrides, bad input, metrics.

mod caps;
mod feed;
mod multi;
mod saturated;

use crate::common::{
    assert_config_errors, assert_contains_all, check_config, problem, spawn_in, temp_dir, Api,
};
use serde_json::{json, Value};

/// The rate-limit calls of a tenant's [`Api`].
impl Api {
    pub async fn put_policy(&self, name: &str, body: Value) -> reqwest::Response {
        self.put(&format!("/v1/ratelimit/policies/{name}"), body)
            .await
    }

    pub async fn put_override(&self, body: Value) -> reqwest::Response {
        self.put("/v1/ratelimit/overrides", body).await
    }

    pub async fn check(&self, body: Value) -> reqwest::Response {
        self.post("/v1/ratelimit/check", body).await
    }

    /// One check of `policy` for `key`; the decision body.
    pub async fn check_one(&self, policy: &str, key: &str) -> Value {
        let res = self
            .check(json!({"checks": [{"policy": policy, "key": key}]}))
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }
}

const CONFIG_POLICY: &str = r#"
[[ratelimit.policies]]
name = "global"
algorithm = "gcra"
quota = 5
window = "1m"
key = ["tenant"]
"#;

#[tokio::test]
async fn check_answers_200_with_headers_for_allowed_and_denied() {
    let dir = temp_dir();
    std::fs::write(dir.join("palisade.toml"), CONFIG_POLICY).unwrap();
    let p = spawn_in(dir, &[]);
    let a = p.tenant_api("a").await;
    let res = a
        .put_policy(
            "api",
            json!({"algorithm": "fixed_window", "quota": 2, "window": "1h", "key": ["principal"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = json!({"checks": [{"policy": "api"}, {"policy": "global"}],
                      "context": {"principal": "user-1"}});
    for remaining in [1, 0] {
        let res = a.check(body.clone()).await;
        assert_eq!(res.status(), 200);
        let h = res.headers().clone();
        assert_eq!(
            h["ratelimit-policy"],
            "\"api\";q=2;w=3600, \"global\";q=5;w=60"
        );
        assert!(h["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with(&format!("\"api\";r={remaining};t=")));
        assert!(h.get("retry-after").is_none());
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["allowed"], true);
        assert_eq!(v["results"][0]["key"], "principal=user-1");
    }
    let res = a.check(body.clone()).await;
    assert_eq!(res.status(), 200, "a denial is still 200");
    assert!(res.headers().contains_key("retry-after"));
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["results"][0]["outcome"], "limited");
    assert_eq!(
        v["results"][1]["remaining"], 3,
        "all or nothing: the allowed check did not consume"
    );
    let other = a
        .check(json!({"checks": [{"policy": "api", "key": "principal=user-2"}]}))
        .await;
    assert_eq!(other.json::<Value>().await.unwrap()["allowed"], true);

    let metrics = p.metrics().await;
    assert_contains_all(
        &metrics,
        &[
            "palisade_ratelimit_decisions_total{outcome=\"allowed\"}",
            "palisade_ratelimit_decisions_total{outcome=\"limited\"}",
            "palisade_ratelimit_store_seconds_bucket{result=\"ok\",le=",
        ],
    );
}

#[tokio::test]
async fn request_values_cannot_spend_another_requests_quota() {
    let p = spawn_in(temp_dir(), &[]);
    let a = p.tenant_api("a").await;
    let pol = json!({"algorithm": "fixed_window", "quota": 1, "window": "1h",
                     "key": ["principal", "route"]});
    assert_eq!(a.put_policy("api", pol).await.status(), 200);
    let check = |principal: &str, route: Option<&str>| {
        let ctx = json!({"principal": principal, "route": route});
        a.check(json!({"checks": [{"policy": "api"}], "context": ctx}))
    };
    // The victim: principal `a` on route `x|route=-`.
    let victim: Value = check("a", Some("x|route=-")).await.json().await.unwrap();
    assert_eq!(victim["allowed"], true);
    // Unencoded, this principal would build the victim's key and be denied.
    let forger: Value = check("a|route=x", None).await.json().await.unwrap();
    assert_eq!(forger["allowed"], true, "{forger}");
    assert_ne!(forger["results"][0]["key"], victim["results"][0]["key"]);
    assert_eq!(forger["results"][0]["key"], "principal=a%7Croute=x|route=-");
    let again: Value = check("a", Some("x|route=-")).await.json().await.unwrap();
    assert_eq!(
        again["allowed"], false,
        "the victim's own quota still holds"
    );
}

#[tokio::test]
async fn policies_are_tenant_scoped_listed_and_deleted() {
    let p = spawn_in(temp_dir(), &[]);
    let a = p.tenant_api("a").await;
    let b = p.tenant_api("b").await;
    let pol =
        json!({"algorithm": "gcra", "quota": 10, "window": "1s", "burst": 3, "key": ["ip/64"]});
    for n in ["p1", "p2", "p3"] {
        assert_eq!(a.put_policy(n, pol.clone()).await.status(), 200);
    }
    let page = a.get_json("/v1/ratelimit/policies?limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["policy"]["name"], "p1");
    assert_eq!(page["items"][0]["source"], "tenant");
    let cursor = page["next"].as_str().unwrap();
    let page2 = a
        .get_json(&format!("/v1/ratelimit/policies?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(page2["items"][0]["policy"]["name"], "p3");
    assert!(page2["next"].is_null());

    let get_b = b.get("/v1/ratelimit/policies/p1").await;
    problem(get_b, 404, "policy-not-found").await;
    let check_b = b
        .check(json!({"checks": [{"policy": "p1", "key": "k"}]}))
        .await;
    problem(check_b, 404, "policy-not-found").await;
    let del_b = b.delete("/v1/ratelimit/policies/p1").await;
    problem(del_b, 404, "policy-not-found").await;
    let list_b = b.get_json("/v1/ratelimit/policies").await;
    assert_eq!(list_b["items"], json!([]));

    let ctx = json!({"checks": [{"policy": "p1"}], "context": {"ip": "2001:db8::1"}});
    let v: Value = a.check(ctx).await.json().await.unwrap();
    assert_eq!(v["results"][0]["key"], "ip=2001:db8::");
    // Keyed by ip without the ip: one bucket for every caller would be silent; refuse it.
    let no_ip = problem(
        a.check(json!({"checks": [{"policy": "p1"}]})).await,
        400,
        "invalid-request",
    )
    .await;
    assert_eq!(no_ip["errors"][0]["field"], "context.ip", "{no_ip}");
    let explicit = a
        .check(json!({"checks": [{"policy": "p1", "key": "k"}]}))
        .await;
    assert_eq!(explicit.status(), 200, "an explicit key needs no context");
    let del = a.delete("/v1/ratelimit/policies/p1").await;
    assert_eq!(del.status(), 204);
    let gone = a
        .check(json!({"checks": [{"policy": "p1", "key": "k"}]}))
        .await;
    problem(gone, 404, "policy-not-found").await;
}

#[tokio::test]
async fn overrides_apply_per_tenant_then_per_key() {
    let p = spawn_in(temp_dir(), &[]);
    let a = p.tenant_api("a").await;
    let b = p.tenant_api("b").await;
    let pol = json!({"algorithm": "fixed_window", "quota": 5, "window": "1h", "key": ["custom:x"]});
    a.put_policy("api", pol.clone()).await;
    b.put_policy("api", pol).await;
    let res = a.put_override(json!({"policy": "api", "quota": 50})).await;
    assert_eq!(res.status(), 200);
    let res = a
        .put_override(json!({"policy": "api", "key": "vip", "quota": 500, "window": "1d"}))
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["override"]["window"], "1day");
    assert_eq!(
        a.check_one("api", "anyone").await["results"][0]["limit"],
        50
    );
    assert_eq!(a.check_one("api", "vip").await["results"][0]["limit"], 500);
    assert_eq!(b.check_one("api", "vip").await["results"][0]["limit"], 5);
    let list = a.get_json("/v1/ratelimit/overrides").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let del = a.delete("/v1/ratelimit/overrides/api?key=vip").await;
    assert_eq!(del.status(), 204);
    let again = a.delete("/v1/ratelimit/overrides/api?key=vip").await;
    problem(again, 404, "override-not-found").await;
    assert_eq!(a.check_one("api", "vip").await["results"][0]["limit"], 50);
    let missing = b.put_override(json!({"policy": "nope", "quota": 1})).await;
    problem(missing, 404, "policy-not-found").await;
    let bad = a
        .put_override(json!({"policy": "api", "quota": 0, "window": "1ms"}))
        .await;
    let body = problem(bad, 400, "invalid-request").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn bad_input_is_a_4xx_problem_never_a_500() {
    let p = spawn_in(temp_dir(), &[]);
    let a = p.tenant_api("a").await;
    let bad = a
        .put_policy(
            "api",
            json!({"algorithm": "leaky", "quota": 0, "window": "10ms", "key": ["tenant"]}),
        )
        .await;
    let body = problem(bad, 400, "invalid-request").await;
    let f = fields(&body);
    for want in ["algorithm", "quota", "window"] {
        assert!(f.iter().any(|x| x == want), "{want} missing: {f:?}");
    }
    let bad_name = a
        .put_policy(
            "bad name",
            json!({"algorithm": "gcra", "quota": 1, "window": "1s", "key": ["tenant"]}),
        )
        .await;
    assert_eq!(
        fields(&problem(bad_name, 400, "invalid-request").await),
        ["name"]
    );
    a.put_policy(
        "api",
        json!({"algorithm": "gcra", "quota": 10, "window": "1m", "key": ["tenant"]}),
    )
    .await;
    let unknown = a
        .check(json!({"checks": [{"policy": "nope", "key": "k"}]}))
        .await;
    problem(unknown, 404, "policy-not-found").await;
    let long = "k".repeat(513);
    let res = a
        .check(json!({"checks": [{"policy": "api", "key": long}]}))
        .await;
    assert_eq!(
        fields(&problem(res, 400, "invalid-request").await),
        ["checks[0].key"]
    );
    let built_long = a
        .check(json!({"checks": [{"policy": "api"}], "context": {"principal": long}}))
        .await;
    assert_eq!(
        built_long.status(),
        200,
        "tenant-only key ignores the principal"
    );
    let many: Vec<Value> = (0..17)
        .map(|i| json!({"policy": "api", "key": format!("k{i}")}))
        .collect();
    let res = a.check(json!({ "checks": many })).await;
    assert_eq!(
        fields(&problem(res, 400, "invalid-request").await),
        ["checks"]
    );
    let res = a.check(json!({"checks": []})).await;
    problem(res, 400, "invalid-request").await;
    let res = a
        .check(json!({"checks": [{"policy": "api", "key": "k", "cost": 11}]}))
        .await;
    assert_eq!(
        fields(&problem(res, 400, "invalid-request").await),
        ["checks[0].cost"]
    );
    let res = a
        .check(json!({"checks": [{"policy": "api"}], "context": {"ip": "not-an-ip"}}))
        .await;
    assert_eq!(
        fields(&problem(res, 400, "invalid-request").await),
        ["context.ip"]
    );
    let res = a.check(json!({"checks": [{"policy": 5}]})).await;
    assert_eq!(
        fields(&problem(res, 400, "invalid-request").await),
        ["checks[0].policy"],
        "a mistyped field is named like any other bad field"
    );
    let res = a.get("/v1/ratelimit/policies?limit=0").await;
    problem(res, 400, "invalid-request").await;
}

#[test]
fn check_config_reports_bad_policies_with_every_other_error() {
    let dir = temp_dir();
    std::fs::write(
        dir.join("palisade.toml"),
        "[ratelimit]\nstore = \"redis\"\nfallback_deadline = \"0s\"\n\n\
         [[ratelimit.policies]]\nname = \"a\"\nalgorithm = \"leaky\"\nquota = 0\nwindow = \"1ms\"\nkey = [\"tenant\"]\n",
    )
    .unwrap();
    let out = check_config(&dir, &[("PALISADE_LISTEN", "nope")]);
    assert_config_errors(
        &out,
        &[
            "listen",
            "ratelimit.store",
            "ratelimit.fallback_deadline",
            "ratelimit.policies[0].algorithm",
            "ratelimit.policies[0].quota",
            "ratelimit.policies[0].window",
        ],
    );
}
