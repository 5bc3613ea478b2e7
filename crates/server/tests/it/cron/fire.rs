//! Firing with real processes: every slot once on SQLite, each of 1,000 slots once across
//! three instances on PostgreSQL (on the fast test clock), the missed-slot policies after the
//! server was down, and the fast test clock refused in production.

use super::slots_by_schedule;
use crate::common::{spawn_in, temp_dir, Api, Proc};
use palisade_store_postgres::{PgOptions, PgStore};
use palisade_store_sqlite::{SqliteOptions, SqliteStore};
use palisade_testkit::backends;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const OP_KEY: &str = "pal_op_cron_fire_test_0123456789abcdefgh";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn sqlite_at(dir: &Path) -> SqliteStore {
    let url = format!(
        "sqlite://{}",
        dir.join("palisade-data/palisade.db").display()
    );
    SqliteStore::connect(&SqliteOptions::new(url))
        .await
        .unwrap()
}

/// Creates schedule `name` of `cron` on queue `ticks` with `extra` fields; its view.
async fn schedule(api: &Api, name: &str, cron: &str, extra: Value) -> Value {
    let mut b = json!({"name": name, "cron": cron, "queue": "ticks", "kind": "tick"});
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let r = api.post("/v1/cron/schedules", b).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// Asserts that `slots` is every second from `first` on, each with one job; their count.
fn every_second_once(name: &str, slots: &BTreeMap<i64, usize>, first: i64) -> usize {
    let dup: Vec<_> = slots.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        dup.is_empty(),
        "{name}: slots with more than one job: {dup:?}"
    );
    let got: Vec<i64> = slots.keys().copied().collect();
    let last = *got
        .last()
        .unwrap_or_else(|| panic!("{name}: no slot fired"));
    let want: Vec<i64> = (0..)
        .map(|i| first + i * 1_000)
        .take_while(|s| *s <= last)
        .collect();
    assert_eq!(
        got, want,
        "{name}: a slot was skipped or fired out of the schedule"
    );
    got.len()
}

