//! The lease's due-job lookup uses the partial index `jobs_due` on SQLite.

use palisade_core::TenantId;
use palisade_jobs::{JobEnqueue, JobKind, JobStore, LeaseScope, QueueName};
use sqlx::Row;

/// With 20,000 finished jobs and a few due ones, the plan of the lease searches `jobs_due`
/// and never scans the whole `jobs` table.
#[tokio::test]
async fn lease_uses_the_due_index() {
    let s = crate::common::store().await;
    sqlx::query(
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000)
         INSERT INTO jobs (id, tenant_id, queue, kind, payload, priority, state, run_at_ms,
             attempt, max_attempts, timeout_ms, lease_ms, backoff, tags, unique_states,
             lease_token, cancel_requested, created_at_ms, updated_at_ms, finished_at_ms, events)
         SELECT printf('job_%024x', n), 'ten_' || (n % 50), 'q' || (n % 10), 'k',
             '{}', 5, 'completed', n, 1, 1, 1000, 1000, '{}', '[]', 63, 1, 0, n, n, n, 0
         FROM g",
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
    sqlx::query("ANALYZE").execute(s.pool()).await.unwrap();
    for scope in [LeaseScope::AllTenants, LeaseScope::Tenant(t.clone())] {
        let sql = palisade_store_sql::job_lease_sql::<sqlx::Sqlite>(&scope);
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query(&explain)
            .bind("q1")
            .bind(i64::MAX)
            .bind(i64::MAX)
            .bind(10i64);
        if let LeaseScope::Tenant(t) = &scope {
            q = q.bind(t.as_str());
        }
        let rows = q.fetch_all(s.pool()).await.unwrap();
        let details: Vec<String> = rows.iter().map(|r| r.get("detail")).collect();
        let text = details.join("\n");
        assert!(
            text.contains("INDEX jobs_due"),
            "due lookup without its index:\n{text}"
        );
        let full_scan = text.lines().any(|l| l.trim() == "SCAN jobs");
        assert!(!full_scan, "a full scan of jobs:\n{text}");
    }
}
