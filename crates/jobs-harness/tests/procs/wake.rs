//! LISTEN/NOTIFY wake-ups on PostgreSQL: an idle worker polling every 30 s starts a job
//! enqueued by another process within about a second, only because of the notification.

use crate::common::Target;
use palisade_jobs::JobState;
use std::time::{Duration, Instant};

/// Starts an idle worker (30 s poll; `listen` or not), enqueues a job once it is asleep, and
/// answers how long until the job was running, or `None` within `within`.
async fn time_to_start(t: &Target, listen: bool, within: Duration) -> Option<Duration> {
    let mut args = vec!["--poll-ms", "30000"];
    if listen {
        args.push("--listen");
    }
    let _w = t.worker(&args);
    tokio::time::sleep(Duration::from_millis(500)).await; // its first lease found nothing
    let id = t.enqueue("noop", serde_json::json!({}), 30_000).await;
    let start = Instant::now();
    while start.elapsed() < within {
        let j = t.job(&id).await;
        if j.state != JobState::Queued {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_wakes_an_idle_worker_at_once() {
    let Some(t) = crate::common::pg("notify_wakes_an_idle_worker_at_once").await else {
        return;
    };
    let took = time_to_start(&t, true, Duration::from_secs(10)).await;
    let took = took.expect("not started within 10 s though notified");
    assert!(
        took < Duration::from_secs(2),
        "notified start took {took:?}"
    );
}

/// The control: without LISTEN the same idle worker leaves the job waiting for its poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_listen_an_idle_worker_waits_for_its_poll() {
    let Some(t) = crate::common::pg("without_listen_an_idle_worker_waits_for_its_poll").await
    else {
        return;
    };
    let took = time_to_start(&t, false, Duration::from_secs(3)).await;
    assert_eq!(
        took, None,
        "started before its 30 s poll without a notification"
    );
}
