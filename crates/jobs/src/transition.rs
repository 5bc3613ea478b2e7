//! The state changes of a job, as pure functions every store applies under its row lock.
//!
//! A store loads the job (locked against concurrent writers), applies one of these, and writes
//! the job and the events they return in the same transaction. Keeping the rules here means
//! every backend decides alike; the conformance suite checks that they do.

use crate::error::JobError;
use crate::model::{Job, JobEvent, JobEventKind, JobState, WorkerId};
use crate::params::{
    Cancelled, FailOutcome, HeartbeatAnswer, JobFail, JobHeartbeat, MAX_ERROR_CHARS,
};
use serde_json::{json, Value};

/// Appends an event to `job`'s log at `now_ms`.
fn event(job: &mut Job, now_ms: i64, kind: JobEventKind, data: Value) -> JobEvent {
    let e = JobEvent {
        seq: job.events,
        at_ms: now_ms,
        kind,
        data,
    };
    job.events += 1;
    job.updated_at_ms = now_ms;
    e
}

/// The enqueued event of a new job.
pub fn enqueued(job: &mut Job) -> JobEvent {
    let data = json!({"state": job.state, "run_at_ms": job.run_at_ms});
    event(job, job.created_at_ms, JobEventKind::Enqueued, data)
}

/// Fails with [`JobError::LeaseLost`] unless `job` runs under `token`.
pub fn check_token(job: &Job, token: u64) -> Result<(), JobError> {
    // A lease token is a fencing counter that every lease answer shows, not a secret.
    let current = job.lease_token == token; // ct-ok: fencing counter
    if job.state == JobState::Running && current {
        Ok(())
    } else {
        Err(JobError::LeaseLost)
    }
}

/// Starts an attempt: running, a fresh token, a lease of the job's lease length.
pub fn lease(job: &mut Job, worker: &WorkerId, now_ms: i64) -> JobEvent {
    job.state = JobState::Running;
    job.attempt += 1;
    job.lease_token += 1;
    job.lease_expires_at_ms = Some(now_ms + job.lease_ms);
    job.worker = Some(worker.clone());
    job.run_at_ms = now_ms;
    let data = json!({"attempt": job.attempt, "token": job.lease_token, "worker": worker});
    event(job, now_ms, JobEventKind::Started, data)
}

/// Renews the lease; records progress and a checkpoint when given.
pub fn heartbeat(
    job: &mut Job,
    hb: &JobHeartbeat,
    now_ms: i64,
) -> Result<(HeartbeatAnswer, Vec<JobEvent>), JobError> {
    check_token(job, hb.token)?;
    let expires = now_ms + job.lease_ms;
    job.lease_expires_at_ms = Some(expires);
    job.updated_at_ms = now_ms;
    let mut events = Vec::new();
    if let Some(p) = &hb.progress {
        job.progress = Some(p.clone());
        let data = serde_json::to_value(p).unwrap_or(Value::Null);
        events.push(event(job, now_ms, JobEventKind::Progress, data));
    }
    if let Some(c) = &hb.checkpoint {
        job.checkpoint = Some(c.clone());
        events.push(event(job, now_ms, JobEventKind::Checkpoint, Value::Null));
    }
    let answer = HeartbeatAnswer {
        lease_expires_at_ms: expires,
        cancel_requested: job.cancel_requested,
    };
    Ok((answer, events))
}

fn end_lease(job: &mut Job) {
    job.lease_expires_at_ms = None;
    job.worker = None;
}

fn finish(job: &mut Job, state: JobState, now_ms: i64) {
    end_lease(job);
    job.state = state;
    job.finished_at_ms = Some(now_ms);
}

/// Completes the attempt.
pub fn complete(job: &mut Job, token: u64, now_ms: i64) -> Result<JobEvent, JobError> {
    check_token(job, token)?;
    finish(job, JobState::Completed, now_ms);
    let data = json!({"attempt": job.attempt});
    Ok(event(job, now_ms, JobEventKind::Completed, data))
}

