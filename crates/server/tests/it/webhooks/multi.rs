//! Webhooks over PostgreSQL: three server processes receiving 1,000 concurrent copies of one
//! event deliver it exactly once; a private PostgreSQL restarted mid-ingest loses no event a
//! provider got a 2xx for; an event another instance stored but never dispatched is delivered.

use super::{config_toml, pull_source, push_source, source_create, Provider, Target};
use crate::common::{drop_schema, spawn_in, temp_dir, Api, Proc};
use palisade_testkit::backends;
use palisade_testkit::own_postgres::OwnPostgres;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const OP_KEY: &str = "pal_op_webhooks_multi_test_0123456789abcdef";
/// The sealing key every instance shares (32 bytes, base64).
const SEAL_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn instance(port: u16, url: &str, schema: &str) -> Proc {
    let dir = temp_dir();
    std::fs::write(dir.join("palisade.toml"), config_toml(port, 3)).unwrap();
    let mut env = vec![
        ("PALISADE_OPERATOR_KEY", OP_KEY),
        ("PALISADE_STORAGE__URL", url),
        ("PALISADE_WEBHOOKS__SECRET_KEY", SEAL_KEY),
    ];
    if !schema.is_empty() {
        env.push(("PALISADE_STORAGE__SCHEMA", schema));
    }
    spawn_in(dir, &env)
}

/// Sends until the answer is a 2xx (a provider retries a 503); the final status and body.
async fn send_until_stored(prov: &Provider, tenant: &str, id: &str) -> (u16, String) {
    let start = Instant::now();
    loop {
        let r = prov.send(tenant, "s", id, b"{\"once\":true}").await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        if status == 200 || start.elapsed() > Duration::from_secs(60) {
            return (status, text);
        }
        assert_eq!(status, 503, "only 503 while saturated: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn thousand_concurrent_copies_across_three_instances_deliver_once() {
    let test = "thousand_concurrent_copies_across_three_instances_deliver_once";
    let Some(url) = backends::postgres_or_skip(test).await else {
        return;
    };
    let schema = backends::unique("whk");
    let target = Target::start().await;
    let ps: Vec<Proc> = (0..3)
        .map(|_| instance(target.port, &url, &schema))
        .collect();
    let (tenant, key) = ps[0].api(OP_KEY).tenant_with_key("wh-multi").await;
    source_create(&ps[0].api(&key), push_source("s", target.port, false)).await;
    let provs: Vec<Provider> = ps.iter().map(|p| Provider::new(&p.url)).collect();
    let sends = (0..1000).map(|i| {
        let (prov, tenant) = (provs[i % 3].clone(), tenant.clone());
        async move { send_until_stored(&prov, &tenant, "evt-the-one").await }
    });
    let answers = futures::future::join_all(sends).await;
    assert!(
        answers.iter().all(|(s, _)| *s == 200),
        "every copy answered 2xx"
    );
    let accepted = answers
        .iter()
        .filter(|(_, b)| b.contains("\"accepted\""))
        .count();
    assert_eq!(accepted, 1, "one copy stored, 999 duplicates");
    let start = Instant::now();
    while target.hits().is_empty() && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(target.hits().len(), 1, "exactly one delivery");
    let api = ps[1].api(&key);
    let page = api.get_json("/v1/webhooks/events").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    let mut e = api.get_json(&format!("/v1/webhooks/events/{id}")).await;
    while e["status"] != "delivered" && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        e = api.get_json(&format!("/v1/webhooks/events/{id}")).await;
    }
    assert_eq!(e["status"], "delivered", "{e}");
    assert_eq!(target.hits().len(), 1, "exactly one delivery");
    drop(ps);
    drop_schema(&url, &schema).await;
}

/// An event stored marked for dispatch by an instance that stopped before dispatching it (here
/// written straight into the store, as that instance's ingress had) gets its job from a running
/// instance's dispatch poll, and is delivered once.
#[tokio::test]
async fn an_event_another_instance_stored_but_never_dispatched_is_delivered_once() {
    let test = "an_event_another_instance_stored_but_never_dispatched_is_delivered_once";
    let Some(url) = backends::postgres_or_skip(test).await else {
        return;
    };
    let schema = backends::unique("whd");
    let target = Target::start().await;
    let p = instance(target.port, &url, &schema);
    let (tenant, key) = p.api(OP_KEY).tenant_with_key("wh-dispatch").await;
    source_create(&p.api(&key), push_source("s", target.port, false)).await;
    let mut o = palisade_store_postgres::PgOptions::new(url.clone());
    o.schema = Some(schema.clone());
    let other = palisade_store_postgres::PgStore::connect(&o).await.unwrap();
    let tenant = palisade_core::TenantId::parse(&tenant).unwrap();
    let name = palisade_webhooks::SourceName::parse("s").unwrap();
    let source = other.source_get(&tenant, &name).await.unwrap().unwrap();
    let now = palisade_core::Clock::now_ms(&palisade_core::SystemClock);
    let event = palisade_webhooks::Event::new(
        &source,
        "id:stranded".into(),
        Some("application/json".into()),
        b"{\"stranded\":true}".to_vec(),
        now,
    );
    use palisade_webhooks::InboxStore;
    assert!(!other.event_insert(event, true).await.unwrap().duplicate);
    let start = Instant::now();
    while target.hits().is_empty() && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "delivered after {waited:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hits = target.hits();
    assert_eq!(hits.len(), 1, "exactly one delivery");
    assert_eq!(&hits[0].body[..], b"{\"stranded\":true}");
    assert_eq!(
        other.event_dispatch(10).await.unwrap(),
        0,
        "nothing left marked"
    );
    drop(p);
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn postgres_restart_mid_ingest_loses_no_acknowledged_event() {
    let test = "postgres_restart_mid_ingest_loses_no_acknowledged_event";
    let Some(pg) = OwnPostgres::start_or_skip(test) else {
        return;
    };
    let p = instance(9, &pg.url(), "");
    let (tenant, key) = p.api(OP_KEY).tenant_with_key("wh-restart").await;
    let api = p.api(&key);
    source_create(&api, pull_source("s")).await;
    let prov = Provider::new(&p.url);
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|w| {
            let (prov, tenant) = (prov.clone(), tenant.clone());
            let (acked, refused, stop) = (acked.clone(), refused.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = format!("w{w}-{n}");
                    let r = prov.send(&tenant, "s", &id, b"{}").await;
                    match r.status().as_u16() {
                        200 => {
                            acked.lock().unwrap().insert(id);
                        }
                        s => refused.lock().unwrap().push(s),
                    }
                    n += 1;
                }
            })
        })
        .collect();
    let count = || acked.lock().unwrap().len();
    let start = Instant::now();
    while count() < 100 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = count();
    assert!(before >= 100, "load before the restart");
    let started = postmaster_start(&pg.url()).await;
    pg.stop("immediate");
    // longer than storage.acquire_timeout (2 s): requests meanwhile answer 503
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.start();
    pg.wait_ready(Duration::from_secs(30)).await;
    assert_ne!(
        postmaster_start(&pg.url()).await,
        started,
        "PostgreSQL restarted"
    );
    let during = count();
    let start = Instant::now();
    while count() < during + 100 && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }
    assert!(count() >= during + 100, "ingest resumed after the restart");
    let refused = refused.lock().unwrap().clone();
    eprintln!(
        "restart: {} acknowledged ({before} before the stop), {} answered 503",
        count(),
        refused.len()
    );
    assert!(
        refused.iter().all(|s| *s == 503),
        "non-2xx are 503s: {refused:?}"
    );
    let stored = stored_keys(&api).await;
    let acked = acked.lock().unwrap().clone();
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}

