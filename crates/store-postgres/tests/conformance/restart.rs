//! The pool after a server restart: once the restarted server is up, the next queries all
//! succeed — none is handed a connection that died with the old server (the pool pings only
//! connections idle for a second or more; a busy one is handed out without a round trip).

use palisade_store_postgres::{PgOptions, PgStore};
use palisade_testkit::own_postgres::OwnPostgres;
use std::time::Duration;

#[tokio::test]
async fn after_a_restart_the_next_queries_all_succeed() {
    let test = "after_a_restart_the_next_queries_all_succeed";
    let Some(pg) = OwnPostgres::start_or_skip(test) else {
        return;
    };
    let mut opts = PgOptions::new(pg.url());
    opts.max_connections = Some(4);
    let store = PgStore::connect(&opts).await.unwrap();
    let one = || sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(store.pool());
    // Open every connection of the pool, then let them all sit idle across a restart.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(store.pool().acquire().await.unwrap());
    }
    drop(held);
    assert_eq!(store.pool().size(), 4);
    pg.stop("immediate");
    pg.start();
    pg.wait_ready(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for i in 0..8 {
        assert_eq!(one().await.unwrap_or_else(|e| panic!("query {i}: {e}")), 1);
    }
}
