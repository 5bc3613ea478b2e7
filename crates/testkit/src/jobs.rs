//! Conformance suite of the jobs stores: one public check per guarantee, on a manual clock.
//!
//! Every check takes the store and the manual clock the store reads; it works in fresh
//! tenants and a fresh queue, so checks may share a store and run in any order. Checks that
//! sweep every tenant (rescue, prune) assert only on their own jobs.

use palisade_core::{Clock, ManualClock, PageRequest, TenantId};
use palisade_jobs::{
    Backoff, Cancelled, FailOutcome, Job, JobComplete, JobEnqueue, JobError, JobEventKind,
    JobEvents, JobFail, JobFilter, JobHeartbeat, JobId, JobKind, JobLease, JobList, JobPrune,
    JobRelease, JobRescue, JobRetry, JobState, JobStore, LeaseScope, Leased, Priority, Progress,
    QueueName, Tag, UniqueSpec, UniqueStates, WorkerId,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The store under test.
pub type Store = Arc<dyn JobStore>;
/// The clock the store reads.
pub type Time = Arc<ManualClock>;

/// Every check, by name, in a stable order.
pub const CHECKS: &[&str] = &[
    "enqueue_and_get",
    "unique_duplicate_marker",
    "concurrent_unique_enqueue_makes_one_job",
    "lease_order_priority_then_run_at",
    "delayed_job_not_leased_early",
    "stale_token_refused_after_rescue",
    "rescue_after_lease_expiry",
    "backoff_schedules_retry",
    "give_up_and_last_attempt_are_dead",
    "redrive_dead_one_and_filtered",
    "cancel_queued",
    "cancel_running_learned_by_heartbeat",
    "checkpoint_handed_to_retry",
    "release_gives_the_job_back_at_once",
    "refused_call_leaves_the_job_leasable_at_once",
    "event_log_from_offset",
    "tenant_isolation",
    "fairness_across_tenants",
    "per_tenant_running_cap",
    "prune_by_state",
    "list_paginates_and_filters",
    "bad_input_refused",
    "delete_waiting_and_finished_not_running",
    "stats_count_by_state_and_oldest_due",
    "list_filters_by_created_time",
    "stats_throughput_by_window",
    "per_key_running_cap",
    "lease_gate_admits_by_key",
    "running_caps_exact_after_every_stop",
    "fairness_counts_running_jobs_past_the_first_share",
    "complete_many_checks_each_token",
    "enqueue_many_answers_in_order",
    "concurrent_batches_make_one_job_per_key",
    "stored_jobs_match_what_lease_and_complete_answer",
];

/// Runs every check in turn on one store.
pub async fn run(s: Store, c: Time) {
    enqueue_and_get(&s, &c).await;
    unique_duplicate_marker(&s, &c).await;
    concurrent_unique_enqueue_makes_one_job(&s, &c).await;
    lease_order_priority_then_run_at(&s, &c).await;
    delayed_job_not_leased_early(&s, &c).await;
    stale_token_refused_after_rescue(&s, &c).await;
    rescue_after_lease_expiry(&s, &c).await;
    backoff_schedules_retry(&s, &c).await;
    give_up_and_last_attempt_are_dead(&s, &c).await;
    redrive_dead_one_and_filtered(&s, &c).await;
    cancel_queued(&s, &c).await;
    cancel_running_learned_by_heartbeat(&s, &c).await;
    checkpoint_handed_to_retry(&s, &c).await;
    release_gives_the_job_back_at_once(&s, &c).await;
    refused_call_leaves_the_job_leasable_at_once(&s, &c).await;
    event_log_from_offset(&s, &c).await;
    tenant_isolation(&s, &c).await;
    fairness_across_tenants(&s, &c).await;
    per_tenant_running_cap(&s, &c).await;
    prune_by_state(&s, &c).await;
    list_paginates_and_filters(&s, &c).await;
    bad_input_refused(&s, &c).await;
    delete_waiting_and_finished_not_running(&s, &c).await;
    stats_count_by_state_and_oldest_due(&s, &c).await;
    list_filters_by_created_time(&s, &c).await;
    stats_throughput_by_window(&s, &c).await;
    per_key_running_cap(&s, &c).await;
    lease_gate_admits_by_key(&s, &c).await;
    running_caps_exact_after_every_stop(&s, &c).await;
    fairness_counts_running_jobs_past_the_first_share(&s, &c).await;
    complete_many_checks_each_token(&s, &c).await;
    enqueue_many_answers_in_order(&s, &c).await;
    concurrent_batches_make_one_job_per_key(&s, &c).await;
    stored_jobs_match_what_lease_and_complete_answer(&s, &c).await;
}

fn fresh_queue(check: &str) -> QueueName {
    QueueName::parse(&format!("{check}-{:08x}", rand::random::<u32>())).unwrap()
}

fn enq(q: &QueueName) -> JobEnqueue {
    let mut e = JobEnqueue::new(
        q.clone(),
        JobKind::parse("test.kind").unwrap(),
        json!({"n": 1}),
    );
    e.backoff = Backoff {
        base_ms: 1_000,
        max_ms: 60_000,
        factor: 2.0,
        jitter: 0.0,
    };
    e.lease_ms = 10_000;
    e
}

fn worker() -> WorkerId {
    WorkerId::parse("worker-1").unwrap()
}

fn lease_req(scope: LeaseScope, q: &QueueName, limit: u32) -> JobLease {
    JobLease {
        scope,
        queue: q.clone(),
        worker: worker(),
        limit,
        max_running_per_tenant: None,
        max_running_per_key: None,
        gate: None,
    }
}

async fn add(s: &Store, t: &TenantId, e: JobEnqueue) -> Job {
    let out = s.job_enqueue(t, e).await.unwrap();
    assert!(!out.duplicate);
    out.job
}

async fn lease(s: &Store, t: &TenantId, q: &QueueName, limit: u32) -> Vec<Leased> {
    let req = lease_req(LeaseScope::Tenant(t.clone()), q, limit);
    s.job_lease(&req).await.unwrap()
}

async fn lease_one(s: &Store, t: &TenantId, q: &QueueName) -> Leased {
    let mut got = lease(s, t, q, 1).await;
    assert_eq!(got.len(), 1, "one due job expected");
    got.remove(0)
}

async fn get(s: &Store, t: &TenantId, id: &JobId) -> Job {
    s.job_get(t, id).await.unwrap().expect("job exists")
}

fn fail(l: &Leased, outcome: FailOutcome) -> JobFail {
    JobFail {
        id: l.job.id.clone(),
        token: l.token,
        error: "handler failed".into(),
        outcome,
    }
}

fn done(l: &Leased) -> JobComplete {
    JobComplete {
        id: l.job.id.clone(),
        token: l.token,
    }
}

fn lost<T: std::fmt::Debug>(r: Result<T, JobError>, what: &str) {
    match r {
        Err(JobError::LeaseLost) => {}
        other => panic!("{what}: expected LeaseLost, got {other:?}"),
    }
}

async fn kinds(s: &Store, t: &TenantId, id: &JobId, from: u64) -> Vec<JobEventKind> {
    let req = JobEvents {
        id: id.clone(),
        from,
        limit: 1_000,
    };
    let events = s.job_events(t, &req).await.unwrap();
    events.iter().map(|e| e.kind).collect()
}

/// An enqueued job reads back as enqueued; an unknown id is absent.
pub async fn enqueue_and_get(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("get"));
    let mut e = enq(&q);
    e.tags = vec![Tag::parse("a").unwrap()];
    e.priority = Priority::new(2).unwrap();
    let job = add(s, &t, e).await;
    assert_eq!(job.state, JobState::Queued);
    assert_eq!((job.attempt, job.lease_token, job.events), (0, 0, 1));
    assert_eq!(job.run_at_ms, c.now_ms());
    let read = get(s, &t, &job.id).await;
    assert_eq!(read, job, "stored and read back alike");
    let other = JobId::generate(c.now_ms());
    assert_eq!(s.job_get(&t, &other).await.unwrap(), None);
}

