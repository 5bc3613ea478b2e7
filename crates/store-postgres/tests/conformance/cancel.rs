//! A store call dropped while its transaction opens (a client gone, a timeout) leaves no
//! transaction open on the pooled connection: the next borrower's statements run in autocommit,
//! so what it writes is committed. (sqlx 0.8.6 leaves the `BEGIN` of a cancelled `begin_with`
//! open: launchbadge/sqlx#4393.)

use palisade_jobs::{JobEnqueue, JobKind, JobStore, QueueName};
use palisade_store_postgres::{PgOptions, PgStore};
use std::time::Duration;

#[tokio::test]
async fn a_call_dropped_while_its_transaction_opens_leaves_no_transaction_open() {
    let test = "a_call_dropped_while_its_transaction_opens_leaves_no_transaction_open";
    let Some(url) = palisade_testkit::backends::postgres_or_skip(test).await else {
        return;
    };
    let mut opts = PgOptions::new(url);
    opts.schema = Some(palisade_testkit::backends::unique("c"));
    opts.max_connections = Some(1); // every call gets the one connection the last one used
    let s = PgStore::connect(&opts).await.unwrap();
    s.migrate().await.unwrap();
    let elsewhere = PgStore::connect(&opts).await.unwrap();
    sqlx::query("CREATE TABLE probe (i BIGINT)")
        .execute(s.pool())
        .await
        .unwrap();
    let tenant = palisade_core::TenantId::generate();
    let req = JobEnqueue::new(
        QueueName::parse("q").unwrap(),
        JobKind::parse("k").unwrap(),
        serde_json::json!({}),
    );
    for i in 0..200i64 {
        // cut the call at varying points: before, during and after its BEGIN round trip
        let cut = Duration::from_micros(i as u64 % 20 * 25);
        let _ = tokio::time::timeout(cut, s.job_enqueue(&tenant, req.clone())).await;
        // an autocommit write on the same connection is seen from another one at once
        sqlx::query("INSERT INTO probe (i) VALUES ($1)")
            .bind(i)
            .execute(s.pool())
            .await
            .unwrap();
        let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM probe WHERE i = $1")
            .bind(i)
            .fetch_one(elsewhere.pool())
            .await
            .unwrap();
        assert_eq!(
            seen, 1,
            "call {i} left a transaction open: the next write was not committed"
        );
    }
}
