//! The lease's due-job lookup uses the partial index `jobs_due` on PostgreSQL.

use palisade_core::TenantId;
use palisade_jobs::{JobEnqueue, JobKind, JobStore, LeaseScope, QueueName};

/// With 20,000 finished jobs and a few due ones, the plan of the lease reads `jobs_due` and
/// never scans the whole table.
#[tokio::test]
async fn lease_uses_the_due_index() {
    let Some(s) = crate::common::store("lease_uses_the_due_index").await else {
        return;
    };
    sqlx::query(
        "INSERT INTO jobs (id, tenant_id, queue, kind, payload, priority, state, run_at_ms,
             attempt, max_attempts, timeout_ms, lease_ms, backoff, tags, unique_states,
             lease_token, cancel_requested, created_at_ms, updated_at_ms, finished_at_ms, events)
         SELECT 'job_' || lpad(to_hex(g), 24, '0'), 'ten_' || (g % 50), 'q' || (g % 10), 'k',
             '{}', 5, 'completed', g, 1, 1, 1000, 1000, '{}', '[]', 63, 1, false, g, g, g, 0
         FROM generate_series(1, 20000) g",
    )
    .execute(s.pool())
    .await
    .unwrap();
    let t = TenantId::generate();
    let q = QueueName::parse("q1").unwrap();
    for _ in 0..20 {
        let e = JobEnqueue::new(
            q.clone(),
            JobKind::parse("k").unwrap(),
            serde_json::json!({}),
        );
        s.job_enqueue(&t, e).await.unwrap();
    }
    sqlx::query("ANALYZE jobs").execute(s.pool()).await.unwrap();
    for scope in [LeaseScope::AllTenants, LeaseScope::Tenant(t.clone())] {
        let sql = palisade_store_sql::job_lease_sql::<sqlx::Postgres>(&scope);
        let explain = format!("EXPLAIN {sql}");
        let mut q = sqlx::query_scalar::<_, String>(&explain)
            .bind("q1")
            .bind(i64::MAX)
            .bind(i64::MAX)
            .bind(10i64);
        if let LeaseScope::Tenant(t) = &scope {
            q = q.bind(t.as_str());
        }
        let text = q.fetch_all(s.pool()).await.unwrap().join("\n");
        assert!(
            text.contains("jobs_due"),
            "due lookup without its index:\n{text}"
        );
        assert!(
            !text.contains("Seq Scan on jobs"),
            "a full scan of jobs:\n{text}"
        );
    }
}
