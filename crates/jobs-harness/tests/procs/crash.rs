//! Worker processes killed (SIGKILL) or paused (SIGSTOP) mid-job: the job is rescued after its
//! lease and completed exactly once by another process; the lost attempt's token is refused.

use crate::common::{now_ms, Target};
use palisade_jobs::{
    rescue_step, JobComplete, JobError, JobEventKind, JobEvents, JobHeartbeat, JobId, JobState,
};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

async fn completed_events(t: &Target, id: &JobId) -> usize {
    let req = JobEvents {
        id: id.clone(),
        from: 0,
        limit: 1_000,
    };
    let events = t.store.job_events(&t.tenant, &req).await.unwrap();
    events
        .iter()
        .filter(|e| e.kind == JobEventKind::Completed)
        .count()
}

/// Rescues once the lease of `id` (as last leased) has ended.
async fn rescue_after_lease(t: &Target, id: &JobId) {
    let j = t.job(id).await;
    let expires = j.lease_expires_at_ms.expect("a lease");
    let wait = (expires - now_ms() + 50).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let r = rescue_step(&*t.store, now_ms()).await.unwrap();
    assert_eq!(r.retried, 1, "the expired lease was not rescued");
}

/// SIGKILL mid-job: after the lease the job is rescued, another process completes it once,
/// and the killed attempt's late complete with its old token is refused.
async fn sigkill_mid_job(t: Target) {
    let mut a = t.worker(&["--id", "wkr_a"]);
    let id = t
        .enqueue("sleep", serde_json::json!({"ms": 1_500}), 500)
        .await;
    let running = t.wait_state(&id, JobState::Running, 10 * S).await;
    a.signal("KILL");
    a.wait_exit(5 * S).expect("the killed worker exited");
    rescue_after_lease(&t, &id).await;
    let _b = t.worker(&["--id", "wkr_b"]);
    let done = t.wait_state(&id, JobState::Completed, 20 * S).await;
    assert_eq!(done.attempt, 2);
    let by = "SELECT count(*) FROM job_effects WHERE job_id = $1 AND token = 2 AND worker = $2";
    assert_eq!(t.scalar(by, &[id.as_str(), "wkr_b"]).await, 1);
    let late = JobComplete {
        id: id.clone(),
        token: running.lease_token,
    };
    let refused = t.store.job_complete(&t.tenant, &late).await;
    assert!(matches!(refused, Err(JobError::LeaseLost)), "{refused:?}");
    assert_eq!(completed_events(&t, &id).await, 1, "completed twice");
    let effects = "SELECT count(*) FROM job_effects WHERE job_id = $1";
    assert_eq!(
        t.scalar(effects, &[id.as_str()]).await,
        1,
        "work done twice"
    );
    assert_eq!(t.job(&id).await.updated_at_ms, done.updated_at_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_job_completes_once_postgres() {
    if let Some(t) = crate::common::pg("sigkill_mid_job_completes_once_postgres").await {
        sigkill_mid_job(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_job_completes_once_sqlite() {
    sigkill_mid_job(crate::common::sqlite().await).await;
}

/// SIGSTOP past the lease: another process completes the job; after SIGCONT the paused
/// worker's heartbeat/complete is refused and the job's result stays its successor's.
async fn sigstop_past_lease(t: Target) {
    let a = t.worker(&["--id", "wkr_paused"]);
    let id = t
        .enqueue("sleep", serde_json::json!({"ms": 1_000}), 400)
        .await;
    let running = t.wait_state(&id, JobState::Running, 10 * S).await;
    a.signal("STOP");
    rescue_after_lease(&t, &id).await;
    let _b = t.worker(&["--id", "wkr_next"]);
    let done = t.wait_state(&id, JobState::Completed, 20 * S).await;
    a.signal("CONT");
    let end = a.wait_line(|l| l.starts_with(&format!("end {id}")), 10 * S);
    assert_eq!(
        end.as_deref(),
        Some(format!("end {id} lease-lost").as_str()),
        "the paused worker's attempt was not refused"
    );
    let after = t.job(&id).await;
    assert_eq!(after.state, JobState::Completed);
    let by = "SELECT count(*) FROM job_effects WHERE job_id = $1 AND token = 2 AND worker = $2";
    assert_eq!(t.scalar(by, &[id.as_str(), "wkr_next"]).await, 1);
    assert_eq!(
        (after.events, after.updated_at_ms),
        (done.events, done.updated_at_ms)
    );
    let hb = JobHeartbeat::new(id.clone(), running.lease_token);
    let refused = t.store.job_heartbeat(&t.tenant, &hb).await;
    assert!(matches!(refused, Err(JobError::LeaseLost)), "{refused:?}");
    assert_eq!(completed_events(&t, &id).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_past_lease_cannot_complete_postgres() {
    if let Some(t) = crate::common::pg("sigstop_past_lease_cannot_complete_postgres").await {
        sigstop_past_lease(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_past_lease_cannot_complete_sqlite() {
    sigstop_past_lease(crate::common::sqlite().await).await;
}

/// A 2,000-item batch whose worker is SIGKILLed half-way: the retry starts from the last
/// checkpoint, and every item's effect is applied exactly once (see `handlers::Batch`).
async fn batch_resumes(t: Target) {
    let mut a = t.worker(&["--id", "wkr_batch_a"]);
    let id = t
        .enqueue("batch", serde_json::json!({"items": 2_000}), 1_000)
        .await;
    let count = "SELECT count(*) FROM batch_items";
    let mut seen = 0;
    for _ in 0..3_000 {
        seen = t.scalar(count, &[]).await;
        if seen >= 1_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    a.signal("KILL");
    a.wait_exit(5 * S).expect("the killed worker exited");
    assert!(
        (1_000..2_000).contains(&seen),
        "not killed half-way: {seen}"
    );
    rescue_after_lease(&t, &id).await;
    let _b = t.worker(&["--id", "wkr_batch_b"]);
    let done = t.wait_state(&id, JobState::Completed, 120 * S).await;
    assert_eq!(done.attempt, 2);
    assert_eq!(t.scalar(count, &[]).await, 2_000, "an item was skipped");
    let twice = "SELECT count(*) FROM batch_items WHERE count <> 1";
    assert_eq!(t.scalar(twice, &[]).await, 0, "an item was processed twice");
    let resumed = "SELECT from_item FROM batch_starts WHERE job_id = $1 AND token = 2";
    let from = t.scalar(resumed, &[id.as_str()]).await;
    assert!(
        from >= seen - 1,
        "resumed from {from}, not the checkpoint (≥ {})",
        seen - 1
    );
    let first = "SELECT from_item FROM batch_starts WHERE job_id = $1 AND token = 1";
    assert_eq!(t.scalar(first, &[id.as_str()]).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_killed_half_way_resumes_exactly_once_postgres() {
    if let Some(t) = crate::common::pg("batch_killed_half_way_resumes_exactly_once_postgres").await
    {
        batch_resumes(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_killed_half_way_resumes_exactly_once_sqlite() {
    batch_resumes(crate::common::sqlite().await).await;
}