/// A second enqueue of a unique key answers the first job with the duplicate marker, while the
/// job is in one of the key's states; a period makes the key per slot.
pub async fn unique_duplicate_marker(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("unique"));
    let unique = |key: &str, states, period_ms| {
        let mut e = enq(&q);
        e.unique = Some(UniqueSpec {
            key: key.into(),
            states,
            period_ms,
        });
        e
    };
    let first = add(s, &t, unique("k", UniqueStates::UNFINISHED, None)).await;
    let again = s
        .job_enqueue(&t, unique("k", UniqueStates::UNFINISHED, None))
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.job.id, first.id);
    c.advance(Duration::from_millis(1)); // leased after `first`, not tied with it
    add(s, &t, unique("other", UniqueStates::UNFINISHED, None)).await;
    let other_tenant = TenantId::generate();
    add(
        s,
        &other_tenant,
        unique("k", UniqueStates::UNFINISHED, None),
    )
    .await;
    // Completed is not in UNFINISHED: once done, the key is free again.
    let l = lease_one(s, &t, &q).await;
    assert_eq!(l.job.id, first.id);
    s.job_complete(&t, &done(&l)).await.unwrap();
    let next = add(s, &t, unique("k", UniqueStates::UNFINISHED, None)).await;
    assert_ne!(next.id, first.id);
    // ALL includes completed.
    let all = add(s, &t, unique("all", UniqueStates::ALL, None)).await;
    let q2 = all.queue.clone();
    let mut l = lease(s, &t, &q2, 10).await;
    l.retain(|l| l.job.id == all.id);
    s.job_complete(&t, &done(&l[0])).await.unwrap();
    let dup = s
        .job_enqueue(&t, unique("all", UniqueStates::ALL, None))
        .await
        .unwrap();
    assert!(dup.duplicate && dup.job.id == all.id && dup.job.state == JobState::Completed);
    // A period: one job per key per slot.
    c.set((c.now_ms() / 60_000 + 1) * 60_000);
    let p1 = add(s, &t, unique("p", UniqueStates::ALL, Some(60_000))).await;
    c.advance(Duration::from_millis(59_999));
    let p2 = s
        .job_enqueue(&t, unique("p", UniqueStates::ALL, Some(60_000)))
        .await
        .unwrap();
    assert!(p2.duplicate && p2.job.id == p1.id);
    c.advance(Duration::from_millis(1));
    add(s, &t, unique("p", UniqueStates::ALL, Some(60_000))).await;
}

/// Concurrent enqueues of one unique key make exactly one job; all answer it.
pub async fn concurrent_unique_enqueue_makes_one_job(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("race"));
    let mut e = enq(&q);
    e.unique = Some(UniqueSpec {
        key: "once".into(),
        states: UniqueStates::ALL,
        period_ms: None,
    });
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (s, t, e) = (s.clone(), t.clone(), e.clone());
            tokio::spawn(async move { s.job_enqueue(&t, e).await })
        })
        .collect();
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let out = task.await.unwrap().unwrap();
        created += usize::from(!out.duplicate);
        ids.insert(out.job.id);
    }
    assert_eq!(created, 1, "exactly one enqueue created the job");
    assert_eq!(ids.len(), 1, "every enqueue answered the same job");
    let list = JobList {
        page: PageRequest::first(50),
        ..Default::default()
    };
    assert_eq!(s.job_list(&t, &list).await.unwrap().items.len(), 1);
}

/// Leases take lower priority numbers first, then earlier run-at.
pub async fn lease_order_priority_then_run_at(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("order"));
    let with = |p: i64| {
        let mut e = enq(&q);
        e.priority = Priority::new(p).unwrap();
        e
    };
    let late_low = add(s, &t, with(5)).await;
    c.advance(Duration::from_millis(1));
    let later_low = add(s, &t, with(5)).await;
    c.advance(Duration::from_millis(1));
    let urgent = add(s, &t, with(1)).await;
    let order: Vec<JobId> = [
        lease_one(s, &t, &q).await,
        lease_one(s, &t, &q).await,
        lease_one(s, &t, &q).await,
    ]
    .into_iter()
    .map(|l| l.job.id)
    .collect();
    assert_eq!(order, [urgent.id, late_low.id, later_low.id]);
    assert!(lease(s, &t, &q, 10).await.is_empty());
}

/// A delayed job is scheduled and not leased before its run-at.
pub async fn delayed_job_not_leased_early(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("delay"));
    let mut e = enq(&q);
    e.run_at_ms = Some(c.now_ms() + 10_000);
    let job = add(s, &t, e).await;
    assert_eq!(job.state, JobState::Scheduled);
    assert!(lease(s, &t, &q, 10).await.is_empty());
    c.advance(Duration::from_millis(9_999));
    assert!(lease(s, &t, &q, 10).await.is_empty(), "one ms early");
    c.advance(Duration::from_millis(1));
    assert_eq!(lease_one(s, &t, &q).await.job.id, job.id);
}

/// After a rescue, the old attempt's token is refused by heartbeat, complete, fail and
/// release; the next attempt's token is greater and works; the job completes once.
pub async fn stale_token_refused_after_rescue(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("stale"));
    let job = add(s, &t, enq(&q)).await;
    let old = lease_one(s, &t, &q).await;
    c.advance(Duration::from_millis(10_000));
    s.job_rescue(&JobRescue {
        now_ms: c.now_ms(),
        limit: 1_000,
    })
    .await
    .unwrap();
    assert_eq!(get(s, &t, &job.id).await.state, JobState::Retrying);
    let hb = JobHeartbeat::new(job.id.clone(), old.token);
    lost(s.job_heartbeat(&t, &hb).await, "heartbeat after rescue");
    lost(
        s.job_complete(&t, &done(&old)).await,
        "complete after rescue",
    );
    lost(
        s.job_fail(&t, &fail(&old, FailOutcome::GiveUp)).await,
        "fail after rescue",
    );
    let rel = JobRelease {
        id: job.id.clone(),
        token: old.token,
    };
    lost(s.job_release(&t, &rel).await, "release after rescue");
    c.advance(Duration::from_millis(1_000));
    let new = lease_one(s, &t, &q).await;
    assert!(new.token > old.token, "a fresh, greater token per attempt");
    assert_eq!(new.job.attempt, 2);
    lost(
        s.job_complete(&t, &done(&old)).await,
        "old token while the new attempt runs",
    );
    assert_eq!(
        get(s, &t, &job.id).await.state,
        JobState::Running,
        "refusal changed nothing"
    );
    s.job_complete(&t, &done(&new)).await.unwrap();
    lost(s.job_complete(&t, &done(&new)).await, "second complete");
    let completions = kinds(s, &t, &job.id, 0).await;
    let n = completions
        .iter()
        .filter(|k| **k == JobEventKind::Completed)
        .count();
    assert_eq!(n, 1, "completed exactly once");
}

