//! Queue stats over HTTP: counts per state, the oldest due job's age and the throughput of
//! the last 1, 5 and 15 minutes (jobs completed and failed for good).

use crate::common::spawn;
use crate::jobs::{job, ok};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn stats_report_throughput_per_window_and_the_oldest_due_age() {
    let p = spawn(&[]);
    let api = p.tenant_api("jobs-throughput").await;
    let empty = api.get_json("/v1/jobs/queues/tp/stats").await;
    let zero: Vec<Value> = [60_000, 300_000, 900_000]
        .iter()
        .map(|w| {
            json!({"window_ms": w, "completed": 0, "failed": 0,
                   "completed_per_minute": 0.0, "failed_per_minute": 0.0})
        })
        .collect();
    assert_eq!(empty["throughput"], json!(zero));
    assert_eq!(empty["oldest_due_age_ms"], Value::Null);

    for _ in 0..3 {
        api.enqueue(job("tp")).await;
    }
    for outcome in ["complete", "complete", "fail"] {
        let (id, token) = api.lease_one("tp").await;
        let body = json!({"token": token, "error": "no", "give_up": true});
        let body = match outcome {
            "fail" => body,
            _ => json!({"token": token}),
        };
        ok(api.job_call(&id, outcome, body).await).await;
    }
    api.enqueue(job("tp")).await;
    api.enqueue(job("tp-other")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let s = api.get_json("/v1/jobs/queues/tp/stats").await;
    assert_eq!(s["counts"]["completed"], 2);
    assert_eq!(s["counts"]["dead"], 1);
    let windows = s["throughput"].as_array().unwrap();
    assert_eq!(windows.len(), 3);
    for w in windows {
        assert_eq!(
            (w["completed"].as_u64(), w["failed"].as_u64()),
            (Some(2), Some(1))
        );
    }
    assert_eq!(windows[0]["completed_per_minute"], 2.0);
    assert_eq!(
        windows[2]["failed_per_minute"].as_f64().unwrap(),
        1.0 / 15.0
    );
    let age = s["oldest_due_age_ms"].as_i64().unwrap();
    assert!((300..60_000).contains(&age), "{age}");
}
