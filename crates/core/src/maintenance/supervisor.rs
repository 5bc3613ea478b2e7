//! The one supervisor that runs every maintenance task of the process until cancelled.

use super::Maintenance;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Counter: maintenance runs by `task` (the static task name) and `result` (`ok`, `error`).
pub const RUNS: &str = "palisade_maintenance_runs_total";

/// How the pause grows while a task keeps failing: the interval doubles per consecutive
/// failure, up to `max` (never below the interval itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The longest pause after failures.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The pause before the next step after `failures` consecutive failed steps.
    pub fn delay(&self, interval: Duration, failures: u32) -> Duration {
        if failures == 0 {
            return interval;
        }
        let grown = interval.saturating_mul(1 << failures.min(16));
        grown.min(self.max.max(interval))
    }
}

/// Runs maintenance tasks, each in its own tokio task, until the token is cancelled.
#[derive(Debug)]
pub struct Supervisor {
    cancel: CancellationToken,
    backoff: Backoff,
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Supervisor {
    /// A supervisor whose tasks stop when `cancel` fires.
    pub fn new(cancel: CancellationToken) -> Self {
        Self {
            cancel,
            backoff: Backoff::default(),
            running: Vec::new(),
        }
    }

    /// Replaces the default [`Backoff`] (for tasks spawned afterwards).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Starts running `task`: first step one interval from now.
    pub fn spawn(&mut self, task: Arc<dyn Maintenance>) {
        let name = task.name();
        let handle = tokio::spawn(run(task, self.cancel.clone(), self.backoff));
        self.running.push((name, handle));
    }

    /// Starts every task of `tasks`.
    pub fn spawn_all(&mut self, tasks: impl IntoIterator<Item = Arc<dyn Maintenance>>) {
        tasks.into_iter().for_each(|t| self.spawn(t));
    }

    /// The names of the tasks started, in order.
    pub fn task_names(&self) -> Vec<&'static str> {
        self.running.iter().map(|(n, _)| *n).collect()
    }

    /// Cancels every task and waits for them up to `deadline` (a step under way finishes);
    /// tasks still running then are aborted. True when all stopped within the deadline.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.cancel.cancel();
        let names: Vec<&'static str> = self.task_names();
        let (handles, aborts): (Vec<_>, Vec<_>) = self
            .running
            .into_iter()
            .map(|(_, h)| {
                let abort = h.abort_handle();
                (h, abort)
            })
            .unzip();
        let all = futures_join_all(handles);
        if tokio::time::timeout(deadline, all).await.is_ok() {
            return true;
        }
        aborts.iter().for_each(|a| a.abort());
        tracing::warn!(
            ?deadline,
            tasks = ?names,
            "maintenance tasks still running at the shutdown deadline; aborted"
        );
        false
    }
}

async fn futures_join_all(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

/// One task's loop: wait (or stop), step, count, log, repeat.
async fn run(task: Arc<dyn Maintenance>, cancel: CancellationToken, backoff: Backoff) {
    let name = task.name();
    let mut failures = 0u32;
    loop {
        let pause = backoff.delay(task.interval(), failures);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        failures = match task.step().await {
            Ok(n) => ran_ok(name, n, failures),
            Err(e) => ran_err(name, &e, failures),
        };
    }
}

fn ran_ok(task: &'static str, n: u64, failures: u32) -> u32 {
    metrics::counter!(RUNS, "task" => task, "result" => "ok").increment(1);
    if failures > 0 {
        tracing::info!(task, "maintenance task succeeds again");
    }
    if n > 0 {
        tracing::debug!(task, items = n, "maintenance run");
    }
    0
}

fn ran_err(task: &'static str, e: &crate::StoreError, failures: u32) -> u32 {
    metrics::counter!(RUNS, "task" => task, "result" => "error").increment(1);
    if failures == 0 {
        tracing::warn!(task, error = %e, "maintenance task failed; backing off");
    } else {
        tracing::debug!(task, error = %e, failures, "maintenance task failed again");
    }
    failures.saturating_add(1)
}

#[cfg(test)]
mod tests;
