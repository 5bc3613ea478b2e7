//! The running counts PostgreSQL keeps for the lease (`job_running_tenants`,
//! `job_running_keys`) equal the running jobs after every kind of start and stop.

use palisade_core::TenantId;
use palisade_jobs::{
    FailOutcome, JobComplete, JobEnqueue, JobFail, JobKind, JobLease, JobRelease, JobRescue,
    JobRetry, JobStore, LeaseScope, LimitKey, QueueName, WorkerId,
};
use palisade_store_postgres::PgStore;

/// The counter rows that differ from a `count(*)` of the running jobs (both ways), by table.
async fn drift(s: &PgStore) -> Vec<String> {
    let sql = "
        SELECT 'tenants' AS t, queue, tenant_id, '' AS limit_key, n FROM (
            SELECT queue, tenant_id, sum(n)::bigint AS n FROM (
                SELECT queue, tenant_id, n FROM job_running_tenants
                UNION ALL
                SELECT queue, tenant_id, -count(*) FROM jobs WHERE state = 'running'
                GROUP BY queue, tenant_id) x GROUP BY queue, tenant_id) d WHERE n <> 0
        UNION ALL
        SELECT 'keys', queue, tenant_id, limit_key, n FROM (
            SELECT queue, tenant_id, limit_key, sum(n)::bigint AS n FROM (
                SELECT queue, tenant_id, limit_key, n FROM job_running_keys
                UNION ALL
                SELECT queue, tenant_id, coalesce(limit_key, ''), -count(*) FROM jobs
                WHERE state = 'running' GROUP BY queue, tenant_id, coalesce(limit_key, '')) x
            GROUP BY queue, tenant_id, limit_key) d WHERE n <> 0";
    let rows: Vec<(String, String, String, String, i64)> =
        sqlx::query_as(sql).fetch_all(s.pool()).await.unwrap();
    rows.iter().map(|r| format!("{r:?}")).collect()
}

/// A mixed workload over three tenants and three limit keys — leases (capped and not, all
/// tenants and one), completions, failures to retry and to dead, releases, cancels of running
/// jobs, rescues of expired leases, re-drives and deletes — checked after every step.
#[tokio::test]
async fn running_counts_match_the_running_jobs() {
    let Some(s) = crate::common::store("running_counts_match_the_running_jobs").await else {
        return;
    };
    let q = QueueName::parse("counts").unwrap();
    let tenants: Vec<TenantId> = (0..3).map(|_| TenantId::generate()).collect();
    for (i, t) in tenants.iter().enumerate() {
        for k in 0..12 {
            let mut e = JobEnqueue::new(
                q.clone(),
                JobKind::parse("k").unwrap(),
                serde_json::json!({}),
            );
            e.limit_key = match (i + k) % 3 {
                0 => None,
                n => Some(LimitKey::parse(&format!("key-{n}")).unwrap()),
            };
            e.max_attempts = 2;
            s.job_enqueue(t, e).await.unwrap();
        }
    }
    let worker = WorkerId::parse("w").unwrap();
    let lease = |scope: LeaseScope, limit: u32, cap: Option<u32>, key_cap: Option<u32>| JobLease {
        scope,
        queue: q.clone(),
        worker: worker.clone(),
        limit,
        max_running_per_tenant: cap,
        max_running_per_key: key_cap,
        gate: None,
    };
    for round in 0..4 {
        let mut running = Vec::new();
        for req in [
            lease(LeaseScope::AllTenants, 5, None, None),
            lease(LeaseScope::AllTenants, 10, Some(4), Some(2)),
            lease(
                LeaseScope::Tenant(tenants[round % 3].clone()),
                3,
                None,
                None,
            ),
        ] {
            running.extend(s.job_lease(&req).await.unwrap());
            assert_eq!(
                drift(&s).await,
                Vec::<String>::new(),
                "after a lease, round {round}"
            );
        }
        assert!(!running.is_empty(), "round {round} leased nothing");
        for (i, l) in running.iter().enumerate() {
            let (t, id, token) = (&l.job.tenant, l.job.id.clone(), l.token);
            let what = match i % 6 {
                0 => s
                    .job_complete(t, &JobComplete { id, token })
                    .await
                    .map(|_| "complete"),
                1 => s
                    .job_fail(
                        t,
                        &JobFail {
                            id,
                            token,
                            error: "x".into(),
                            outcome: FailOutcome::RetryAt(0),
                        },
                    )
                    .await
                    .map(|_| "fail"),
                2 => s
                    .job_fail(
                        t,
                        &JobFail {
                            id,
                            token,
                            error: "x".into(),
                            outcome: FailOutcome::GiveUp,
                        },
                    )
                    .await
                    .map(|_| "give up"),
                3 => s
                    .job_release(t, &JobRelease { id, token })
                    .await
                    .map(|_| "release"),
                4 => {
                    s.job_cancel(t, &id).await.unwrap();
                    let fail = JobFail {
                        id,
                        token,
                        error: "x".into(),
                        outcome: FailOutcome::Backoff,
                    };
                    s.job_fail(t, &fail).await.map(|_| "cancel")
                }
                _ => Ok("left running"),
            }
            .unwrap();
            assert_eq!(
                drift(&s).await,
                Vec::<String>::new(),
                "after {what}, round {round}"
            );
        }
        let rescue = JobRescue {
            now_ms: i64::MAX / 2,
            limit: 1_000,
        };
        s.job_rescue(&rescue).await.unwrap();
        assert_eq!(
            drift(&s).await,
            Vec::<String>::new(),
            "after rescue, round {round}"
        );
        for t in &tenants {
            let dead = JobRetry::Dead {
                filter: Default::default(),
                limit: 100,
            };
            s.job_retry(t, &dead).await.unwrap();
        }
        assert_eq!(
            drift(&s).await,
            Vec::<String>::new(),
            "after re-drive, round {round}"
        );
    }
    // A batch of completions (one transaction) lowers the counts once for all its jobs.
    let batch = s
        .job_lease(&lease(LeaseScope::AllTenants, 6, None, None))
        .await
        .unwrap();
    assert!(batch.len() > 1, "a batch to complete");
    let reqs: Vec<_> = batch
        .iter()
        .map(|l| {
            let c = JobComplete {
                id: l.job.id.clone(),
                token: l.token,
            };
            (l.job.tenant.clone(), c)
        })
        .collect();
    assert!(s.job_complete_many(&reqs).await.iter().all(|r| r.is_ok()));
    assert_eq!(
        drift(&s).await,
        Vec::<String>::new(),
        "after a batch of completions"
    );
    // A running job cannot be deleted; a deleted waiting one was never counted.
    let l = s
        .job_lease(&lease(LeaseScope::AllTenants, 1, None, None))
        .await
        .unwrap();
    assert!(s.job_delete(&l[0].job.tenant, &l[0].job.id).await.is_err());
    let l2 = s
        .job_lease(&lease(LeaseScope::AllTenants, 1, None, None))
        .await
        .unwrap();
    let rel = JobRelease {
        id: l2[0].job.id.clone(),
        token: l2[0].token,
    };
    s.job_release(&l2[0].job.tenant, &rel).await.unwrap();
    s.job_delete(&l2[0].job.tenant, &l2[0].job.id)
        .await
        .unwrap();
    assert_eq!(drift(&s).await, Vec::<String>::new(), "after delete");
    let running: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'running'")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert!(running > 0, "the check saw running jobs at the end");
}