/// Every stored event's provider id (its replay-guard key is `id:<id>`), paging through
/// the API.
async fn stored_keys(api: &Api) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v1/webhooks/events?limit=200&cursor={c}"),
            None => "/v1/webhooks/events?limit=200".into(),
        };
        let page = api.get_json(&q).await;
        for e in page["items"].as_array().unwrap() {
            let key = e["key"].as_str().unwrap();
            out.insert(key.trim_start_matches("id:").to_owned());
        }
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    out
}

/// PostgreSQL's postmaster start time, as text (changes with every restart).
async fn postmaster_start(url: &str) -> String {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let t: String = sqlx::query_scalar("SELECT pg_postmaster_start_time()::text")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    t
}

#[tokio::test]
async fn three_instances_starting_at_once_declare_one_source_written_once() {
    let test = "three_instances_starting_at_once_declare_one_source_written_once";
    let Some(url) = backends::postgres_or_skip(test).await else {
        return;
    };
    let schema = backends::unique("whkdecl");
    let target = Target::start().await;
    let first = instance(target.port, &url, &schema);
    let (tenant, key) = first.api(OP_KEY).tenant_with_key("wh-declared-multi").await;
    drop(first);
    let toml = format!(
        "{}\n[[webhooks.sources]]\ntenant = \"{tenant}\"\nname = \"s\"\n\
         provider = {{ kind = \"standard_webhooks\" }}\n\
         secrets = [{{ secret = \"{}\" }}, {{ secret = \"{}\" }}]\n",
        config_toml(target.port, 3),
        super::SECRET,
        super::SECRET2
    );
    let env = [
        ("PALISADE_OPERATOR_KEY", OP_KEY),
        ("PALISADE_STORAGE__URL", url.as_str()),
        ("PALISADE_WEBHOOKS__SECRET_KEY", SEAL_KEY),
        ("PALISADE_STORAGE__SCHEMA", schema.as_str()),
    ];
    let ps: Vec<Proc> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..3)
            .map(|_| {
                let (toml, env) = (&toml, &env);
                s.spawn(move || {
                    let dir = temp_dir();
                    std::fs::write(dir.join("palisade.toml"), toml).unwrap();
                    spawn_in(dir, env)
                })
            })
            .collect();
        starts.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let view = ps[2].api(&key).get_json("/v1/webhooks/sources/s").await;
    assert_eq!(view["version"], 1, "created once, never rewritten: {view}");
    assert_eq!(view["secrets"].as_array().unwrap().len(), 2);
    for (i, p) in ps.iter().enumerate() {
        let r = Provider::new(&p.url)
            .send(&tenant, "s", &format!("m{i}"), b"{}")
            .await;
        assert_eq!(r.status(), 200, "instance {i}");
    }
    drop(ps);
    drop_schema(&url, &schema).await;
}