/// A lease expires only after its length without a heartbeat; a heartbeat renews it; an
/// expired lease is rescued (retrying), or dead on the last attempt.
pub async fn rescue_after_lease_expiry(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("rescue"));
    let rescue = || async {
        s.job_rescue(&JobRescue {
            now_ms: c.now_ms(),
            limit: 1_000,
        })
        .await
        .unwrap()
    };
    let job = add(s, &t, enq(&q)).await;
    let l = lease_one(s, &t, &q).await;
    assert_eq!(l.job.lease_expires_at_ms, Some(c.now_ms() + 10_000));
    c.advance(Duration::from_millis(9_999));
    rescue().await;
    assert_eq!(
        get(s, &t, &job.id).await.state,
        JobState::Running,
        "live until expiry"
    );
    let hb = s
        .job_heartbeat(&t, &JobHeartbeat::new(job.id.clone(), l.token))
        .await
        .unwrap();
    assert_eq!(hb.lease_expires_at_ms, c.now_ms() + 10_000);
    assert!(!hb.cancel_requested);
    c.advance(Duration::from_millis(9_999));
    rescue().await;
    assert_eq!(
        get(s, &t, &job.id).await.state,
        JobState::Running,
        "heartbeat renewed"
    );
    c.advance(Duration::from_millis(1));
    rescue().await;
    let after = get(s, &t, &job.id).await;
    assert_eq!(after.state, JobState::Retrying);
    assert_eq!(
        after.run_at_ms,
        c.now_ms() + 1_000,
        "retries by its backoff"
    );
    assert!(kinds(s, &t, &job.id, 0)
        .await
        .contains(&JobEventKind::Rescued));
    // On its last attempt a rescued job is dead.
    let mut e = enq(&q);
    e.max_attempts = 1;
    let last = add(s, &t, e).await;
    c.advance(Duration::from_millis(1_000));
    let leased = lease(s, &t, &q, 10).await;
    assert_eq!(leased.len(), 2);
    c.advance(Duration::from_millis(10_000));
    rescue().await;
    assert_eq!(get(s, &t, &last.id).await.state, JobState::Dead);
}

/// A failure retries at the job's backoff (growing per attempt) or at a given time.
pub async fn backoff_schedules_retry(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("backoff"));
    let job = add(s, &t, enq(&q)).await;
    let l = lease_one(s, &t, &q).await;
    let failed = s
        .job_fail(&t, &fail(&l, FailOutcome::Backoff))
        .await
        .unwrap();
    assert_eq!(failed.state, JobState::Retrying);
    assert_eq!(failed.run_at_ms, c.now_ms() + 1_000);
    assert_eq!(failed.last_error.as_deref(), Some("handler failed"));
    c.advance(Duration::from_millis(999));
    assert!(
        lease(s, &t, &q, 10).await.is_empty(),
        "not before the backoff"
    );
    c.advance(Duration::from_millis(1));
    let l = lease_one(s, &t, &q).await;
    assert_eq!(l.job.attempt, 2);
    let failed = s
        .job_fail(&t, &fail(&l, FailOutcome::Backoff))
        .await
        .unwrap();
    assert_eq!(failed.run_at_ms, c.now_ms() + 2_000, "doubles per attempt");
    c.advance(Duration::from_millis(2_000));
    let l = lease_one(s, &t, &q).await;
    let at = c.now_ms() + 123_456;
    let failed = s
        .job_fail(&t, &fail(&l, FailOutcome::RetryAt(at)))
        .await
        .unwrap();
    assert_eq!((failed.state, failed.run_at_ms), (JobState::Retrying, at));
    assert_eq!(get(s, &t, &job.id).await, failed);
}

/// Giving up is dead at once; failing the last attempt is dead.
pub async fn give_up_and_last_attempt_are_dead(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("dead"));
    let _ = c;
    add(s, &t, enq(&q)).await;
    let l = lease_one(s, &t, &q).await;
    let dead = s
        .job_fail(&t, &fail(&l, FailOutcome::GiveUp))
        .await
        .unwrap();
    assert_eq!(dead.state, JobState::Dead);
    assert!(dead.finished_at_ms.is_some());
    let mut e = enq(&q);
    e.max_attempts = 1;
    add(s, &t, e).await;
    let l = lease_one(s, &t, &q).await;
    let dead = s
        .job_fail(&t, &fail(&l, FailOutcome::Backoff))
        .await
        .unwrap();
    assert_eq!((dead.state, dead.attempt), (JobState::Dead, 1));
    assert!(
        lease(s, &t, &q, 10).await.is_empty(),
        "dead jobs are not leased"
    );
}

async fn make_dead(s: &Store, t: &TenantId, e: JobEnqueue) -> Job {
    let q = e.queue.clone();
    let job = add(s, t, e).await;
    let l = lease(s, t, &q, 100).await;
    let l = l.into_iter().find(|l| l.job.id == job.id).expect("leased");
    s.job_fail(t, &fail(&l, FailOutcome::GiveUp)).await.unwrap()
}

/// A dead job is re-driven alone or in bulk by filter; a live job is not re-drivable.
pub async fn redrive_dead_one_and_filtered(s: &Store, _c: &Time) {
    let (t, q, other_q) = (
        TenantId::generate(),
        fresh_queue("redrive"),
        fresh_queue("other"),
    );
    let dead = make_dead(s, &t, enq(&q)).await;
    let back = s
        .job_retry(&t, &JobRetry::One(dead.id.clone()))
        .await
        .unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!((back[0].state, back[0].attempt), (JobState::Queued, 0));
    match s.job_retry(&t, &JobRetry::One(dead.id.clone())).await {
        Err(JobError::NotDead) => {}
        other => panic!("expected NotDead, got {other:?}"),
    }
    assert!(kinds(s, &t, &dead.id, 0)
        .await
        .contains(&JobEventKind::Redriven));
    let l = lease_one(s, &t, &q).await;
    s.job_complete(&t, &done(&l)).await.unwrap();
    for _ in 0..3 {
        make_dead(s, &t, enq(&q)).await;
    }
    let elsewhere = make_dead(s, &t, enq(&other_q)).await;
    let filter = JobFilter {
        queue: Some(q.clone()),
        ..Default::default()
    };
    let bulk = s
        .job_retry(&t, &JobRetry::Dead { filter, limit: 100 })
        .await
        .unwrap();
    assert_eq!(bulk.len(), 3);
    assert!(bulk
        .iter()
        .all(|j| j.state == JobState::Queued && j.queue == q));
    assert_eq!(get(s, &t, &elsewhere.id).await.state, JobState::Dead);
    let missing = s.job_retry(&t, &JobRetry::One(JobId::generate(0))).await;
    assert!(matches!(missing, Err(JobError::NotFound)), "{missing:?}");
}

