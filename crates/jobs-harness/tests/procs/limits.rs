//! Per-key concurrency across worker processes: three `palisade-job-worker` processes with
//! room for 4 jobs each never run 3 jobs of one limit key at once when the key's cap is 2;
//! overlaps are counted from the jobs' event logs. The control without the cap overlaps more.

use crate::common::Target;
use palisade_jobs::{
    JobEnqueue, JobEventKind, JobEvents, JobId, JobKind, JobState, LimitKey, QueueName,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// Enqueues `each` jobs of every key in `keys`: `sleep` for `ms`.
async fn enqueue(t: &Target, keys: &[&str], each: usize, ms: u64) -> Vec<JobId> {
    let mut ids = Vec::new();
    for _ in 0..each {
        for key in keys {
            let mut e = JobEnqueue::new(
                QueueName::parse("work").unwrap(),
                JobKind::parse("sleep").unwrap(),
                serde_json::json!({ "ms": ms }),
            );
            e.limit_key = Some(LimitKey::parse(key).unwrap());
            ids.push(t.store.job_enqueue(&t.tenant, e).await.unwrap().job.id);
        }
    }
    ids
}

/// How far two logged runs may seem to overlap without having overlapped: a call reads its
/// clock before it waits for its statement, so under load a lease committed just after a
/// completion can log a start a few milliseconds before that completion's time.
const CLOCK_SLACK_MS: i64 = 50;

/// The most jobs of one key that ran at once (`[started, completed)` from their logs, less
/// [`CLOCK_SLACK_MS`] at the end), per key.
async fn max_overlap(t: &Target, ids: &[JobId]) -> BTreeMap<String, usize> {
    let mut runs: Vec<(String, i64, i64)> = Vec::new();
    for id in ids {
        let job = t
            .wait_state(id, JobState::Completed, Duration::from_secs(60))
            .await;
        let req = JobEvents {
            id: id.clone(),
            from: 0,
            limit: 100,
        };
        let ev = t.store.job_events(&t.tenant, &req).await.unwrap();
        let at = |k: JobEventKind| ev.iter().find(|e| e.kind == k).unwrap().at_ms;
        let key = job.limit_key_str().to_owned();
        runs.push((key, at(JobEventKind::Started), at(JobEventKind::Completed)));
    }
    let mut out = BTreeMap::new();
    for (key, ..) in &runs {
        let mine: Vec<(i64, i64)> = runs
            .iter()
            .filter(|r| &r.0 == key)
            .map(|r| (r.1, r.2))
            .collect();
        let most = mine
            .iter()
            .map(|(s, _)| {
                let live = |(s2, e2): &&(i64, i64)| s2 <= s && *s < e2 - CLOCK_SLACK_MS;
                mine.iter().filter(live).count()
            })
            .max()
            .unwrap_or(0);
        out.insert(key.clone(), most);
    }
    out
}

async fn cap_holds_over_three_processes(t: Target) {
    let capped = [
        "--concurrency",
        "4",
        "--poll-ms",
        "20",
        "--max-running-per-key",
        "2",
    ];
    let workers: Vec<_> = (0..3).map(|_| t.worker(&capped)).collect();
    let ids = enqueue(&t, &["acct-1", "acct-2"], 8, 250).await;
    let most = max_overlap(&t, &ids).await;
    assert_eq!(
        most.values().copied().collect::<Vec<_>>(),
        [2, 2],
        "each key ran two at once, never three: {most:?}"
    );
    drop(workers);

    let free = ["--concurrency", "4", "--poll-ms", "20"];
    let _workers: Vec<_> = (0..3).map(|_| t.worker(&free)).collect();
    let ids = enqueue(&t, &["acct-3"], 8, 250).await;
    let most = max_overlap(&t, &ids).await;
    assert!(
        most["acct-3"] > 2,
        "uncapped, the count sees more: {most:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_cap_holds_over_three_processes_postgres() {
    let Some(t) = crate::common::pg("per_key_cap_holds_over_three_processes").await else {
        return;
    };
    cap_holds_over_three_processes(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_cap_holds_over_three_processes_sqlite() {
    cap_holds_over_three_processes(crate::common::sqlite().await).await;
}
