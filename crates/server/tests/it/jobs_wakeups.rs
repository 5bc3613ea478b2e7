//! Waiting leases and cancels wake on changes instead of sleeping `jobs.poll_interval`: within
//! one process on the embedded default, and across processes on PostgreSQL (LISTEN/NOTIFY).
//! The poll interval is set to a minute, so an answer well before it proves a wake-up.

use crate::common::{spawn, Api, Proc};
use crate::jobs::{job, ok};
use palisade_testkit::backends::{postgres_or_skip, unique};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The generous bound for a woken wait: far below the poll interval and the waits.
const WOKEN_WITHIN: Duration = Duration::from_secs(5);
/// How long a wait may run at most (it answers empty, or 202, at its end).
const WAIT_MS: u64 = 20_000;
const SLOW_POLL: (&str, &str) = ("PALISADE_JOBS__POLL_INTERVAL", "60s");

/// A lease long-polling `queue` through `api`, started now; answers its jobs.
fn waiting_lease(api: &Api, queue: &str) -> tokio::task::JoinHandle<Vec<Value>> {
    let (api, queue) = (api.clone(), queue.to_owned());
    tokio::spawn(async move { api.lease(&queue, "waiter", WAIT_MS).await })
}

/// Lets a just-started wait make its first (empty) look at the store.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

/// Enqueues through `enq` while a lease waits on `waiter`; the lease gets the job soon.
async fn lease_woken_by_enqueue(waiter: &Api, enq: &Api, queue: &str) {
    let lease = waiting_lease(waiter, queue);
    settle().await;
    let at = Instant::now();
    let id = enq.enqueue(job(queue)).await["id"].clone();
    let got = lease.await.unwrap();
    let took = at.elapsed();
    assert_eq!(got.len(), 1, "the waiting lease got the job: {got:?}");
    assert_eq!(got[0]["job"]["id"], id);
    assert!(took < WOKEN_WITHIN, "woken, not polled: {took:?}");
}

/// A cancel waiting through `waiter` for a running job answers 200 once the worker's `fail`
/// (through `worker`) stopped it.
async fn cancel_woken_by_fail(waiter: &Api, worker: &Api, queue: &str) {
    let id = worker.enqueue(job(queue)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, token) = worker.lease_one(queue).await;
    let cancel = {
        let (api, id) = (waiter.clone(), id.clone());
        tokio::spawn(async move {
            let r = api
                .post(
                    &format!("/v1/jobs/{id}/cancel?wait_ms={WAIT_MS}"),
                    json!({}),
                )
                .await;
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    settle().await;
    let hb = ok(worker
        .job_call(&id, "heartbeat", json!({"token": token}))
        .await)
    .await;
    assert_eq!(hb["cancel_requested"], true);
    let at = Instant::now();
    let body = json!({"token": token, "error": "stopping on cancel"});
    ok(worker.job_call(&id, "fail", body).await).await;
    let (status, view) = cancel.await.unwrap();
    let took = at.elapsed();
    assert_eq!((status, &view["stopped"]), (200, &json!(true)), "{view}");
    assert_eq!(view["job"]["state"], "cancelled");
    assert!(took < WOKEN_WITHIN, "woken, not polled: {took:?}");
}

#[tokio::test]
async fn embedded_a_waiting_lease_wakes_on_enqueue_and_a_waiting_cancel_on_fail() {
    let p = spawn(&[SLOW_POLL]);
    let api = p.tenant_api("jobs-wake").await;
    lease_woken_by_enqueue(&api, &api, "wake-q").await;
    cancel_woken_by_fail(&api, &api, "wake-cancel").await;
}

#[tokio::test]
async fn embedded_a_waiting_lease_wakes_on_redrive_and_release() {
    let p = spawn(&[SLOW_POLL]);
    let api = p.tenant_api("jobs-wake-redrive").await;
    let mut body = job("wake-redrive");
    body["max_attempts"] = json!(1);
    let id = api.enqueue(body).await["id"].as_str().unwrap().to_owned();
    let (_, token) = api.lease_one("wake-redrive").await;
    let body = json!({"token": token, "error": "boom", "give_up": true});
    assert_eq!(
        ok(api.job_call(&id, "fail", body).await).await["state"],
        "dead"
    );
    let lease = waiting_lease(&api, "wake-redrive");
    settle().await;
    let at = Instant::now();
    ok(api.post(&format!("/v1/jobs/{id}/retry"), json!({})).await).await;
    let got = lease.await.unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(at.elapsed() < WOKEN_WITHIN, "{:?}", at.elapsed());

    let token = got[0]["token"].as_u64().unwrap();
    let lease = waiting_lease(&api, "wake-redrive");
    settle().await;
    let at = Instant::now();
    ok(api.job_call(&id, "release", json!({"token": token})).await).await;
    let got = lease.await.unwrap();
    assert_eq!(got.len(), 1, "the released job: {got:?}");
    assert!(at.elapsed() < WOKEN_WITHIN, "{:?}", at.elapsed());
}

/// Two processes on one PostgreSQL schema with `env` added; a tenant key valid on both.
async fn two_on_postgres(pg: &str, env: &[(&str, &str)]) -> (Proc, Proc, String) {
    let schema = unique("jobs_wake");
    let mut all = vec![
        ("PALISADE_STORAGE__URL", pg),
        ("PALISADE_STORAGE__SCHEMA", schema.as_str()),
    ];
    all.extend_from_slice(env);
    let (a, b) = (spawn(&all), spawn(&all));
    let (_, key) = a.tenant_with_key(&unique("t")).await;
    (a, b, key)
}

#[tokio::test]
async fn on_postgres_a_lease_waiting_on_one_process_wakes_on_an_enqueue_through_another() {
    let Some(pg) = postgres_or_skip("jobs_wake_pg").await else {
        return;
    };
    let (a, b, key) = two_on_postgres(&pg, &[SLOW_POLL]).await;
    let (wa, wb) = (a.api(&key), b.api(&key));
    lease_woken_by_enqueue(&wa, &wb, "pg-wake").await;
    cancel_woken_by_fail(&wa, &wb, "pg-wake-cancel").await;
}

#[tokio::test]
async fn on_postgres_without_listen_waits_poll_and_still_lease() {
    let Some(pg) = postgres_or_skip("jobs_wake_pg_polling").await else {
        return;
    };
    let env = [
        ("PALISADE_JOBS__LISTEN", "false"),
        ("PALISADE_JOBS__POLL_INTERVAL", "100ms"),
    ];
    let (a, b, key) = two_on_postgres(&pg, &env).await;
    let (wa, wb) = (a.api(&key), b.api(&key));
    lease_woken_by_enqueue(&wa, &wb, "pg-poll").await;
}