/// Cancelling a waiting job ends it at once; a finished job cannot be cancelled.
pub async fn cancel_queued(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("cancel"));
    let job = add(s, &t, enq(&q)).await;
    match s.job_cancel(&t, &job.id).await.unwrap() {
        Cancelled::Done(j) => assert_eq!(j.state, JobState::Cancelled),
        other => panic!("{other:?}"),
    }
    assert!(lease(s, &t, &q, 10).await.is_empty());
    assert!(matches!(
        s.job_cancel(&t, &job.id).await,
        Err(JobError::Finished)
    ));
}

/// Cancelling a running job flags it; the worker learns it from its heartbeat answer, and its
/// failure report ends the job cancelled, not retrying.
pub async fn cancel_running_learned_by_heartbeat(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("cancel-run"));
    let job = add(s, &t, enq(&q)).await;
    let l = lease_one(s, &t, &q).await;
    assert!(matches!(
        s.job_cancel(&t, &job.id).await.unwrap(),
        Cancelled::Requested(_)
    ));
    assert!(matches!(
        s.job_cancel(&t, &job.id).await.unwrap(),
        Cancelled::Requested(_)
    ));
    let hb = s
        .job_heartbeat(&t, &JobHeartbeat::new(job.id.clone(), l.token))
        .await
        .unwrap();
    assert!(hb.cancel_requested);
    let end = s
        .job_fail(&t, &fail(&l, FailOutcome::Backoff))
        .await
        .unwrap();
    assert_eq!(end.state, JobState::Cancelled);
    let log = kinds(s, &t, &job.id, 0).await;
    assert_eq!(
        log.iter()
            .filter(|k| **k == JobEventKind::CancelRequested)
            .count(),
        1
    );
}

/// A checkpoint saved with a heartbeat is handed to the next attempt, after a failure and
/// after a rescue.
pub async fn checkpoint_handed_to_retry(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("checkpoint"));
    let job = add(s, &t, enq(&q)).await;
    let l = lease_one(s, &t, &q).await;
    assert_eq!(l.job.checkpoint, None);
    let mut hb = JobHeartbeat::new(job.id.clone(), l.token);
    hb.checkpoint = Some(json!({"done": 500}));
    hb.progress = Some(Progress {
        percent: Some(25),
        message: Some("a quarter".into()),
        data: None,
    });
    s.job_heartbeat(&t, &hb).await.unwrap();
    s.job_fail(&t, &fail(&l, FailOutcome::Backoff))
        .await
        .unwrap();
    c.advance(Duration::from_millis(1_000));
    let l = lease_one(s, &t, &q).await;
    assert_eq!(l.job.checkpoint, Some(json!({"done": 500})));
    assert_eq!(l.job.progress.as_ref().and_then(|p| p.percent), Some(25));
    let mut hb = JobHeartbeat::new(job.id.clone(), l.token);
    hb.checkpoint = Some(json!({"done": 1_000}));
    s.job_heartbeat(&t, &hb).await.unwrap();
    c.advance(Duration::from_millis(10_000));
    s.job_rescue(&JobRescue {
        now_ms: c.now_ms(),
        limit: 1_000,
    })
    .await
    .unwrap();
    c.advance(Duration::from_millis(2_000));
    let l = lease_one(s, &t, &q).await;
    assert_eq!(l.job.checkpoint, Some(json!({"done": 1_000})));
}

/// A released lease puts the job back at once without counting the attempt.
pub async fn release_gives_the_job_back_at_once(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("release"));
    let job = add(s, &t, enq(&q)).await;
    let l = lease_one(s, &t, &q).await;
    let rel = JobRelease {
        id: job.id.clone(),
        token: l.token,
    };
    let back = s.job_release(&t, &rel).await.unwrap();
    assert_eq!((back.state, back.attempt), (JobState::Queued, 0));
    let again = lease_one(s, &t, &q).await;
    assert_eq!(again.job.attempt, 1);
    assert!(again.token > l.token);
    lost(s.job_release(&t, &rel).await, "release with the old token");
}

/// A call refused after it locked the job's row (a complete with a token no lease holds)
/// leaves the job free at once: a lease right after it, on any connection, takes it. (A store
/// that let its transaction roll back later, on the pool's time, had a `SKIP LOCKED` lease
/// pass over the job meanwhile.)
pub async fn refused_call_leaves_the_job_leasable_at_once(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("refused"));
    let mut idle = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (s, t) = (s.clone(), t.clone());
        idle.spawn(async move { s.job_get(&t, &JobId::generate(0)).await.unwrap() });
    }
    idle.join_all().await;
    for _ in 0..20 {
        let job = add(s, &t, enq(&q)).await;
        let bogus = JobComplete {
            id: job.id.clone(),
            token: 1 << 40,
        };
        lost(s.job_complete(&t, &bogus).await, "complete without a lease");
        let l = lease_one(s, &t, &q).await;
        s.job_complete(&t, &done(&l)).await.unwrap();
    }
}

/// The log holds every change in order, numbered from 0, readable from an offset.
pub async fn event_log_from_offset(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("events"));
    let job = add(s, &t, enq(&q)).await;
    let l = lease_one(s, &t, &q).await;
    let mut hb = JobHeartbeat::new(job.id.clone(), l.token);
    hb.progress = Some(Progress {
        percent: Some(50),
        message: None,
        data: Some(json!({"items": 5})),
    });
    s.job_heartbeat(&t, &hb).await.unwrap();
    s.job_heartbeat(&t, &JobHeartbeat::new(job.id.clone(), l.token))
        .await
        .unwrap();
    s.job_complete(&t, &done(&l)).await.unwrap();
    use JobEventKind as K;
    let all = [K::Enqueued, K::Started, K::Progress, K::Completed];
    assert_eq!(kinds(s, &t, &job.id, 0).await, all);
    let req = JobEvents {
        id: job.id.clone(),
        from: 2,
        limit: 10,
    };
    let tail = s.job_events(&t, &req).await.unwrap();
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(tail[0].data["percent"], 50);
    assert_eq!(tail[0].data["data"]["items"], 5);
    let req = JobEvents {
        id: job.id.clone(),
        from: 4,
        limit: 10,
    };
    assert!(s.job_events(&t, &req).await.unwrap().is_empty());
    let req = JobEvents {
        id: job.id.clone(),
        from: 0,
        limit: 1,
    };
    assert_eq!(s.job_events(&t, &req).await.unwrap().len(), 1);
    assert_eq!(get(s, &t, &job.id).await.events, 4);
}

