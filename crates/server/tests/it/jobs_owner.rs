//! Owner visibility: a job owned by an API key (its owner is the key's id) is that key's
//! alone — another key of the same tenant gets 404 on every management route and does not
//! see it listed; jobs without an owner, or owned by an app's user id, are seen by every key
//! of the tenant; workers of the tenant still run every job.

use crate::common::{problem, spawn, Api};
use crate::jobs::{job, ok};
use reqwest::Method;
use serde_json::{json, Value};

/// Two keys of one new tenant: (key id, caller) each.
pub(crate) async fn two_keys(p: &crate::common::Proc) -> ((String, Api), (String, Api)) {
    let op = p.operator();
    let t: Value = op
        .post(
            "/v1/tenants",
            json!({"external_id": "jobs-owner", "name": "T"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let keys = format!("/v1/tenants/{}/keys", t["id"].as_str().unwrap());
    let mut out = Vec::new();
    for name in ["a", "b"] {
        let k: Value = op
            .post(&keys, json!({"name": name}))
            .await
            .json()
            .await
            .unwrap();
        let id = k["id"].as_str().unwrap().to_owned();
        out.push((id, p.api(k["secret"].as_str().unwrap())));
    }
    let b = out.pop().unwrap();
    (out.pop().unwrap(), b)
}

pub(crate) fn owned(queue: &str, owner: &str) -> Value {
    let mut j = job(queue);
    j["owner"] = json!(owner);
    j
}

fn ids(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_job_owned_by_a_key_is_hidden_from_the_tenants_other_keys() {
    let p = spawn(&[]);
    let ((a_id, a), (_, b)) = two_keys(&p).await;
    let id_of = |v: Value| v["id"].as_str().unwrap().to_owned();
    let private = id_of(a.enqueue(owned("own", &a_id)).await);
    let users = id_of(a.enqueue(owned("own", "user-42")).await);
    let open = id_of(a.enqueue(job("own")).await);

    // The owner key sees all three; the other key only the two that are not another key's.
    let mut all = vec![private.clone(), users.clone(), open.clone()];
    all.sort();
    assert_eq!(ids(&a.get_json("/v1/jobs?queue=own").await), all);
    let mut shared = vec![users.clone(), open.clone()];
    shared.sort();
    assert_eq!(ids(&b.get_json("/v1/jobs?queue=own").await), shared);
    assert_eq!(b.job(&users).await["owner"], "user-42");
    assert_eq!(a.job(&private).await["owner"], a_id.as_str());

    for (m, path) in [
        (Method::GET, format!("/v1/jobs/{private}")),
        (Method::GET, format!("/v1/jobs/{private}/events")),
        (Method::POST, format!("/v1/jobs/{private}/cancel")),
        (Method::POST, format!("/v1/jobs/{private}/retry")),
        (Method::DELETE, format!("/v1/jobs/{private}")),
    ] {
        let r = b.send(m, &path, Some(json!({}))).await;
        problem(r, 404, "not-found").await;
    }
    assert_eq!(
        a.job(&private).await["state"],
        "queued",
        "B changed nothing"
    );

    // A unique key held by A's private job: B's enqueue is refused, the job not shown.
    let mut u = owned("own-unique", &a_id);
    u["unique"] = json!({"key": "report-7"});
    a.enqueue(u).await;
    let mut again = job("own-unique");
    again["unique"] = json!({"key": "report-7"});
    let r = b.post("/v1/jobs", again).await;
    let body = problem(r, 409, "job-unique-conflict").await;
    assert!(!body.to_string().contains(&a_id), "{body}");

    // Workers of the tenant run every job, the private one too; B's bulk re-drive skips it.
    let mut dead = owned("own-dead", &a_id);
    dead["max_attempts"] = json!(1);
    let dead = id_of(a.enqueue(dead).await);
    let (leased, token) = b.lease_one("own-dead").await;
    assert_eq!(leased, dead);
    let fail = json!({"token": token, "error": "no", "give_up": true});
    ok(b.job_call(&dead, "fail", fail).await).await;
    let redriven = ok(b.post("/v1/jobs/retry", json!({"queue": "own-dead"})).await).await;
    assert_eq!(redriven["jobs"].as_array().unwrap().len(), 0, "{redriven}");
    let redriven = ok(a.post("/v1/jobs/retry", json!({"queue": "own-dead"})).await).await;
    assert_eq!(redriven["jobs"][0]["id"], dead.as_str());
}
