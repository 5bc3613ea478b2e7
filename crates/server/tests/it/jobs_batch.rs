//! `POST /v1/jobs/batch` against a real server: entries answered in order with duplicates
//! marked, all or nothing on a bad entry, bounds and the `Idempotency-Key` refusal, and an
//! owner's job never shown to another key through a duplicate.

use crate::common::{problem, spawn};
use crate::jobs::job;
use crate::jobs_owner::{owned, two_keys};
use serde_json::{json, Value};

fn unique(queue: &str, key: &str, n: u64) -> Value {
    let mut j = job(queue);
    j["payload"] = json!({ "n": n });
    j["unique"] = json!({ "key": key });
    j
}

async fn total(api: &crate::common::Api) -> usize {
    let v = api.get_json("/v1/jobs?limit=200").await;
    v["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn batch_answers_in_order_and_is_all_or_nothing() {
    let p = spawn(&[]);
    let api = p.tenant_api("jobs-batch").await;
    let held = api.enqueue(unique("mail", "held", 0)).await;
    let batch = json!({ "jobs": [
        unique("mail", "a", 1),
        unique("mail", "held", 2),
        unique("mail", "b", 3),
        unique("mail", "a", 4),
    ]});
    let r = api.post("/v1/jobs/batch", batch).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let entries = v["jobs"].as_array().unwrap();
    let dups: Vec<bool> = entries.iter().map(|e| e["duplicate"] == true).collect();
    assert_eq!(dups, [false, true, false, true]);
    assert_eq!(entries[1]["job"]["id"], held["id"]);
    assert_eq!(entries[3]["job"]["id"], entries[0]["job"]["id"]);
    assert_eq!(entries[2]["job"]["payload"], json!({ "n": 3 }));
    let id = entries[2]["job"]["id"].as_str().unwrap();
    assert_eq!(api.job(id).await["state"], "queued");
    assert_eq!(total(&api).await, 3);

    // every entry a duplicate: 200
    let again = json!({ "jobs": [unique("mail", "a", 9)] });
    assert_eq!(api.post("/v1/jobs/batch", again).await.status(), 200);

    // a bad entry: 400 naming it by index, nothing enqueued
    let mut bad = job("mail");
    bad["max_attempts"] = json!(0);
    let r = api
        .post("/v1/jobs/batch", json!({ "jobs": [job("mail"), bad] }))
        .await;
    let p400 = problem(r, 400, "invalid-request").await;
    assert_eq!(p400["errors"][0]["field"], "jobs[1].max_attempts", "{p400}");
    let too_many: Vec<Value> = (0..1_001).map(|_| job("mail")).collect();
    for jobs in [json!([]), json!(too_many)] {
        let r = api.post("/v1/jobs/batch", json!({ "jobs": jobs })).await;
        let p400 = problem(r, 400, "invalid-request").await;
        assert_eq!(p400["errors"][0]["field"], "jobs", "{p400}");
    }
    let r = api
        .c
        .post(format!("{}/v1/jobs/batch", api.url))
        .bearer_auth(&api.key)
        .header("idempotency-key", "k1")
        .json(&json!({ "jobs": [job("mail")] }))
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid-request").await;
    assert_eq!(total(&api).await, 3, "no refused batch enqueued anything");
}

#[tokio::test]
async fn a_duplicate_of_another_keys_job_is_not_shown() {
    let p = spawn(&[]);
    let ((a_id, a), (_, b)) = two_keys(&p).await;
    let mut mine = owned("mail", &a_id);
    mine["unique"] = json!({ "key": "private" });
    a.enqueue(mine).await;
    let r = b
        .post(
            "/v1/jobs/batch",
            json!({ "jobs": [unique("mail", "private", 1)] }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["jobs"][0]["duplicate"], true);
    assert!(v["jobs"][0]["job"].is_null(), "{v}");
}
