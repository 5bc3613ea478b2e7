//! The supervisor with real timers: interval, backoff, cancellation, abort, metric.
//!
//! Time assertions are lower bounds only (a sleep never ends early), so a slow machine cannot
//! fail them; upper bounds are checked on [`Backoff::delay`] itself.

use super::*;
use crate::StoreError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// A task that counts its steps and fails while `failing` is set; `hang` makes a step never
/// end (and `dropped` tells that it was aborted).
struct Probe {
    every: Duration,
    ok: AtomicU64,
    err: AtomicU64,
    failing: AtomicBool,
    hang: AtomicBool,
    dropped: Arc<AtomicBool>,
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Maintenance for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn interval(&self) -> Duration {
        self.every
    }
    async fn step(&self) -> Result<u64, StoreError> {
        if self.hang.load(Ordering::SeqCst) {
            let _flag = DropFlag(self.dropped.clone());
            self.ok.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        match self.failing.load(Ordering::SeqCst) {
            true => {
                self.err.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::Timeout)
            }
            false => {
                self.ok.fetch_add(1, Ordering::SeqCst);
                Ok(1)
            }
        }
    }
}

impl Probe {
    fn every(ms: u64) -> Arc<Self> {
        Arc::new(Self {
            every: Duration::from_millis(ms),
            ok: AtomicU64::new(0),
            err: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            hang: AtomicBool::new(false),
            dropped: Arc::new(AtomicBool::new(false)),
        })
    }
    fn steps(&self) -> u64 {
        self.ok.load(Ordering::SeqCst) + self.err.load(Ordering::SeqCst)
    }
    /// Waits (at most 10 s) until `n` steps ran.
    async fn wait_steps(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.steps() < n {
            assert!(Instant::now() < deadline, "{n} steps never ran");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn started(probe: &Arc<Probe>) -> Supervisor {
    let mut s = Supervisor::new(CancellationToken::new());
    s.spawn(probe.clone());
    s
}

#[tokio::test]
async fn runs_a_task_again_and_again_one_interval_apart() {
    let probe = Probe::every(30);
    let at = Instant::now();
    let s = started(&probe);
    tokio::task::yield_now().await;
    assert_eq!(probe.steps(), 0, "the first step waits one interval");
    probe.wait_steps(3).await;
    assert!(at.elapsed() >= Duration::from_millis(90), "never sooner");
    assert_eq!(s.task_names(), ["probe"]);
    assert!(s.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn backs_off_while_a_task_fails() {
    let probe = Probe::every(30);
    probe.failing.store(true, Ordering::SeqCst);
    let at = Instant::now();
    let s = started(&probe);
    probe.wait_steps(4).await;
    // 30 ms, then 60, 120, 240 after each failure: 450 ms, where no backoff takes 120 ms.
    assert!(
        at.elapsed() >= Duration::from_millis(450),
        "{:?}",
        at.elapsed()
    );
    assert!(s.shutdown(Duration::from_secs(5)).await);
}

#[test]
fn backoff_doubles_per_failure_is_capped_and_never_below_the_interval() {
    let b = Backoff {
        max: Duration::from_secs(30),
    };
    let s = Duration::from_secs;
    assert_eq!(b.delay(s(1), 0), s(1), "after a success: the interval");
    assert_eq!(b.delay(s(1), 1), s(2));
    assert_eq!(b.delay(s(1), 3), s(8));
    assert_eq!(b.delay(s(1), 40), s(30));
    assert_eq!(b.delay(s(3600), 2), s(3600));
}

#[test]
fn a_success_resets_the_failure_count_and_a_failure_grows_it() {
    assert_eq!(ran_ok("probe", 0, 5), 0);
    assert_eq!(ran_err("probe", &StoreError::Timeout, 0), 1);
    assert_eq!(ran_err("probe", &StoreError::Timeout, 3), 4);
}

#[tokio::test]
async fn stops_every_idle_task_on_cancel_and_none_runs_after() {
    let probe = Probe::every(20);
    let idle = Probe::every(3_600_000);
    let mut s = started(&probe);
    s.spawn(idle.clone());
    probe.wait_steps(1).await;
    assert!(s.shutdown(Duration::from_secs(5)).await, "stopped in time");
    let n = probe.steps();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(probe.steps(), n, "no step after shutdown");
    assert_eq!(idle.steps(), 0);
}

#[tokio::test]
async fn a_step_that_never_ends_is_aborted_at_the_shutdown_deadline() {
    let probe = Probe::every(10);
    probe.hang.store(true, Ordering::SeqCst);
    let s = started(&probe);
    probe.wait_steps(1).await;
    let at = Instant::now();
    assert!(!s.shutdown(Duration::from_millis(200)).await, "not in time");
    assert!(
        at.elapsed() >= Duration::from_millis(200),
        "waited the deadline"
    );
    tokio::task::yield_now().await;
    assert!(probe.dropped.load(Ordering::SeqCst), "the step was aborted");
}

#[tokio::test]
async fn counts_each_run_by_task_and_result() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let probe = Probe::every(10);
    let s = started(&probe);
    probe.wait_steps(2).await;
    probe.failing.store(true, Ordering::SeqCst);
    let n = probe.steps();
    probe.wait_steps(n + 1).await;
    assert!(s.shutdown(Duration::from_secs(5)).await);
    let (ok, err) = (
        probe.ok.load(Ordering::SeqCst),
        probe.err.load(Ordering::SeqCst),
    );
    assert!(ok >= 2 && err >= 1);
    let text = handle.render();
    let line = |result: &str| format!("{RUNS}{{task=\"probe\",result=\"{result}\"}}");
    assert!(text.contains(&format!("{} {ok}\n", line("ok"))), "{text}");
    assert!(
        text.contains(&format!("{} {err}\n", line("error"))),
        "{text}"
    );
}