/// The value of `palisade_cron_slots_total{result="…"}` in a metrics text.
fn slots_metric(text: &str, result: &str) -> u64 {
    let prefix = format!("palisade_cron_slots_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

#[tokio::test]
async fn sqlite_single_process_fires_every_slot_once() {
    let p = spawn_in(temp_dir(), &[("PALISADE_CRON__INTERVAL", "200ms")]);
    let (tenant, key) = p.tenant_with_key("cron-sqlite").await;
    let api = p.api(&key);
    let created = schedule(
        &api,
        "every-second",
        "* * * * * *",
        json!({"missed": "all"}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let fired = slots_metric(&p.metrics().await, "fired");
    let dir = p.dir.clone();
    drop(p);
    let store = sqlite_at(&dir).await;
    let all = slots_by_schedule(&store, &tenant, "ticks").await;
    let first = created["next_slot_ms"].as_i64().unwrap();
    let n = every_second_once("every-second", &all["every-second"], first);
    assert!(n >= 6, "only {n} slots in 8 s");
    assert!(fired >= n as u64 - 1, "metric {fired} vs {n} jobs");
}

/// The fast test clock's origin: this far from now, after the setup (ms).
const FAST_FROM_MS: i64 = 8_000;
/// How much faster cron's time runs from the origin on.
const FAST_RATE: i64 = 100;

#[tokio::test]
async fn postgres_three_instances_fire_each_of_1000_slots_exactly_once() {
    let Some(pg) = backends::postgres_or_skip("cron three instances").await else {
        return;
    };
    let schema = backends::unique("cron");
    // From `origin` on, cron's time runs 100× faster on all three (one second: 100 slots of a
    // seconds schedule); a tick every 100 ms is 10 s of cron time, well within the grace.
    let origin = now_ms() + FAST_FROM_MS;
    let clock = format!("{origin}x{FAST_RATE}");
    let env = [
        ("PALISADE_STORAGE__URL", pg.as_str()),
        ("PALISADE_STORAGE__SCHEMA", schema.as_str()),
        ("PALISADE_STORAGE__POOL_SIZE", "6"),
        ("PALISADE_CRON__INTERVAL", "100ms"),
        ("PALISADE_CRON__GRACE", "1m"),
        ("PALISADE_TEST_CRON_CLOCK", clock.as_str()),
        ("PALISADE_OPERATOR_KEY", OP_KEY),
    ];
    let ps: Vec<Proc> = (0..3).map(|_| spawn_in(temp_dir(), &env)).collect();
    let (tenant, key) = ps[0].api(OP_KEY).tenant_with_key("cron-pg").await;
    let api = ps[0].api(&key);
    const SCHEDULES: usize = 3;
    let mut first = BTreeMap::new();
    for i in 0..SCHEDULES {
        let name = format!("s{i:02}");
        let v = schedule(&api, &name, "* * * * * *", json!({"missed": "all"})).await;
        first.insert(name, v["next_slot_ms"].as_i64().unwrap());
    }
    assert!(now_ms() < origin, "the setup took too long");
    // 11 s after the origin: 1,100 s of cron time
    let end = origin + 11_000;
    tokio::time::sleep(Duration::from_millis((end - now_ms()).max(0) as u64)).await;
    let mut fired = 0;
    let mut skipped = 0;
    let mut instances_firing = 0;
    for p in &ps {
        let m = p.metrics().await;
        let f = slots_metric(&m, "fired");
        fired += f;
        skipped += slots_metric(&m, "skipped");
        instances_firing += usize::from(f > 0);
    }
    drop(ps); // killed: nothing fires after the metrics were read
    let mut opts = PgOptions::new(pg.clone());
    opts.schema = Some(schema);
    let store = PgStore::connect(&opts).await.unwrap();
    let all = slots_by_schedule(&store, &tenant, "ticks").await;
    assert_eq!(all.len(), SCHEDULES, "every schedule fired");
    let mut total = 0;
    for (name, slots) in &all {
        let n = every_second_once(name, slots, first[name]);
        assert!(n >= 1_000, "{name}: only {n} slots in 1,100 s of cron time");
        total += n;
    }
    eprintln!(
        "cron on PostgreSQL: {total} slots over {SCHEDULES} schedules, 3 instances \
         ({instances_firing} fired some), each exactly once"
    );
    // Every job counted by exactly one instance: fired slots sum to the jobs (a fire under
    // way when the metrics were read may add up to a tick's slots per schedule).
    let total = total as u64;
    assert!(
        fired <= total && fired + 40 * SCHEDULES as u64 >= total,
        "{fired} vs {total}"
    );
    assert_eq!(skipped, 0, "policy all skips nothing");
}

#[test]
fn the_fast_test_clock_is_refused_in_production_and_when_malformed() {
    for (clock, env, needle) in [
        (
            "1x100",
            "production",
            "PALISADE_TEST_CRON_CLOCK is for tests",
        ),
        ("1x0", "development", "PALISADE_TEST_CRON_CLOCK: must be"),
    ] {
        let out = crate::common::palisade()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(temp_dir())
            .env("PALISADE_ENV", env)
            .env("PALISADE_OPERATOR_KEY", OP_KEY)
            .env("PALISADE_TEST_CRON_CLOCK", clock)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{env}: {err}");
    }
}

#[tokio::test]
async fn downtime_missed_slots_follow_each_policy() {
    let env = [
        ("PALISADE_CRON__INTERVAL", "200ms"),
        ("PALISADE_CRON__GRACE", "1s"),
        ("PALISADE_OPERATOR_KEY", OP_KEY),
    ];
    let p = spawn_in(temp_dir(), &env);
    let (tenant, key) = p.tenant_with_key("cron-down").await;
    let api = p.api(&key);
    // Three slots 4, 5 and 6 s from now (seconds of any minute), all while the server is down.
    let base = now_ms() / 1_000 + 4;
    let slots: Vec<i64> = (0..3).map(|k| (base + k) * 1_000).collect();
    let secs: Vec<String> = (0..3).map(|k| ((base + k) % 60).to_string()).collect();
    let cron = format!("{} * * * * *", secs.join(","));
    schedule(&api, "skip", &cron, json!({"missed": "skip"})).await;
    schedule(&api, "latest", &cron, json!({"missed": "latest"})).await;
    schedule(
        &api,
        "all",
        &cron,
        json!({"missed": "all", "max_catch_up": 2}),
    )
    .await;
    let dir = p.dir.clone();
    assert!(now_ms() < slots[0] - 1_000, "the setup took too long");
    drop(p);
    // Down past the last slot and its grace, then up again for a few ticks.
    let up_at = slots[2] + 2_000;
    tokio::time::sleep(Duration::from_millis((up_at - now_ms()).max(0) as u64)).await;
    let p = spawn_in(dir.clone(), &env);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let m = p.metrics().await;
    drop(p);
    let store = sqlite_at(&dir).await;
    let all = slots_by_schedule(&store, &tenant, "ticks").await;
    let of = |n: &str| -> Vec<i64> {
        all.get(n)
            .map(|s| s.keys().copied().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        of("skip"),
        Vec::<i64>::new(),
        "skip fires none of the missed"
    );
    assert_eq!(
        of("latest"),
        vec![slots[2]],
        "latest fires the most recent one"
    );
    assert_eq!(
        of("all"),
        vec![slots[1], slots[2]],
        "all fires each, up to the bound"
    );
    assert_eq!(slots_metric(&m, "fired"), 3);
    assert_eq!(slots_metric(&m, "skipped"), 3 + 2 + 1);
}
