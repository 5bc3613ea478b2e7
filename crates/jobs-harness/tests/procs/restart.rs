//! A private PostgreSQL cluster restarted under enqueue + work load: no acknowledged enqueue
//! is lost and no job is completed twice.

use crate::common::{now_ms, Target};
use palisade_jobs::{rescue_step, JobId, JobState};
use palisade_jobs_harness::{db, Backend};
use palisade_testkit::own_postgres::OwnPostgres;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load_loses_nothing_and_runs_nothing_twice() {
    let test = "postgres_restart_under_load_loses_nothing_and_runs_nothing_twice";
    let Some(pg) = OwnPostgres::start_or_skip(test) else {
        return;
    };
    let schema = palisade_testkit::backends::unique("jr");
    let o = db::open(Backend::Postgres, &pg.url(), Some(&schema), 8, true)
        .await
        .unwrap();
    let t = Arc::new(Target {
        backend: Backend::Postgres,
        url: pg.url(),
        schema: Some(schema),
        store: o.store,
        db: o.db,
        tenant: palisade_core::TenantId::generate(),
    });
    let _workers = [t.worker(&["--id", "wkr_r1"]), t.worker(&["--id", "wkr_r2"])];
    let acked: Arc<Mutex<Vec<JobId>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut producers = Vec::new();
    for _ in 0..4 {
        let (t, acked, stop) = (t.clone(), acked.clone(), stop.clone());
        producers.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, 0u32);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut e = palisade_jobs::JobEnqueue::new(
                    palisade_jobs::QueueName::parse("work").unwrap(),
                    palisade_jobs::JobKind::parse("sleep").unwrap(),
                    serde_json::json!({"ms": 5}),
                );
                e.lease_ms = 1_000;
                match t.store.job_enqueue(&t.tenant, e).await {
                    Ok(done) => {
                        acked.lock().unwrap().push(done.job.id);
                        ok += 1;
                    }
                    Err(_) => failed += 1, // not acknowledged: may or may not exist
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (ok, failed)
        }));
    }
    let started = "SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000)::bigint";
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = t.scalar(started, &[]).await;
    let acked_before = acked.lock().unwrap().len();
    pg.stop("fast");
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.start();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_ne!(
        t.scalar(started, &[]).await,
        before,
        "the server was restarted"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut failed = 0;
    for p in producers {
        failed += p.await.unwrap().1;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 100,
        "too little load: {} acknowledged",
        acked.len()
    );
    // Under load: enqueues were acknowledged before and after the restart. (Whether one fails
    // depends on timing: the pool may wait the restart out.)
    assert!(
        acked_before > 0 && acked.len() > acked_before,
        "load across the restart"
    );
    eprintln!(
        "acknowledged {} ({acked_before} before the restart), failed {failed}",
        acked.len()
    );
    let end = Instant::now() + Duration::from_secs(60);
    for id in &acked {
        loop {
            let j = t.store.job_get(&t.tenant, id).await.unwrap();
            let j = j.expect("an acknowledged enqueue was lost");
            if j.state == JobState::Completed {
                break;
            }
            assert!(Instant::now() < end, "job never completed: {:?}", j.state);
            let _ = rescue_step(&*t.store, now_ms()).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let twice = "SELECT count(*) FROM (SELECT job_id FROM job_events WHERE kind = 'completed'
        GROUP BY job_id HAVING count(*) > 1) x";
    assert_eq!(t.scalar(twice, &[]).await, 0, "a job was completed twice");
    let finished = "SELECT count(*) FROM job_events WHERE kind = 'completed'";
    assert!(t.scalar(finished, &[]).await >= acked.len() as i64);
}