/// Another tenant's job is not found by any operation, and never leased in a tenant scope.
pub async fn tenant_isolation(s: &Store, _c: &Time) {
    let (a, b, q) = (
        TenantId::generate(),
        TenantId::generate(),
        fresh_queue("iso"),
    );
    let job = add(s, &a, enq(&q)).await;
    assert_eq!(s.job_get(&b, &job.id).await.unwrap(), None);
    assert!(lease(s, &b, &q, 10).await.is_empty());
    let nf = |r: Result<_, JobError>, what: &str| {
        assert!(matches!(r, Err(JobError::NotFound)), "{what}: {r:?}");
    };
    nf(s.job_cancel(&b, &job.id).await.map(|_| ()), "cancel");
    nf(
        s.job_retry(&b, &JobRetry::One(job.id.clone()))
            .await
            .map(|_| ()),
        "retry",
    );
    let ev = JobEvents {
        id: job.id.clone(),
        from: 0,
        limit: 10,
    };
    nf(s.job_events(&b, &ev).await.map(|_| ()), "events");
    let l = lease_one(s, &a, &q).await;
    let hb = JobHeartbeat::new(job.id.clone(), l.token);
    nf(s.job_heartbeat(&b, &hb).await.map(|_| ()), "heartbeat");
    nf(s.job_complete(&b, &done(&l)).await.map(|_| ()), "complete");
    nf(
        s.job_fail(&b, &fail(&l, FailOutcome::GiveUp))
            .await
            .map(|_| ()),
        "fail",
    );
    let list = JobList {
        page: PageRequest::first(50),
        ..Default::default()
    };
    assert!(s.job_list(&b, &list).await.unwrap().items.is_empty());
    assert_eq!(
        get(s, &a, &job.id).await.state,
        JobState::Running,
        "untouched"
    );
}

/// A lease across tenants serves the tenant with the fewest running jobs first: a tenant
/// with 200 older waiting jobs does not hold back another tenant's 3.
pub async fn fairness_across_tenants(s: &Store, c: &Time) {
    let (flood, small, q) = (
        TenantId::generate(),
        TenantId::generate(),
        fresh_queue("fair"),
    );
    for _ in 0..200 {
        add(s, &flood, enq(&q)).await;
    }
    c.advance(Duration::from_millis(1));
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(add(s, &small, enq(&q)).await.id);
    }
    let mut served = Vec::new();
    for _ in 0..6 {
        let got = s
            .job_lease(&lease_req(LeaseScope::AllTenants, &q, 1))
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        served.push(got[0].job.tenant.clone());
    }
    let small_served = served.iter().filter(|t| **t == small).count();
    assert_eq!(
        small_served, 3,
        "the small tenant alternates with the flood: {served:?}"
    );
    // One batch of 10 takes alternately too: the small tenant has none left, the flood 7.
    let batch = s
        .job_lease(&lease_req(LeaseScope::AllTenants, &q, 10))
        .await
        .unwrap();
    assert_eq!(batch.len(), 10);
    assert!(batch.iter().all(|l| l.job.tenant == flood));
    let left = lease(s, &small, &q, 10).await;
    assert!(
        left.is_empty(),
        "the small tenant's jobs were all leased already"
    );
}

/// With a per-tenant cap, no tenant gets more running jobs of the queue than the cap.
pub async fn per_tenant_running_cap(s: &Store, _c: &Time) {
    let (a, b, q) = (
        TenantId::generate(),
        TenantId::generate(),
        fresh_queue("cap"),
    );
    for _ in 0..5 {
        add(s, &a, enq(&q)).await;
        add(s, &b, enq(&q)).await;
    }
    let mut req = lease_req(LeaseScope::AllTenants, &q, 10);
    req.max_running_per_tenant = Some(2);
    let got = s.job_lease(&req).await.unwrap();
    let count = |t: &TenantId| got.iter().filter(|l| &l.job.tenant == t).count();
    assert_eq!((count(&a), count(&b)), (2, 2));
    assert!(
        s.job_lease(&req).await.unwrap().is_empty(),
        "both at the cap"
    );
    let first_a = got.iter().find(|l| l.job.tenant == a).unwrap();
    s.job_complete(&a, &done(first_a)).await.unwrap();
    let more = s.job_lease(&req).await.unwrap();
    assert_eq!(more.len(), 1);
    assert_eq!(
        more[0].job.tenant, a,
        "a slot freed for the tenant that finished one"
    );
}

/// Retention deletes finished jobs past their state's age, with their logs; others stay.
pub async fn prune_by_state(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("prune"));
    let completed = add(s, &t, enq(&q)).await;
    let l = lease_one(s, &t, &q).await;
    s.job_complete(&t, &done(&l)).await.unwrap();
    let dead = make_dead(s, &t, enq(&q)).await;
    let cancelled = add(s, &t, enq(&q)).await;
    s.job_cancel(&t, &cancelled.id).await.unwrap();
    let waiting = add(s, &t, enq(&q)).await;
    let mut prune = JobPrune {
        now_ms: c.now_ms() + 3_600_000,
        completed_ms: Some(3_600_000),
        dead_ms: None,
        cancelled_ms: Some(60_000),
        limit: 1_000,
    };
    s.job_prune(&prune).await.unwrap();
    assert!(
        s.job_get(&t, &completed.id).await.unwrap().is_some(),
        "not older than 1 h"
    );
    assert!(s.job_get(&t, &cancelled.id).await.unwrap().is_none());
    prune.now_ms += 1;
    s.job_prune(&prune).await.unwrap();
    assert!(s.job_get(&t, &completed.id).await.unwrap().is_none());
    let ev = JobEvents {
        id: completed.id.clone(),
        from: 0,
        limit: 10,
    };
    assert!(matches!(
        s.job_events(&t, &ev).await,
        Err(JobError::NotFound)
    ));
    assert_eq!(
        get(s, &t, &dead.id).await.state,
        JobState::Dead,
        "dead kept forever"
    );
    assert_eq!(get(s, &t, &waiting.id).await.state, JobState::Queued);
}