/// Migration 0071 moves webhook deliveries left on their former queue `webhooks` (one of them
/// running) to `palisade.webhooks` with the running counts, and leaves a tenant's own jobs of
/// a queue named `webhooks` where they are.
#[tokio::test]
async fn migration_0071_moves_deliveries_to_the_reserved_queue() {
    let Some(s) = crate::common::store("migration_0071_moves_deliveries").await else {
        return;
    };
    let t = TenantId::generate();
    let old = QueueName::parse("webhooks").unwrap();
    let job = |kind: &str| {
        JobEnqueue::new(
            old.clone(),
            JobKind::parse(kind).unwrap(),
            serde_json::json!({}),
        )
    };
    let running = s.job_enqueue(&t, job("webhook.deliver")).await.unwrap().job;
    let lease = JobLease {
        scope: LeaseScope::Tenant(t.clone()),
        queue: old.clone(),
        worker: WorkerId::parse("w").unwrap(),
        limit: 1,
        max_running_per_tenant: None,
        max_running_per_key: None,
        gate: None,
    };
    let leased = s.job_lease(&lease).await.unwrap();
    assert_eq!(leased[0].job.id, running.id);
    let waiting = s.job_enqueue(&t, job("webhook.deliver")).await.unwrap().job;
    let own = s.job_enqueue(&t, job("email.send")).await.unwrap().job;
    sqlx::raw_sql(include_str!(
        "../../migrations/0071_jobs_reserved_queues.sql"
    ))
    .execute(s.pool())
    .await
    .unwrap();
    let queue = |id| {
        let (s, t) = (&s, &t);
        async move { s.job_get(t, id).await.unwrap().unwrap().queue.to_string() }
    };
    assert_eq!(queue(&running.id).await, "palisade.webhooks");
    assert_eq!(queue(&waiting.id).await, "palisade.webhooks");
    assert_eq!(queue(&own.id).await, "webhooks", "a tenant's own job stays");
    assert!(drift(&s).await.is_empty(), "{:?}", drift(&s).await);
    let done = JobComplete {
        id: running.id.clone(),
        token: leased[0].token,
    };
    s.job_complete(&t, &done).await.unwrap();
    assert!(drift(&s).await.is_empty(), "{:?}", drift(&s).await);
}
