//! Transactional enqueue on PostgreSQL: through the Rust API inside the caller's
//! `sqlx::Transaction`, and through the `palisade_job_enqueue` SQL function: the job exists
//! if and only if the caller's transaction commits.

use palisade_core::TenantId;
use palisade_jobs::{
    JobEnqueue, JobId, JobKind, JobLease, JobState, JobStore, LeaseScope, QueueName, UniqueSpec,
    UniqueStates, WorkerConfig,
};
use palisade_store_postgres::{PgOptions, PgStore};

async fn store(test: &str) -> Option<PgStore> {
    let url = palisade_testkit::backends::postgres_or_skip(test).await?;
    let mut opts = PgOptions::new(url);
    opts.schema = Some(palisade_testkit::backends::unique("jtx"));
    opts.max_connections = Some(4);
    let s = PgStore::connect(&opts).await.unwrap();
    s.migrate().await.unwrap();
    Some(s)
}

fn req() -> JobEnqueue {
    let q = QueueName::parse("mail").unwrap();
    JobEnqueue::new(
        q,
        JobKind::parse("send").unwrap(),
        serde_json::json!({"order": 42}),
    )
}

async fn orders(s: &PgStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(s.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn rust_enqueue_in_a_transaction_exists_iff_committed() {
    let Some(s) = store("rust_enqueue_in_a_transaction_exists_iff_committed").await else {
        return;
    };
    sqlx::query("CREATE TABLE orders (id BIGINT PRIMARY KEY)")
        .execute(s.pool())
        .await
        .unwrap();
    let tenant = TenantId::generate();
    let mut tx = s.pool().begin().await.unwrap();
    sqlx::query("INSERT INTO orders VALUES (1)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let rolled = s
        .job_enqueue_in(&mut tx, &tenant, req())
        .await
        .unwrap()
        .job
        .id;
    tx.rollback().await.unwrap();
    assert!(
        s.job_get(&tenant, &rolled).await.unwrap().is_none(),
        "job outlived a rollback"
    );
    assert_eq!(orders(&s).await, 0);

    let mut tx = s.pool().begin().await.unwrap();
    sqlx::query("INSERT INTO orders VALUES (2)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut r = req();
    r.unique = Some(UniqueSpec {
        key: "order-2".into(),
        states: UniqueStates::ALL,
        period_ms: None,
    });
    let kept = s.job_enqueue_in(&mut tx, &tenant, r.clone()).await.unwrap();
    let again = s.job_enqueue_in(&mut tx, &tenant, r).await.unwrap();
    assert!(!kept.duplicate && again.duplicate && again.job.id == kept.job.id);
    assert!(
        s.job_get(&tenant, &kept.job.id).await.unwrap().is_none(),
        "visible before commit"
    );
    tx.commit().await.unwrap();
    let job = s
        .job_get(&tenant, &kept.job.id)
        .await
        .unwrap()
        .expect("committed job");
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(orders(&s).await, 1);
}

#[tokio::test]
async fn rust_enqueue_in_a_transaction_checks_its_input() {
    let Some(s) = store("rust_enqueue_in_a_transaction_checks_its_input").await else {
        return;
    };
    let mut tx = s.pool().begin().await.unwrap();
    let mut r = req();
    r.max_attempts = 0;
    let e = s
        .job_enqueue_in(&mut tx, &TenantId::generate(), r)
        .await
        .unwrap_err();
    let palisade_jobs::JobError::Invalid(errs) = e else {
        panic!("not invalid: {e:?}");
    };
    assert_eq!(errs[0].field, "max_attempts");
}

async fn sql_enqueue(
    tx: &mut sqlx::PgConnection,
    tenant: &TenantId,
    key: Option<&str>,
) -> (String, bool) {
    sqlx::query_as(
        "SELECT job_id, duplicate FROM palisade_job_enqueue($1, 'mail', 'send',
            '{\"order\": 7}'::jsonb, p_unique_key => $2, p_tags => ARRAY['sql'])",
    )
    .bind(tenant.as_str())
    .bind(key)
    .fetch_one(tx)
    .await
    .unwrap()
}

#[tokio::test]
async fn sql_function_enqueue_exists_iff_committed_and_runs() {
    let Some(s) = store("sql_function_enqueue_exists_iff_committed_and_runs").await else {
        return;
    };
    let tenant = TenantId::generate();
    let mut tx = s.pool().begin().await.unwrap();
    let (rolled, _) = sql_enqueue(&mut tx, &tenant, None).await;
    tx.rollback().await.unwrap();
    let rolled = JobId::parse(&rolled).expect("a job id the Rust model accepts");
    assert!(
        s.job_get(&tenant, &rolled).await.unwrap().is_none(),
        "job outlived a rollback"
    );

    let mut tx = s.pool().begin().await.unwrap();
    let (id, dup) = sql_enqueue(&mut tx, &tenant, Some("order-7")).await;
    let (id2, dup2) = sql_enqueue(&mut tx, &tenant, Some("order-7")).await;
    assert!(
        !dup && dup2 && id == id2,
        "the unique key made a second job"
    );
    tx.commit().await.unwrap();
    let id = JobId::parse(&id).unwrap();
    let job = s
        .job_get(&tenant, &id)
        .await
        .unwrap()
        .expect("the committed job reads back");
    assert_eq!(
        (job.state, job.payload["order"].as_i64()),
        (JobState::Queued, Some(7))
    );
    assert_eq!(
        job.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        ["sql"]
    );
    let lease = JobLease {
        scope: LeaseScope::AllTenants,
        queue: QueueName::parse("mail").unwrap(),
        worker: WorkerConfig::new(QueueName::parse("mail").unwrap()).id,
        limit: 10,
        max_running_per_tenant: None,
        max_running_per_key: None,
        gate: None,
    };
    let leased = s.job_lease(&lease).await.unwrap();
    assert_eq!(
        leased.len(),
        1,
        "a Rust worker cannot lease the SQL-enqueued job"
    );
    let events = s
        .job_events(
            &tenant,
            &palisade_jobs::JobEvents {
                id,
                from: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "enqueued + started");
}

#[tokio::test]
async fn sql_function_refuses_bad_input_naming_the_argument() {
    let Some(s) = store("sql_function_refuses_bad_input_naming_the_argument").await else {
        return;
    };
    let r = sqlx::query(
        "SELECT * FROM palisade_job_enqueue('ten_1', 'mail', 'send', p_priority => 12)",
    )
    .execute(s.pool())
    .await
    .unwrap_err();
    let db = r.as_database_error().expect("a database error");
    assert_eq!(db.code().as_deref(), Some("22023"));
    assert!(
        db.message().contains("p_priority") && !db.message().contains("12"),
        "{}",
        db.message()
    );
    let r = sqlx::query("SELECT * FROM palisade_job_enqueue('bad tenant!', 'mail', 'send')")
        .execute(s.pool())
        .await
        .unwrap_err();
    assert!(r
        .as_database_error()
        .unwrap()
        .message()
        .contains("p_tenant"));
}