/// Listing is newest first, cursor-paginated, filtered by queue, kind, state and tag.
pub async fn list_paginates_and_filters(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("list"));
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut e = enq(&q);
        if i % 2 == 0 {
            e.tags = vec![Tag::parse("even").unwrap(), Tag::parse("x").unwrap()];
        }
        if i == 4 {
            e.kind = JobKind::parse("other.kind").unwrap();
        }
        ids.push(add(s, &t, e).await.id);
        c.advance(Duration::from_millis(1));
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = s
            .job_list(
                &t,
                &JobList {
                    page: page.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        seen.extend(got.items.iter().map(|j| j.id.clone()));
        match got.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every job once, newest first");
    let t = &t;
    let list = |filter: JobFilter| async move {
        let req = JobList {
            filter,
            page: PageRequest::first(50),
        };
        s.job_list(t, &req).await.unwrap().items.len()
    };
    let tag = |x: &str| Some(Tag::parse(x).unwrap());
    assert_eq!(
        list(JobFilter {
            tag: tag("even"),
            ..Default::default()
        })
        .await,
        3
    );
    assert_eq!(
        list(JobFilter {
            tag: tag("ev"),
            ..Default::default()
        })
        .await,
        0
    );
    let kind = Some(JobKind::parse("other.kind").unwrap());
    assert_eq!(
        list(JobFilter {
            kind,
            tag: tag("x"),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        list(JobFilter {
            queue: Some(q.clone()),
            state: Some(JobState::Queued),
            ..Default::default()
        })
        .await,
        5
    );
    assert_eq!(
        list(JobFilter {
            state: Some(JobState::Running),
            ..Default::default()
        })
        .await,
        0
    );
}

/// Oversized payloads and checkpoints, bad bounds: refused with the field named; nothing stored.
pub async fn bad_input_refused(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("bad"));
    let mut e = enq(&q);
    e.payload = json!("x".repeat(palisade_jobs::params::MAX_PAYLOAD_BYTES));
    match s.job_enqueue(&t, e).await {
        Err(JobError::TooLarge {
            field: "payload", ..
        }) => {}
        other => panic!("{other:?}"),
    }
    let mut e = enq(&q);
    e.max_attempts = 0;
    assert!(matches!(
        s.job_enqueue(&t, e).await,
        Err(JobError::Invalid(_))
    ));
    let list = JobList {
        page: PageRequest::first(50),
        ..Default::default()
    };
    assert!(
        s.job_list(&t, &list).await.unwrap().items.is_empty(),
        "nothing stored"
    );
    let job = add(s, &t, enq(&q)).await;
    let l = lease_one(s, &t, &q).await;
    let mut hb = JobHeartbeat::new(job.id.clone(), l.token);
    hb.checkpoint = Some(json!(
        "x".repeat(palisade_jobs::params::MAX_CHECKPOINT_BYTES)
    ));
    assert!(matches!(
        s.job_heartbeat(&t, &hb).await,
        Err(JobError::TooLarge {
            field: "checkpoint",
            ..
        })
    ));
    hb.checkpoint = None;
    hb.progress = Some(Progress {
        percent: Some(101),
        ..Default::default()
    });
    assert!(matches!(
        s.job_heartbeat(&t, &hb).await,
        Err(JobError::Invalid(_))
    ));
    let zero = lease_req(LeaseScope::Tenant(t.clone()), &q, 0);
    assert!(matches!(
        s.job_lease(&zero).await,
        Err(JobError::Invalid(_))
    ));
    assert_eq!(
        get(s, &t, &job.id).await.checkpoint,
        None,
        "refused heartbeat saved nothing"
    );
}

/// A waiting or finished job is deleted with its log (then 404 everywhere); a running one is
/// refused with `Running` and stays; another tenant's is `NotFound`.
pub async fn delete_waiting_and_finished_not_running(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("delete"));
    let waiting = add(s, &t, enq(&q)).await;
    let other = TenantId::generate();
    assert!(matches!(
        s.job_delete(&other, &waiting.id).await,
        Err(JobError::NotFound)
    ));
    let gone = s.job_delete(&t, &waiting.id).await.unwrap();
    assert_eq!(gone.id, waiting.id);
    assert!(s.job_get(&t, &waiting.id).await.unwrap().is_none());
    let ev = JobEvents {
        id: waiting.id.clone(),
        from: 0,
        limit: 10,
    };
    assert!(matches!(
        s.job_events(&t, &ev).await,
        Err(JobError::NotFound)
    ));
    assert!(matches!(
        s.job_delete(&t, &waiting.id).await,
        Err(JobError::NotFound)
    ));
    let job = add(s, &t, enq(&q)).await;
    let l = lease_one(s, &t, &q).await;
    assert!(matches!(
        s.job_delete(&t, &job.id).await,
        Err(JobError::Running)
    ));
    assert_eq!(get(s, &t, &job.id).await.state, JobState::Running);
    s.job_complete(&t, &done(&l)).await.unwrap();
    assert_eq!(
        s.job_delete(&t, &job.id).await.unwrap().state,
        JobState::Completed
    );
    assert!(s.job_get(&t, &job.id).await.unwrap().is_none());
}

/// Stats count the tenant's jobs of the queue per state (others' and other queues' apart)
/// and date the longest-waiting due job.
pub async fn stats_count_by_state_and_oldest_due(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("stats"));
    let empty = s.job_stats(&t, &q).await.unwrap();
    assert_eq!(empty.counts.len(), JobState::ALL.len());
    assert!(empty.counts.iter().all(|(_, n)| *n == 0) && empty.oldest_due_at_ms.is_none());
    let first = add(s, &t, enq(&q)).await;
    c.advance(Duration::from_millis(500));
    for _ in 0..2 {
        add(s, &t, enq(&q)).await;
    }
    let mut later = enq(&q);
    later.run_at_ms = Some(c.now_ms() + 60_000);
    add(s, &t, later).await;
    let l = lease_one(s, &t, &q).await;
    assert_eq!(l.job.id, first.id, "the oldest runs first");
    s.job_complete(&t, &done(&l)).await.unwrap();
    let l = lease_one(s, &t, &q).await;
    add(s, &TenantId::generate(), enq(&q)).await;
    add(s, &t, enq(&fresh_queue("stats-other"))).await;
    let st = s.job_stats(&t, &q).await.unwrap();
    assert_eq!(st.count(JobState::Queued), 1);
    assert_eq!(st.count(JobState::Scheduled), 1);
    assert_eq!(st.count(JobState::Running), 1);
    assert_eq!(st.count(JobState::Completed), 1);
    assert_eq!(st.count(JobState::Dead), 0);
    let waiting = s.job_get(&t, &l.job.id).await.unwrap().unwrap();
    assert_eq!(waiting.state, JobState::Running);
    assert_eq!(st.oldest_due_at_ms, Some(first.created_at_ms + 500));
    assert_eq!(st.now_ms, c.now_ms());
}

/// The created-time range of a listing: from inclusive, before exclusive.
pub async fn list_filters_by_created_time(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("list-time"));
    let mut jobs = Vec::new();
    for _ in 0..4 {
        jobs.push(add(s, &t, enq(&q)).await);
        c.advance(Duration::from_millis(10));
    }
    let at = |i: usize| jobs[i].created_at_ms;
    let req = JobList {
        filter: JobFilter {
            queue: Some(q.clone()),
            created_from_ms: Some(at(1)),
            created_before_ms: Some(at(3)),
            ..Default::default()
        },
        page: PageRequest::first(50),
    };
    let got: Vec<JobId> = s
        .job_list(&t, &req)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(got, vec![jobs[2].id.clone(), jobs[1].id.clone()]);
}

/// Stats count the queue's jobs completed and failed for good (dead) in the last 1, 5 and 15
/// minutes; jobs finished earlier, other queues' and other tenants' are not counted.
pub async fn stats_throughput_by_window(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("throughput"));
    let windows = |st: &palisade_jobs::QueueStats| -> Vec<(i64, u64, u64)> {
        st.throughput
            .iter()
            .map(|w| (w.window_ms, w.completed, w.failed))
            .collect()
    };
    let empty = s.job_stats(&t, &q).await.unwrap();
    assert_eq!(
        windows(&empty),
        [(60_000, 0, 0), (300_000, 0, 0), (900_000, 0, 0)]
    );
    for _ in 0..3 {
        add(s, &t, enq(&q)).await;
    }
    add(s, &TenantId::generate(), enq(&q)).await;
    let other_q = fresh_queue("throughput-other");
    add(s, &t, enq(&other_q)).await;
    let l = lease_one(s, &t, &other_q).await;
    s.job_complete(&t, &done(&l)).await.unwrap();
    let l = lease_one(s, &t, &q).await;
    s.job_complete(&t, &done(&l)).await.unwrap();
    c.advance(Duration::from_secs(4 * 60));
    let l = lease_one(s, &t, &q).await;
    s.job_complete(&t, &done(&l)).await.unwrap();
    let l = lease_one(s, &t, &q).await;
    s.job_fail(&t, &fail(&l, FailOutcome::GiveUp))
        .await
        .unwrap();
    let st = s.job_stats(&t, &q).await.unwrap();
    assert_eq!(
        windows(&st),
        [(60_000, 1, 1), (300_000, 2, 1), (900_000, 2, 1)],
        "the first completion is 4 minutes old"
    );
    assert_eq!(st.throughput[1].completed_per_minute(), 0.4);
    c.advance(Duration::from_secs(16 * 60));
    let old = s.job_stats(&t, &q).await.unwrap();
    assert_eq!(
        windows(&old),
        [(60_000, 0, 0), (300_000, 0, 0), (900_000, 0, 0)]
    );
}