/// Cuts `error` to [`MAX_ERROR_CHARS`] characters.
fn cut(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

/// Ends a failed attempt: cancelled when a cancel was asked for, dead when out of attempts or
/// giving up, else retrying at the backoff (drawn with `unit` in 0 ..= 1) or the asked time.
pub fn fail(job: &mut Job, f: &JobFail, now_ms: i64, unit: f64) -> Result<JobEvent, JobError> {
    check_token(job, f.token)?;
    job.last_error = Some(cut(&f.error));
    Ok(after_failure(job, f.outcome, now_ms, unit))
}

fn after_failure(job: &mut Job, outcome: FailOutcome, now_ms: i64, unit: f64) -> JobEvent {
    let error = job.last_error.clone();
    if job.cancel_requested {
        finish(job, JobState::Cancelled, now_ms);
        return event(job, now_ms, JobEventKind::Cancelled, Value::Null);
    }
    let out_of_attempts = job.attempt >= job.max_attempts;
    let retry_at = match outcome {
        _ if out_of_attempts => None,
        FailOutcome::GiveUp => None,
        FailOutcome::Backoff => Some(now_ms + job.backoff.delay_ms_with(job.attempt, unit)),
        FailOutcome::RetryAt(at) => Some(at.max(now_ms)),
    };
    match retry_at {
        None => {
            finish(job, JobState::Dead, now_ms);
            let data = json!({"attempt": job.attempt, "error": error});
            event(job, now_ms, JobEventKind::Dead, data)
        }
        Some(at) => {
            end_lease(job);
            job.state = JobState::Retrying;
            job.run_at_ms = at;
            let data = json!({"attempt": job.attempt, "error": error, "run_at_ms": at});
            event(job, now_ms, JobEventKind::Retrying, data)
        }
    }
}

/// Gives the lease back without counting the attempt: waiting again, due now.
pub fn release(job: &mut Job, token: u64, now_ms: i64) -> Result<JobEvent, JobError> {
    check_token(job, token)?;
    end_lease(job);
    job.attempt = job.attempt.saturating_sub(1);
    if job.cancel_requested {
        finish(job, JobState::Cancelled, now_ms);
        return Ok(event(job, now_ms, JobEventKind::Cancelled, Value::Null));
    }
    job.state = JobState::Queued;
    job.run_at_ms = now_ms;
    Ok(event(job, now_ms, JobEventKind::Released, Value::Null))
}

/// Takes back a running job whose lease ended before `now_ms`: the attempt counts as failed.
/// Returns its events (rescued, then retrying, dead or cancelled), none when the lease is
/// still live or the job is not running.
pub fn rescue(job: &mut Job, now_ms: i64, unit: f64) -> Vec<JobEvent> {
    let expired =
        job.state == JobState::Running && job.lease_expires_at_ms.is_some_and(|at| at <= now_ms);
    if !expired {
        return Vec::new();
    }
    let data = json!({"attempt": job.attempt});
    let rescued = event(job, now_ms, JobEventKind::Rescued, data);
    job.last_error = Some("lease expired without a heartbeat".into());
    vec![
        rescued,
        after_failure(job, FailOutcome::Backoff, now_ms, unit),
    ]
}

/// Cancels a waiting job, or flags a running one (no new event when already flagged).
pub fn cancel(job: &mut Job, now_ms: i64) -> Result<(Cancelled, Option<JobEvent>), JobError> {
    if job.state.is_final() {
        return Err(JobError::Finished);
    }
    if job.state == JobState::Running {
        let e = (!job.cancel_requested).then(|| {
            job.cancel_requested = true;
            event(job, now_ms, JobEventKind::CancelRequested, Value::Null)
        });
        return Ok((Cancelled::Requested(job.clone()), e));
    }
    finish(job, JobState::Cancelled, now_ms);
    let e = event(job, now_ms, JobEventKind::Cancelled, Value::Null);
    Ok((Cancelled::Done(job.clone()), Some(e)))
}

/// Re-drives a dead or cancelled job: queued now, attempts from zero.
pub fn redrive(job: &mut Job, now_ms: i64) -> Result<JobEvent, JobError> {
    if !matches!(job.state, JobState::Dead | JobState::Cancelled) {
        return Err(JobError::NotDead);
    }
    job.state = JobState::Queued;
    job.attempt = 0;
    job.run_at_ms = now_ms;
    job.cancel_requested = false;
    job.finished_at_ms = None;
    Ok(event(job, now_ms, JobEventKind::Redriven, Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobId, JobKind, QueueName};
    use crate::params::JobEnqueue;
    use palisade_core::TenantId;

    fn job(max_attempts: u32) -> Job {
        let mut e = JobEnqueue::new(
            QueueName::parse("q").unwrap(),
            JobKind::parse("k").unwrap(),
            json!({}),
        );
        e.max_attempts = max_attempts;
        e.backoff.jitter = 0.0;
        let mut j = e.into_job(&TenantId::generate(), JobId::generate(0), 0);
        enqueued(&mut j);
        j
    }

    fn w() -> WorkerId {
        WorkerId::parse("w").unwrap()
    }

    fn failed(token: u64, outcome: FailOutcome) -> JobFail {
        JobFail {
            id: JobId::generate(0),
            token,
            error: "boom".into(),
            outcome,
        }
    }

    #[test]
    fn each_lease_gets_a_fresh_token_and_old_ones_are_refused() {
        let mut j = job(3);
        lease(&mut j, &w(), 10);
        let t1 = j.lease_token;
        fail(&mut j, &failed(t1, FailOutcome::RetryAt(20)), 11, 0.0).unwrap();
        lease(&mut j, &w(), 20);
        assert!(j.lease_token > t1);
        assert!(complete(&mut j.clone(), t1, 21)
            .unwrap_err()
            .is_lease_lost());
        let hb = JobHeartbeat::new(j.id.clone(), t1);
        assert!(heartbeat(&mut j, &hb, 21).unwrap_err().is_lease_lost());
        let t = j.lease_token;
        complete(&mut j, t, 22).unwrap();
        assert_eq!(j.state, JobState::Completed);
    }

    #[test]
    fn failure_backs_off_then_dies_after_the_last_attempt() {
        let mut j = job(2);
        lease(&mut j, &w(), 0);
        fail(&mut j, &failed(1, FailOutcome::Backoff), 100, 0.0).unwrap();
        assert_eq!((j.state, j.run_at_ms), (JobState::Retrying, 1_100));
        lease(&mut j, &w(), 1_100);
        let e = fail(&mut j, &failed(2, FailOutcome::Backoff), 1_200, 0.0).unwrap();
        assert_eq!((j.state, e.kind), (JobState::Dead, JobEventKind::Dead));
        assert_eq!(j.last_error.as_deref(), Some("boom"));
    }

    #[test]
    fn give_up_is_dead_at_once_and_cancel_request_wins_over_retry() {
        let mut j = job(5);
        lease(&mut j, &w(), 0);
        fail(&mut j, &failed(1, FailOutcome::GiveUp), 1, 0.0).unwrap();
        assert_eq!(j.state, JobState::Dead);
        redrive(&mut j, 2).unwrap();
        assert_eq!((j.state, j.attempt), (JobState::Queued, 0));
        lease(&mut j, &w(), 3);
        assert!(matches!(
            cancel(&mut j, 4).unwrap().0,
            Cancelled::Requested(_)
        ));
        let hb = JobHeartbeat::new(j.id.clone(), j.lease_token);
        assert!(heartbeat(&mut j, &hb, 5).unwrap().0.cancel_requested);
        let f = failed(j.lease_token, FailOutcome::Backoff);
        fail(&mut j, &f, 6, 0.0).unwrap();
        assert_eq!(j.state, JobState::Cancelled);
        assert!(matches!(cancel(&mut j, 7), Err(JobError::Finished)));
    }

    #[test]
    fn rescue_only_after_expiry_and_release_does_not_count() {
        let mut j = job(5);
        lease(&mut j, &w(), 0);
        let lease_ms = j.lease_ms;
        assert!(rescue(&mut j, lease_ms - 1, 0.0).is_empty());
        assert_eq!(rescue(&mut j, lease_ms, 0.0).len(), 2);
        assert_eq!((j.state, j.attempt), (JobState::Retrying, 1));
        lease(&mut j, &w(), 50_000);
        let t = j.lease_token;
        release(&mut j, t, 50_001).unwrap();
        assert_eq!(
            (j.state, j.attempt, j.run_at_ms),
            (JobState::Queued, 1, 50_001)
        );
    }

    #[test]
    fn events_are_numbered_from_zero() {
        let mut j = job(1);
        let e = lease(&mut j, &w(), 1);
        assert_eq!((e.seq, j.events), (1, 2));
        assert!(matches!(redrive(&mut j, 2), Err(JobError::NotDead)));
    }
}
