//! Per-key limits across instances on PostgreSQL: a queue's concurrency per limit key holds
//! over three server processes with HTTP workers on each (overlaps counted from what the
//! workers saw), and its rate per key holds over two (starts read from the jobs' event logs).

use crate::common::{spawn, Api, Proc};
use crate::jobs::ok;
use palisade_testkit::backends::{postgres_or_skip, unique};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `n` processes on one fresh PostgreSQL schema with `env` added; a tenant key valid on all.
async fn on_postgres(pg: &str, n: usize, env: &[(&str, &str)]) -> (Vec<Proc>, String) {
    let schema = unique("jobs_limits");
    let mut all = vec![
        ("PALISADE_STORAGE__URL", pg),
        ("PALISADE_STORAGE__SCHEMA", schema.as_str()),
    ];
    all.extend_from_slice(env);
    let procs: Vec<Proc> = (0..n).map(|_| spawn(&all)).collect();
    let (_, key) = procs[0].tenant_with_key(&unique("t")).await;
    (procs, key)
}

/// One job as a worker ran it: its limit key, from the lease's answer to the complete call.
type Run = (String, Instant, Instant);

/// An HTTP worker: leases one job of `queue` at a time, holds it `hold`, completes it; stops
/// when `total` jobs of the queue have completed (asked through its own instance). Answers
/// its runs: each lies inside the time the store counted the job as running (after the
/// lease committed, before the completion did), so their overlaps never exceed the store's.
fn worker(
    api: Api,
    queue: &'static str,
    hold: Duration,
    total: usize,
) -> tokio::task::JoinHandle<Vec<Run>> {
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut runs = Vec::new();
        while Instant::now() < deadline {
            for l in api.lease(queue, "w", 300).await {
                let started = Instant::now();
                let id = l["job"]["id"].as_str().unwrap().to_owned();
                let key = l["job"]["limit_key"].as_str().unwrap_or("").to_owned();
                tokio::time::sleep(hold).await;
                runs.push((key, started, Instant::now()));
                let token = json!({"token": l["token"]});
                ok(api.job_call(&id, "complete", token).await).await;
            }
            let s = api
                .get_json(&format!("/v1/jobs/queues/{queue}/stats"))
                .await;
            if s["counts"]["completed"].as_u64() == Some(total as u64) {
                return runs;
            }
        }
        panic!("the jobs of {queue} did not all complete");
    })
}

/// Each job's (limit key, started at, completed at) from its event log.
async fn runs(api: &Api, ids: &[String]) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    for id in ids {
        let j = api.job(id).await;
        let ev = api.get_json(&format!("/v1/jobs/{id}/events")).await;
        let at = |kind: &str| {
            ev["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["kind"] == kind)
                .unwrap_or_else(|| panic!("{id}: no {kind} event"))["at_ms"]
                .as_i64()
                .unwrap()
        };
        let key = j["limit_key"].as_str().unwrap_or("").to_owned();
        out.push((key, at("started"), at("completed")));
    }
    out
}

/// The most runs of one key at once: `[started, completed)` intervals.
fn max_overlap<T: Ord + Copy>(runs: &[(String, T, T)]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (key, ..) in runs {
        let mine: Vec<(T, T)> = runs
            .iter()
            .filter(|r| &r.0 == key)
            .map(|r| (r.1, r.2))
            .collect();
        let most = mine
            .iter()
            .map(|(s, _)| mine.iter().filter(|(s2, e2)| s2 <= s && s < e2).count())
            .max()
            .unwrap_or(0);
        out.insert(key.clone(), most);
    }
    out
}

async fn enqueue_keyed(api: &Api, queue: &str, keys: &[&str], each: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..each {
        for key in keys {
            let body = json!({"queue": queue, "kind": "k", "payload": {}, "limit_key": key});
            ids.push(api.enqueue(body).await["id"].as_str().unwrap().to_owned());
        }
    }
    ids
}

#[tokio::test]
async fn on_postgres_a_concurrency_limit_per_key_holds_over_three_processes() {
    let Some(pg) = postgres_or_skip("jobs_key_concurrency").await else {
        return;
    };
    let env = [("PALISADE_JOBS__LIMITS__CAPPED__CONCURRENCY_PER_KEY", "2")];
    let (procs, key) = on_postgres(&pg, 3, &env).await;
    let apis: Vec<Api> = procs.iter().map(|p| p.api(&key)).collect();
    let capped = enqueue_keyed(&apis[0], "capped", &["acct-1", "acct-2"], 9).await;
    let free = enqueue_keyed(&apis[0], "free", &["acct-1"], 9).await;
    let hold = Duration::from_millis(300);
    let (mut capped_runs, mut free_runs) = (Vec::new(), Vec::new());
    let mut workers = Vec::new();
    for api in &apis {
        for _ in 0..3 {
            workers.push((true, worker(api.clone(), "capped", hold, capped.len())));
            workers.push((false, worker(api.clone(), "free", hold, free.len())));
        }
    }
    for (is_capped, w) in workers {
        let runs = w.await.unwrap();
        if is_capped {
            &mut capped_runs
        } else {
            &mut free_runs
        }
        .extend(runs);
    }
    assert_eq!(
        (capped_runs.len(), free_runs.len()),
        (capped.len(), free.len())
    );
    let capped = max_overlap(&capped_runs);
    assert_eq!(
        capped.values().copied().collect::<Vec<_>>(),
        [2, 2],
        "each key ran two at once, never three: {capped:?}"
    );
    let free = max_overlap(&free_runs);
    assert!(
        free["acct-1"] > 2,
        "without a limit the nine workers overlap (the count can see it): {free:?}"
    );
}

#[tokio::test]
async fn on_postgres_a_rate_limit_per_key_holds_over_two_processes() {
    let Some(pg) = postgres_or_skip("jobs_key_rate").await else {
        return;
    };
    let env = [("PALISADE_JOBS__LIMITS__RATED__RATE_PER_KEY", "5")];
    let (procs, key) = on_postgres(&pg, 2, &env).await;
    let apis: Vec<Api> = procs.iter().map(|p| p.api(&key)).collect();
    let ids = enqueue_keyed(&apis[0], "rated", &["acct-1", "acct-2"], 10).await;
    let mut workers = Vec::new();
    for api in &apis {
        for _ in 0..2 {
            workers.push(worker(api.clone(), "rated", Duration::ZERO, ids.len()));
        }
    }
    for w in workers {
        w.await.unwrap();
    }
    let runs = runs(&apis[0], &ids).await;
    for k in ["acct-1", "acct-2"] {
        let mut starts: Vec<i64> = runs.iter().filter(|r| r.0 == k).map(|r| r.1).collect();
        starts.sort();
        assert_eq!(starts.len(), 10);
        // 5 per second, evenly spaced: any six consecutive starts span about a second. The
        // margin covers the time between a lease's clock reading and its gate's decision.
        let tightest = starts.windows(6).map(|w| w[5] - w[0]).min().unwrap();
        assert!(
            tightest >= 800,
            "{k}: six starts within {tightest} ms: {starts:?}"
        );
        let span = starts[9] - starts[0];
        assert!(
            span >= 1_500,
            "{k}: ten starts within {span} ms: {starts:?}"
        );
    }
}