fn keyed(q: &QueueName, key: Option<&str>) -> JobEnqueue {
    let mut e = enq(q);
    e.limit_key = key.map(|k| palisade_jobs::LimitKey::parse(k).unwrap());
    e
}

fn key_of(l: &Leased) -> String {
    l.job.limit_key_str().to_owned()
}

/// A per-key cap holds each limit key of a tenant (none named: the tenant's own) at that many
/// running jobs; a finished job frees a slot of its key only.
pub async fn per_key_running_cap(s: &Store, _c: &Time) {
    let (t, other, q) = (
        TenantId::generate(),
        TenantId::generate(),
        fresh_queue("key-cap"),
    );
    for key in [
        Some("a"),
        Some("a"),
        Some("a"),
        Some("b"),
        Some("b"),
        Some("b"),
        None,
        None,
    ] {
        add(s, &t, keyed(&q, key)).await;
    }
    for _ in 0..3 {
        add(s, &other, keyed(&q, Some("a"))).await;
    }
    let mut req = lease_req(LeaseScope::AllTenants, &q, 100);
    req.max_running_per_key = Some(2);
    let got = s.job_lease(&req).await.unwrap();
    let count = |got: &[Leased], t: &TenantId, k: &str| {
        got.iter()
            .filter(|l| &l.job.tenant == t && key_of(l) == k)
            .count()
    };
    assert_eq!(
        (
            count(&got, &t, "a"),
            count(&got, &t, "b"),
            count(&got, &t, "")
        ),
        (2, 2, 2)
    );
    assert_eq!(count(&got, &other, "a"), 2, "keys are per tenant");
    assert!(
        s.job_lease(&req).await.unwrap().is_empty(),
        "every key at its cap"
    );
    let a = got
        .iter()
        .find(|l| l.job.tenant == t && key_of(l) == "a")
        .unwrap();
    s.job_complete(&t, &done(a)).await.unwrap();
    let more = s.job_lease(&req).await.unwrap();
    assert_eq!(more.len(), 1);
    assert_eq!((&more[0].job.tenant, key_of(&more[0]).as_str()), (&t, "a"));
}

/// Admits one start of key `a`, none of any other key; counts the questions.
#[derive(Debug, Default)]
struct OneOfA {
    asked: std::sync::atomic::AtomicU32,
    admitted_a: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl palisade_jobs::LeaseGate for OneOfA {
    async fn admit(&self, job: &Job) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.asked.fetch_add(1, SeqCst);
        job.limit_key_str() == "a" && !self.admitted_a.swap(true, SeqCst)
    }
}

/// A lease with a gate takes only the jobs the gate admits (asking once per refused key);
/// the refused ones stay waiting, untouched, for a later lease.
pub async fn lease_gate_admits_by_key(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("gate"));
    let mut ids = Vec::new();
    for key in [Some("b"), Some("a"), Some("b"), Some("a")] {
        ids.push(add(s, &t, keyed(&q, key)).await.id);
    }
    let gate = Arc::new(OneOfA::default());
    let mut req = lease_req(LeaseScope::Tenant(t.clone()), &q, 10);
    req.gate = Some(gate.clone());
    let got = s.job_lease(&req).await.unwrap();
    assert_eq!(got.len(), 1, "one start of a admitted");
    assert_eq!(key_of(&got[0]), "a");
    assert_eq!(
        gate.asked.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "b asked once, a twice"
    );
    for id in &ids {
        let j = get(s, &t, id).await;
        if j.id != got[0].job.id {
            assert_eq!((j.state, j.attempt, j.events), (JobState::Queued, 0, 1));
        }
    }
    assert!(
        s.job_lease(&req).await.unwrap().is_empty(),
        "nothing more admitted"
    );
    req.gate = None;
    assert_eq!(
        s.job_lease(&req).await.unwrap().len(),
        3,
        "the refused jobs wait on"
    );
}

/// Every way a running job stops (complete, fail to retry, give up, release, cancel, rescue)
/// frees exactly its slot under the per-tenant and per-key caps, and asking to cancel alone
/// frees none: a store that keeps running counts fails here when one drifts (a count not
/// lowered leaves the slot taken, one lowered twice lets a lease past the cap).
pub async fn running_caps_exact_after_every_stop(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("counts"));
    for _ in 0..12 {
        add(s, &t, keyed(&q, Some("a"))).await;
    }
    let mut req = lease_req(LeaseScope::AllTenants, &q, 10);
    req.max_running_per_tenant = Some(2);
    req.max_running_per_key = Some(2);
    let take = |n: usize, after: &'static str| {
        let req = req.clone();
        async move {
            let got = s.job_lease(&req).await.unwrap();
            assert_eq!(got.len(), n, "leased after {after}");
            let more = s.job_lease(&req).await.unwrap();
            assert!(more.is_empty(), "over the cap after {after}");
            got
        }
    };
    let mut running = take(2, "the first lease").await;
    let l = running.remove(0);
    s.job_complete(&t, &done(&l)).await.unwrap();
    running.extend(take(1, "complete").await);
    let l = running.remove(0);
    s.job_fail(&t, &fail(&l, FailOutcome::Backoff))
        .await
        .unwrap();
    running.extend(take(1, "fail to retry").await);
    let l = running.remove(0);
    s.job_fail(&t, &fail(&l, FailOutcome::GiveUp))
        .await
        .unwrap();
    running.extend(take(1, "give up").await);
    let l = running.remove(0);
    s.job_release(
        &t,
        &JobRelease {
            id: l.job.id.clone(),
            token: l.token,
        },
    )
    .await
    .unwrap();
    running.extend(take(1, "release").await);
    let l = running.remove(0);
    assert!(matches!(
        s.job_cancel(&t, &l.job.id).await.unwrap(),
        Cancelled::Requested(_)
    ));
    assert!(
        s.job_lease(&req).await.unwrap().is_empty(),
        "a cancel request alone frees no slot"
    );
    let end = s
        .job_fail(&t, &fail(&l, FailOutcome::Backoff))
        .await
        .unwrap();
    assert_eq!(end.state, JobState::Cancelled);
    running.extend(take(1, "cancel").await);
    c.advance(Duration::from_millis(10_001));
    let rescued = s
        .job_rescue(&JobRescue {
            now_ms: c.now_ms(),
            limit: 1_000,
        })
        .await
        .unwrap();
    assert!(rescued.total() >= 2, "{rescued:?}");
    take(2, "rescue").await;
}

