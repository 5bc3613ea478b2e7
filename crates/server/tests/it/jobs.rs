//! Durable jobs over HTTP: the HTTP worker protocol, rescue and fencing, cancel, re-drive,
//! tenant isolation, unique and idempotent enqueue (also across processes on PostgreSQL), bad
//! input, OpenAPI and metrics — against real `palisade serve` processes.

use crate::common::{problem, spawn, Api, Proc};
use palisade_testkit::backends::{postgres_or_skip, unique};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The job calls of a tenant's [`Api`].
impl Api {
    pub(crate) async fn enqueue(&self, body: Value) -> Value {
        let r = self.post("/v1/jobs", body).await;
        assert_eq!(r.status(), 201, "{:?}", r.text().await);
        r.json::<Value>().await.unwrap()["job"].clone()
    }

    pub(crate) async fn enqueue_with_key(&self, key: &str, body: &Value) -> Response {
        self.c
            .post(format!("{}/v1/jobs", self.url))
            .bearer_auth(&self.key)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn lease(&self, queue: &str, worker: &str, wait_ms: u64) -> Vec<Value> {
        let body = json!({"queue": queue, "worker": worker, "wait_ms": wait_ms});
        let r = self.post("/v1/jobs/lease", body).await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        let v: Value = r.json().await.unwrap();
        v["jobs"].as_array().unwrap().clone()
    }

    pub(crate) async fn lease_one(&self, queue: &str) -> (String, u64) {
        let got = self.lease(queue, "w1", 2_000).await;
        assert_eq!(got.len(), 1, "{got:?}");
        let id = got[0]["job"]["id"].as_str().unwrap().to_owned();
        (id, got[0]["token"].as_u64().unwrap())
    }

    pub(crate) async fn job_call(&self, id: &str, op: &str, body: Value) -> Response {
        self.post(&format!("/v1/jobs/{id}/{op}"), body).await
    }

    pub(crate) async fn job(&self, id: &str) -> Value {
        let r = self.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

pub(crate) fn job(queue: &str) -> Value {
    json!({"queue": queue, "kind": "email.send", "payload": {"to": "user-1"}})
}

pub(crate) async fn ok(r: Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test]
async fn http_worker_full_cycle_events_stats_and_metrics() {
    let p = spawn(&[]);
    let api = p.tenant_api("jobs-cycle").await;
    let j = api
        .enqueue(
            json!({"queue": "mail", "kind": "email.send", "payload": {"n": 1},
                        "tags": ["welcome"], "priority": 1}),
        )
        .await;
    let id = j["id"].as_str().unwrap();
    assert_eq!(
        (j["state"].as_str(), j["attempt"].as_u64()),
        (Some("queued"), Some(0))
    );

    let (leased, token) = api.lease_one("mail").await;
    assert_eq!(leased, id);
    let hb = ok(api.job_call(id, "heartbeat", json!({"token": token})).await).await;
    assert_eq!(hb["cancel_requested"], false);
    assert!(hb["lease_expires_at_ms"].as_i64().unwrap() > 0);
    let body = json!({"token": token, "percent": 40, "message": "half way"});
    ok(api.job_call(id, "progress", body).await).await;
    let body = json!({"token": token, "checkpoint": {"done": 400}});
    ok(api.job_call(id, "checkpoint", body).await).await;
    let running = api.job(id).await;
    assert_eq!(running["state"], "running");
    assert_eq!(running["progress"]["percent"], 40);
    assert_eq!(running["checkpoint"], json!({"done": 400}));

    let stats = api.get_json("/v1/jobs/queues/mail/stats").await;
    assert_eq!(
        (
            stats["counts"]["running"].as_u64(),
            stats["counts"]["queued"].as_u64()
        ),
        (Some(1), Some(0))
    );

    let done = ok(api.job_call(id, "complete", json!({"token": token})).await).await;
    assert_eq!(done["state"], "completed");
    problem(
        api.job_call(id, "complete", json!({"token": token})).await,
        409,
        "job-lease-lost",
    )
    .await;

    let ev = api.get_json(&format!("/v1/jobs/{id}/events")).await;
    let kinds: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["enqueued", "started", "progress", "checkpoint", "completed"]
    );
    assert_eq!(ev["next"], 5);
    let tail = api.get_json(&format!("/v1/jobs/{id}/events?from=3")).await;
    assert_eq!(tail["events"][0]["kind"], "checkpoint");

    let listed = api
        .get_json("/v1/jobs?queue=mail&state=completed&tag=welcome")
        .await;
    assert_eq!(listed["items"][0]["id"], id);
    let none = api.get_json("/v1/jobs?queue=mail&state=dead").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    let m = p.metrics().await;
    for name in [
        "palisade_jobs_enqueued_total",
        "palisade_jobs_started_total",
        "palisade_jobs_completed_total",
        "palisade_jobs_lease_lost_total",
        "palisade_jobs_queue_latency_seconds_bucket",
        "palisade_jobs_run_seconds_bucket",
    ] {
        assert!(m.contains(name), "{name} missing from metrics");
    }
    assert!(!m.contains("mail"), "queue names are never metric labels");
    let rescuer_ran = crate::common::eventually_async(Duration::from_secs(5), || async {
        let m = p.metrics().await;
        m.contains("task=\"jobs_rescue\"").then_some(())
    });
    assert!(
        rescuer_ran.await.is_some(),
        "the rescuer runs as a maintenance task"
    );
}

#[tokio::test]
async fn a_silent_worker_loses_its_job_to_rescue_and_its_late_complete_is_refused() {
    let p = spawn(&[]);
    let api = p.tenant_api("jobs-rescue").await;
    let mut body = job("rescue");
    body["lease_ms"] = json!(1_000);
    let id = api.enqueue(body).await["id"].as_str().unwrap().to_owned();
    let (_, stale) = api.lease_one("rescue").await;
    let leased_at = Instant::now();
    // Worker 1 goes silent; worker 2 long-polls and gets the job once it is rescued.
    let mut got = Vec::new();
    while got.is_empty() && leased_at.elapsed() < Duration::from_secs(10) {
        got = api.lease("rescue", "w2", 5_000).await;
    }
    let waited = leased_at.elapsed();
    assert_eq!(got.len(), 1, "the job was rescued and leased again");
    assert!(
        waited < Duration::from_millis(1_000 + 4_000),
        "rescued within lease + bound: {waited:?}"
    );
    let fresh = got[0]["token"].as_u64().unwrap();
    assert!(fresh > stale);
    assert_eq!(got[0]["job"]["attempt"], 2);
    problem(
        api.job_call(&id, "heartbeat", json!({"token": stale}))
            .await,
        409,
        "job-lease-lost",
    )
    .await;
    ok(api.job_call(&id, "complete", json!({"token": fresh})).await).await;
    let late = api.job_call(&id, "complete", json!({"token": stale})).await;
    problem(late, 409, "job-lease-lost").await;
    assert_eq!(api.job(&id).await["state"], "completed");
    let ev = api.get_json(&format!("/v1/jobs/{id}/events")).await;
    let kinds: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "completed").count(), 1);
    assert!(kinds.contains(&"rescued"));
    assert!(p.metrics().await.contains("palisade_jobs_rescued_total"));
}

