//! The jobs metrics: counters and histograms with bounded labels (outcomes only, never a queue
//! or a kind: those are chosen by tenants).

use crate::model::{Job, JobState};
use crate::params::{Enqueued, Leased, Rescued};

/// Buckets (seconds) for the jobs histograms: 1 ms to 1 day.
pub const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3_600.0, 21_600.0, 86_400.0,
];

fn count(name: &'static str) {
    metrics::counter!(name).increment(1);
}

fn secs(ms: i64) -> f64 {
    ms.max(0) as f64 / 1_000.0
}

/// An enqueue: `palisade_jobs_enqueued_total` or `palisade_jobs_duplicates_total`.
pub fn enqueued(e: &Enqueued) {
    count(match e.duplicate {
        true => "palisade_jobs_duplicates_total",
        false => "palisade_jobs_enqueued_total",
    });
}

/// A lease: an attempt started (`palisade_jobs_started_total`), its queue latency (due →
/// start), and `palisade_jobs_checkpoint_resumes_total` when the job carries a checkpoint.
pub fn leased(l: &Leased) {
    count("palisade_jobs_started_total");
    metrics::histogram!("palisade_jobs_queue_latency_seconds")
        .record(secs(l.job.run_at_ms - l.due_at_ms));
    if l.job.checkpoint.is_some() {
        count("palisade_jobs_checkpoint_resumes_total");
    }
}

/// A completed attempt: its run time (start → completion).
pub fn completed(j: &Job) {
    count("palisade_jobs_completed_total");
    let end = j.finished_at_ms.unwrap_or(j.updated_at_ms);
    metrics::histogram!("palisade_jobs_run_seconds").record(secs(end - j.run_at_ms));
}

/// A failed attempt (`palisade_jobs_failed_total`) and where it led: a retry, dead or cancelled.
pub fn failed(j: &Job) {
    count("palisade_jobs_failed_total");
    ended(j.state);
}

/// A job that went to `state` after a failure, a rescue or a cancel.
pub fn ended(state: JobState) {
    match state {
        JobState::Retrying => count("palisade_jobs_retries_total"),
        JobState::Dead => count("palisade_jobs_dead_total"),
        JobState::Cancelled => count("palisade_jobs_cancelled_total"),
        _ => {}
    }
}

/// A rescuer run: `palisade_jobs_rescued_total` per job, and where each went.
pub fn rescued(r: &Rescued) {
    metrics::counter!("palisade_jobs_rescued_total").increment(r.total());
    metrics::counter!("palisade_jobs_retries_total").increment(r.retried);
    metrics::counter!("palisade_jobs_dead_total").increment(r.dead);
    metrics::counter!("palisade_jobs_cancelled_total").increment(r.cancelled);
}

/// Jobs re-driven from dead or cancelled.
pub fn redriven(n: usize) {
    metrics::counter!("palisade_jobs_redriven_total").increment(n as u64);
}

/// A call refused because its lease token is not the job's current lease.
pub fn lease_lost() {
    count("palisade_jobs_lease_lost_total");
}
