//! Graceful worker shutdown (SIGTERM): a job that ends within the grace period completes; one
//! that does not has its lease given back, and another process takes it at once.

use crate::common::Target;
use palisade_jobs::JobState;
use std::time::{Duration, Instant};

const S: Duration = Duration::from_secs(1);

/// SIGTERM while a short job runs: it completes, then the process exits cleanly.
async fn finishes_within_grace(t: Target) {
    let mut a = t.worker(&["--grace-ms", "10000"]);
    let id = t
        .enqueue("sleep", serde_json::json!({"ms": 700}), 30_000)
        .await;
    t.wait_state(&id, JobState::Running, 10 * S).await;
    a.signal("TERM");
    assert_eq!(
        a.wait_exit(10 * S),
        Some(true),
        "no clean exit within the grace"
    );
    assert_eq!(t.job(&id).await.state, JobState::Completed);
}

/// SIGTERM while a long job runs past the grace: its lease is given back, and another worker
/// process takes it at once — not after its 30 s lease.
async fn releases_after_grace(t: Target) {
    let mut a = t.worker(&["--grace-ms", "200", "--id", "wkr_leaving"]);
    let id = t
        .enqueue("sleep", serde_json::json!({"ms": 60_000}), 30_000)
        .await;
    t.wait_state(&id, JobState::Running, 10 * S).await;
    a.signal("TERM");
    assert_eq!(
        a.wait_exit(10 * S),
        Some(true),
        "no clean exit after the grace"
    );
    let j = t.job(&id).await;
    assert!(j.state.is_waiting(), "lease not given back: {:?}", j.state);
    let started = Instant::now();
    let _b = t.worker(&["--id", "wkr_taking"]);
    let taken = t
        .wait_job(&id, 10 * S, |j| {
            j.state == JobState::Running
                && j.worker
                    .as_ref()
                    .is_some_and(|w| w.as_str() == "wkr_taking")
        })
        .await;
    assert!(started.elapsed() < 10 * S);
    assert_eq!(taken.attempt, 1, "a released attempt is not counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_jobs_finish_postgres() {
    if let Some(t) = crate::common::pg("sigterm_lets_running_jobs_finish_postgres").await {
        finishes_within_grace(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_jobs_finish_sqlite() {
    finishes_within_grace(crate::common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_past_grace_releases_leases_postgres() {
    if let Some(t) = crate::common::pg("sigterm_past_grace_releases_leases_postgres").await {
        releases_after_grace(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_past_grace_releases_leases_sqlite() {
    releases_after_grace(crate::common::sqlite().await).await;
}