#[tokio::test]
async fn cancel_of_queued_and_running_jobs() {
    let p = spawn(&[]);
    let api = p.tenant_api("jobs-cancel").await;
    let queued = api.enqueue(job("c")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = ok(api
        .post(&format!("/v1/jobs/{queued}/cancel"), json!({}))
        .await)
    .await;
    assert_eq!(
        (c["stopped"].as_bool(), c["job"]["state"].as_str()),
        (Some(true), Some("cancelled"))
    );
    problem(
        api.post(&format!("/v1/jobs/{queued}/cancel"), json!({}))
            .await,
        409,
        "job-finished",
    )
    .await;

    let id = api.enqueue(job("c")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, token) = api.lease_one("c").await;
    let r = api
        .post(&format!("/v1/jobs/{id}/cancel?wait_ms=0"), json!({}))
        .await;
    assert_eq!(r.status(), 202, "still running: asked to stop");
    let waiter = {
        let api = api.clone();
        let id = id.clone();
        tokio::spawn(async move {
            api.post(&format!("/v1/jobs/{id}/cancel?wait_ms=10000"), json!({}))
                .await
        })
    };
    let hb = ok(api
        .job_call(&id, "heartbeat", json!({"token": token}))
        .await)
    .await;
    assert_eq!(hb["cancel_requested"], true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the cancel waits while the job runs");
    ok(api
        .job_call(&id, "fail", json!({"token": token, "error": "stopped"}))
        .await)
    .await;
    let c = ok(waiter.await.unwrap()).await;
    assert_eq!(
        (c["stopped"].as_bool(), c["job"]["state"].as_str()),
        (Some(true), Some("cancelled"))
    );
}

#[tokio::test]
async fn dead_jobs_are_redriven_one_and_by_filter_and_running_ones_are_not_deleted() {
    let p = spawn(&[]);
    let api = p.tenant_api("jobs-dead").await;
    let mut body = job("d");
    body["max_attempts"] = json!(1);
    let id = api.enqueue(body.clone()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, t) = api.lease_one("d").await;
    problem(
        api.delete(&format!("/v1/jobs/{id}")).await,
        409,
        "job-running",
    )
    .await;
    let dead = ok(api
        .job_call(&id, "fail", json!({"token": t, "error": "boom"}))
        .await)
    .await;
    assert_eq!(
        (dead["state"].as_str(), dead["last_error"].as_str()),
        (Some("dead"), Some("boom"))
    );
    let again = ok(api.post(&format!("/v1/jobs/{id}/retry"), json!({})).await).await;
    assert_eq!(
        (again["state"].as_str(), again["attempt"].as_u64()),
        (Some("queued"), Some(0))
    );
    problem(
        api.post(&format!("/v1/jobs/{id}/retry"), json!({})).await,
        409,
        "job-not-dead",
    )
    .await;
    let (_, t) = api.lease_one("d").await;
    let body2 = json!({"token": t, "give_up": true, "error": "no"});
    assert_eq!(
        ok(api.job_call(&id, "fail", body2).await).await["state"],
        "dead"
    );
    let other = api.enqueue(body).await["id"].as_str().unwrap().to_owned();
    let bulk = ok(api.post("/v1/jobs/retry", json!({"queue": "d"})).await).await;
    let ids: Vec<&str> = bulk["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()], "only the dead job");
    let r = api.delete(&format!("/v1/jobs/{other}")).await;
    assert_eq!(r.status(), 204);
    problem(
        api.get(&format!("/v1/jobs/{other}")).await,
        404,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn another_tenants_job_is_404_on_every_route() {
    let p = spawn(&[]);
    let a = p.tenant_api("jobs-a").await;
    let b = p.tenant_api("jobs-b").await;
    let id = a.enqueue(job("iso")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        b.lease("iso", "wb", 0).await.is_empty(),
        "B leases only its own jobs"
    );
    let (_, token) = a.lease_one("iso").await;
    let tok = json!({"token": token});
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/jobs/{id}"), None),
        (Method::GET, format!("/v1/jobs/{id}/events"), None),
        (Method::DELETE, format!("/v1/jobs/{id}"), None),
        (
            Method::POST,
            format!("/v1/jobs/{id}/cancel"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/retry"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/heartbeat"),
            Some(tok.clone()),
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/progress"),
            Some(json!({"token": token, "percent": 1})),
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/checkpoint"),
            Some(json!({"token": token, "checkpoint": 1})),
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/complete"),
            Some(tok.clone()),
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/fail"),
            Some(tok.clone()),
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/release"),
            Some(tok.clone()),
        ),
    ];
    for (m, path, body) in calls {
        let r = b.send(m.clone(), &path, body).await;
        problem(r, 404, "not-found").await;
    }
    let listed = b.get_json("/v1/jobs").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
    let stats = b.get_json("/v1/jobs/queues/iso/stats").await;
    assert_eq!(stats["counts"]["running"], 0);
    let j = a.job(&id).await;
    assert_eq!(j["state"], "running", "B changed nothing");
    ok(a.job_call(&id, "complete", tok).await).await;
}

#[tokio::test]
async fn unique_and_idempotent_enqueues_answer_the_existing_job() {
    let p = spawn(&[]);
    let api = p.tenant_api("jobs-unique").await;
    let mut body = job("u");
    body["unique"] = json!({"key": "invoice-7"});
    let first = api.enqueue(body.clone()).await;
    let r = api.post("/v1/jobs", body).await;
    assert_eq!(r.status(), 200);
    let dup: Value = r.json().await.unwrap();
    assert_eq!(
        (dup["duplicate"].as_bool(), &dup["job"]["id"]),
        (Some(true), &first["id"])
    );

    let body = job("u");
    let r1 = api.enqueue_with_key("order-7", &body).await;
    assert_eq!(r1.status(), 201);
    let r1: Value = r1.json().await.unwrap();
    let r2 = api.enqueue_with_key("order-7", &body).await;
    assert_eq!(r2.status(), 200);
    let r2: Value = r2.json().await.unwrap();
    assert_eq!(r1["job"]["id"], r2["job"]["id"]);
    assert_eq!(r2["duplicate"], true);
    let mut other = body.clone();
    other["payload"] = json!({"to": "someone-else"});
    problem(
        api.enqueue_with_key("order-7", &other).await,
        422,
        "idempotency-key-reused",
    )
    .await;
    problem(
        api.enqueue_with_key("bad key", &body).await,
        400,
        "invalid-request",
    )
    .await;
    let b = p.tenant_api("jobs-unique-b").await;
    assert_eq!(
        b.enqueue_with_key("order-7", &body).await.status(),
        201,
        "keys are per tenant"
    );
    let m = p.metrics().await;
    assert!(m.contains("palisade_jobs_duplicates_total"));
}

#[tokio::test]
async fn concurrent_idempotent_enqueues_over_three_processes_make_one_job() {
    let Some(pg) = postgres_or_skip("jobs_three_processes").await else {
        return;
    };
    let schema = unique("jobs_it");
    let env = [
        ("PALISADE_STORAGE__URL", pg.as_str()),
        ("PALISADE_STORAGE__SCHEMA", schema.as_str()),
    ];
    let procs: Vec<Proc> = (0..3).map(|_| spawn(&env)).collect();
    let (_, key) = procs[0].tenant_with_key(&unique("t")).await;
    let apis: Vec<Api> = procs.iter().map(|p| p.api(&key)).collect();
    let body = job("shared");
    let calls = (0..10).map(|i| {
        let api = apis[i % 3].clone();
        let body = body.clone();
        tokio::spawn(async move {
            let r = api.enqueue_with_key("pay-42", &body).await;
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v["job"]["id"].as_str().unwrap().to_owned())
        })
    });
    let got: Vec<(u16, String)> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(got.iter().filter(|(s, _)| *s == 201).count(), 1, "{got:?}");
    assert!(
        got.iter()
            .all(|(s, id)| (*s == 201 || *s == 200) && id == &got[0].1),
        "{got:?}"
    );
    let listed = apis[1].get_json("/v1/jobs?queue=shared").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_input_is_a_problem_never_a_500_and_never_echoed() {
    let p = spawn(&[("PALISADE_JOBS__MAX_PAYLOAD_BYTES", "1024")]);
    let api = p.tenant_api("jobs-bad").await;
    let id = api.enqueue(job("bad")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, token) = api.lease_one("bad").await;
    let s = "SECRET-ECHO-42";
    let big = json!({"queue": "bad", "kind": "k", "payload": {"blob": "x".repeat(2_000)}});
    let cases: Vec<(Method, String, Value, u16, &str)> = vec![
        (
            Method::POST,
            "/v1/jobs".into(),
            big,
            413,
            "payload-too-large",
        ),
        (
            Method::POST,
            "/v1/jobs".into(),
            json!({"queue": "", "kind": s}),
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            "/v1/jobs".into(),
            json!({"queue": "q", "kind": "k", s: 1}),
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            "/v1/jobs".into(),
            json!({"queue": "q", "kind": "k", "priority": s}),
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            "/v1/jobs".into(),
            json!({"queue": "q", "kind": "k", "max_attempts": 0, "lease_ms": 5, "delay_ms": -1}),
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            "/v1/jobs".into(),
            json!({"queue": "q", "kind": "k", "unique": {"key": "k", "states": [s]}}),
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            "/v1/jobs/lease".into(),
            json!({"queue": "q", "worker": "w", "count": 0, "wait_ms": 999_999_999}),
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/heartbeat"),
            json!({"token": s}),
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/progress"),
            json!({"token": token, "percent": 101}),
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/checkpoint"),
            json!({"token": token, "checkpoint": "x".repeat(300_000)}),
            413,
            "payload-too-large",
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/complete"),
            json!({"token": token + 7}),
            409,
            "job-lease-lost",
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/fail"),
            json!({"token": token, "give_up": true, "retry_at_ms": 1}),
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            format!("/v1/jobs/{s}/complete"),
            json!({"token": 1}),
            400,
            "invalid-request",
        ),
        (
            Method::GET,
            format!("/v1/jobs?state={s}"),
            Value::Null,
            400,
            "invalid-request",
        ),
        (
            Method::GET,
            format!("/v1/jobs?{s}=1"),
            Value::Null,
            400,
            "invalid-request",
        ),
        (
            Method::GET,
            format!("/v1/jobs/{id}/events?limit=0"),
            Value::Null,
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            format!("/v1/jobs/{id}/cancel?wait_ms=999999999"),
            json!({}),
            400,
            "invalid-request",
        ),
        (
            Method::POST,
            "/v1/jobs/retry".into(),
            json!({"limit": 0}),
            400,
            "invalid-request",
        ),
    ];
    for (m, path, body, status, code) in cases {
        let body = (!body.is_null()).then_some(body);
        let r = api.send(m.clone(), &path, body).await;
        let got = problem(r, status, code).await;
        assert!(
            !got.to_string().contains(s),
            "{m} {path}: echoed input: {got}"
        );
    }
    let big = problem(
        api.post(
            "/v1/jobs",
            json!({"queue": "q", "kind": "k", "payload": "x".repeat(2_000)}),
        )
        .await,
        413,
        "payload-too-large",
    )
    .await;
    assert!(
        big["detail"].as_str().unwrap().contains("1024"),
        "names the cap: {big}"
    );
    assert_eq!(api.job(&id).await["state"], "running", "nothing changed");
}

#[tokio::test]
async fn openapi_describes_every_jobs_route_with_its_errors() {
    let p = spawn(&[]);
    let doc = p.openapi().await;
    let paths = &doc["paths"];
    for (path, method) in [
        ("/v1/jobs", "post"),
        ("/v1/jobs", "get"),
        ("/v1/jobs/batch", "post"),
        ("/v1/jobs/{id}", "get"),
        ("/v1/jobs/{id}", "delete"),
        ("/v1/jobs/{id}/events", "get"),
        ("/v1/jobs/{id}/cancel", "post"),
        ("/v1/jobs/{id}/retry", "post"),
        ("/v1/jobs/retry", "post"),
        ("/v1/jobs/queues/{queue}/stats", "get"),
        ("/v1/jobs/lease", "post"),
        ("/v1/jobs/{id}/heartbeat", "post"),
        ("/v1/jobs/{id}/progress", "post"),
        ("/v1/jobs/{id}/checkpoint", "post"),
        ("/v1/jobs/{id}/complete", "post"),
        ("/v1/jobs/{id}/fail", "post"),
        ("/v1/jobs/{id}/release", "post"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} missing");
        for status in ["400", "401", "404", "500"] {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path}: no {status}"
            );
        }
    }
    assert!(paths["/v1/jobs/{id}/complete"]["post"]["responses"]["409"].is_object());
}

#[test]
fn check_config_names_every_bad_jobs_key_and_accepts_a_valid_section() {
    use crate::common::{assert_config_errors, check_config, check_config_file, temp_dir};
    let dir = temp_dir();
    let file = dir.join("jobs.toml");
    let toml = "[jobs]\nmax_payload_bytes = 0\nmin_lease = \"10s\"\nmax_lease = \"5s\"\n\
                rescue_interval = \"2m\"\n[jobs.backoff.kinds.\"email.send\"]\n\
                base_ms = 0\nmax_ms = 10\nfactor = 2.0\njitter = 0.1\n\
                [jobs.limits.reports]\nconcurrency_per_key = 0\nrate_window = \"10ms\"\n";
    std::fs::write(&file, toml).unwrap();
    let out = check_config_file(&file);
    let err = assert_config_errors(
        &out,
        &[
            "jobs.max_payload_bytes",
            "jobs.max_lease",
            "jobs.default_lease",
            "jobs.rescue_interval",
            "jobs.backoff.kinds.email.send.base_ms",
            "jobs.limits.reports.concurrency_per_key",
            "jobs.limits.reports.rate_window",
        ],
    );
    assert!(!err.contains("panicked"));
    let out = check_config(&dir, &[("PALISADE_JOBS__DEFAULT_LEASE", "2h")]);
    assert_config_errors(&out, &["jobs.default_lease"]);
    std::fs::write(
        &file,
        "[jobs]\ndefault_lease = \"1m\"\nmax_running_per_tenant = 50\n\
         [jobs.backoff.kinds.\"email.send\"]\nbase_ms = 5000\nmax_ms = 600000\n\
         factor = 3.0\njitter = 0.3\n\
         [jobs.limits.reports]\nconcurrency_per_key = 2\nrate_per_key = 5\n",
    )
    .unwrap();
    let out = check_config_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn on_postgres_a_job_rescued_from_one_process_completes_on_another_once() {
    let Some(pg) = postgres_or_skip("jobs_rescue_two_processes").await else {
        return;
    };
    let schema = unique("jobs_it");
    let env = [
        ("PALISADE_STORAGE__URL", pg.as_str()),
        ("PALISADE_STORAGE__SCHEMA", schema.as_str()),
    ];
    let (a, b) = (spawn(&env), spawn(&env));
    let (_, key) = a.tenant_with_key(&unique("t")).await;
    let (wa, wb) = (a.api(&key), b.api(&key));
    let mut body = job("pg-rescue");
    body["lease_ms"] = json!(1_000);
    let id = wa.enqueue(body).await["id"].as_str().unwrap().to_owned();
    let (_, stale) = wa.lease_one("pg-rescue").await;
    let start = Instant::now();
    let mut got = Vec::new();
    while got.is_empty() && start.elapsed() < Duration::from_secs(10) {
        got = wb.lease("pg-rescue", "wb", 5_000).await;
    }
    assert_eq!(got.len(), 1, "rescued and leased through the other process");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "within lease + bound"
    );
    let fresh = got[0]["token"].as_u64().unwrap();
    ok(wb.job_call(&id, "complete", json!({"token": fresh})).await).await;
    problem(
        wa.job_call(&id, "complete", json!({"token": stale})).await,
        409,
        "job-lease-lost",
    )
    .await;
    let ev = wa.get_json(&format!("/v1/jobs/{id}/events")).await;
    let completed = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "completed")
        .count();
    assert_eq!(completed, 1);
}

#[tokio::test]
async fn palisades_own_queues_are_refused_to_tenants() {
    let p = spawn(&[]);
    let api = p.tenant_api("jobs-reserved").await;
    let mut own = job("palisade.webhooks");
    let r = api.post("/v1/jobs", own.clone()).await;
    let v = problem(r, 400, "invalid-request").await;
    assert_eq!(v["errors"][0]["field"], "queue", "{v}");
    own["queue"] = json!("palisade.otp");
    let r = api
        .post("/v1/jobs/batch", json!({ "jobs": [job("mail"), own] }))
        .await;
    let v = problem(r, 400, "invalid-request").await;
    assert_eq!(v["errors"][0]["field"], "jobs[1].queue", "{v}");
    let lease = json!({"queue": "palisade.webhooks", "worker": "w1"});
    let v = problem(
        api.post("/v1/jobs/lease", lease).await,
        400,
        "invalid-request",
    )
    .await;
    assert_eq!(v["errors"][0]["field"], "queue", "{v}");
    let schedule = json!({"name": "s", "cron": "* * * * *", "queue": "palisade.otp", "kind": "k"});
    let r = api.post("/v1/cron/schedules", schedule).await;
    let v = problem(r, 400, "invalid-request").await;
    assert!(v.to_string().contains("\"queue\""), "{v}");
}