/// A lease across tenants ranks each due job after its tenant's running jobs over the whole
/// page, not just an even share: with 10 to take, a tenant with none running and one with 5
/// running (both with 20 waiting, the first's older) get 8 and 2 (ranks 1–8 and 6–7).
pub async fn fairness_counts_running_jobs_past_the_first_share(s: &Store, c: &Time) {
    let (idle, busy, q) = (
        TenantId::generate(),
        TenantId::generate(),
        fresh_queue("fair-deep"),
    );
    for _ in 0..20 {
        add(s, &idle, enq(&q)).await;
    }
    c.advance(Duration::from_millis(1));
    for _ in 0..25 {
        add(s, &busy, enq(&q)).await;
    }
    assert_eq!(lease(s, &busy, &q, 5).await.len(), 5);
    let got = s
        .job_lease(&lease_req(LeaseScope::AllTenants, &q, 10))
        .await
        .unwrap();
    let count = |t: &TenantId| got.iter().filter(|l| &l.job.tenant == t).count();
    assert_eq!((count(&idle), count(&busy)), (8, 2));
}

/// A batch of completions answers each one as `job_complete` would, in order: a stale token
/// is refused and another tenant's job is not found, and neither stops the others; the
/// refused jobs stay as they were.
pub async fn complete_many_checks_each_token(s: &Store, _c: &Time) {
    let (t, other, q) = (
        TenantId::generate(),
        TenantId::generate(),
        fresh_queue("complete-many"),
    );
    for _ in 0..3 {
        add(s, &t, enq(&q)).await;
    }
    let got = lease(s, &t, &q, 3).await;
    assert_eq!(got.len(), 3);
    let stale = JobComplete {
        id: got[1].job.id.clone(),
        token: got[1].token + 1,
    };
    let reqs = vec![
        (t.clone(), done(&got[0])),
        (t.clone(), stale),
        (other.clone(), done(&got[2])),
        (t.clone(), done(&got[2])),
    ];
    let out = s.job_complete_many(&reqs).await;
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].as_ref().unwrap().state, JobState::Completed);
    assert!(matches!(out[1], Err(JobError::LeaseLost)), "{:?}", out[1]);
    assert!(matches!(out[2], Err(JobError::NotFound)), "{:?}", out[2]);
    assert_eq!(out[3].as_ref().unwrap().id, got[2].job.id);
    let states: Vec<JobState> = {
        let mut v = Vec::new();
        for l in &got {
            v.push(get(s, &t, &l.job.id).await.state);
        }
        v
    };
    assert_eq!(
        states,
        [JobState::Completed, JobState::Running, JobState::Completed]
    );
    s.job_complete(&t, &done(&got[1])).await.unwrap();
}

fn unique_n(q: &QueueName, key: &str, n: i64) -> JobEnqueue {
    let mut e = enq(q);
    e.payload = json!({ "n": n });
    e.unique = Some(UniqueSpec {
        key: key.into(),
        states: UniqueStates::UNFINISHED,
        period_ms: None,
    });
    e
}

async fn count(s: &Store, t: &TenantId) -> usize {
    let list = JobList {
        page: PageRequest::first(200),
        ..Default::default()
    };
    s.job_list(t, &list).await.unwrap().items.len()
}

/// A batch answers one entry per request in request order: new jobs, and duplicates of an
/// existing job or of an earlier request of the batch; a refused request (named by index) or
/// an empty batch enqueues nothing.
pub async fn enqueue_many_answers_in_order(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("many"));
    let held = add(s, &t, unique_n(&q, "held", 0)).await;
    let mut plain = enq(&q);
    plain.payload = json!({ "n": 1 });
    let mut last = enq(&q);
    last.payload = json!({ "n": 5 });
    let batch = vec![
        plain,
        unique_n(&q, "held", 2),
        unique_n(&q, "new", 3),
        unique_n(&q, "new", 4),
        last,
    ];
    let out = s.job_enqueue_many(&t, batch).await.unwrap();
    let dups: Vec<bool> = out.iter().map(|d| d.duplicate).collect();
    assert_eq!(dups, [false, true, false, true, false]);
    assert_eq!(out[1].job.id, held.id);
    assert_eq!(
        out[3].job.id, out[2].job.id,
        "the batch's first holder wins"
    );
    for i in [0, 2, 4] {
        assert_eq!(
            out[i].job.payload,
            json!({ "n": i + 1 }),
            "entry {i} in order"
        );
        assert_eq!(get(s, &t, &out[i].job.id).await.state, JobState::Queued);
    }
    assert_eq!(count(s, &t).await, 4);
    assert_eq!(lease(s, &t, &q, 10).await.len(), 4, "every new job is due");

    let mut bad = enq(&q);
    bad.max_attempts = 0;
    let refused = s.job_enqueue_many(&t, vec![enq(&q), bad]).await;
    match refused {
        Err(JobError::Invalid(f)) => assert_eq!(f[0].field, "jobs[1].max_attempts"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.job_enqueue_many(&t, Vec::new()).await,
        Err(JobError::Invalid(_))
    ));
    assert_eq!(count(s, &t).await, 4, "a refused batch enqueues nothing");
}

/// Batches sharing unique keys in opposite orders, at once: one job per key, no deadlock.
pub async fn concurrent_batches_make_one_job_per_key(s: &Store, _c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("many-race"));
    let tasks: Vec<_> = (0..8)
        .map(|b| {
            let (s, t) = (s.clone(), t.clone());
            let mut batch: Vec<JobEnqueue> =
                (0..20).map(|k| unique_n(&q, &format!("k{k}"), k)).collect();
            if b % 2 == 1 {
                batch.reverse();
            }
            tokio::spawn(async move { s.job_enqueue_many(&t, batch).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let out = task.await.unwrap().unwrap();
        assert_eq!(out.len(), 20);
        created += out.iter().filter(|d| !d.duplicate).count();
    }
    assert_eq!(created, 20, "each key created once");
    assert_eq!(count(s, &t).await, 20);
}

/// What a lease and a batch of completions answer is what the store then holds, job by job,
/// with their events (the stores write batches in few statements).
pub async fn stored_jobs_match_what_lease_and_complete_answer(s: &Store, c: &Time) {
    let (t, q) = (TenantId::generate(), fresh_queue("saved"));
    for n in 0..5 {
        let mut e = enq(&q);
        e.payload = json!({ "n": n });
        e.lease_ms = 10_000 + n * 1_000;
        add(s, &t, e).await;
    }
    c.advance(Duration::from_millis(5));
    let got = lease(s, &t, &q, 5).await;
    assert_eq!(got.len(), 5);
    for l in &got {
        assert_eq!(get(s, &t, &l.job.id).await, l.job, "leased as answered");
        assert_eq!(l.job.lease_expires_at_ms, Some(c.now_ms() + l.job.lease_ms));
    }
    c.advance(Duration::from_millis(5));
    let reqs: Vec<(TenantId, JobComplete)> = got.iter().map(|l| (t.clone(), done(l))).collect();
    let out = s.job_complete_many(&reqs).await;
    for (l, o) in got.iter().zip(&out) {
        let o = o.as_ref().unwrap();
        assert_eq!(&get(s, &t, &l.job.id).await, o, "completed as answered");
        let k = kinds(s, &t, &l.job.id, 0).await;
        assert_eq!(
            k,
            [
                JobEventKind::Enqueued,
                JobEventKind::Started,
                JobEventKind::Completed
            ]
        );
    }
}
