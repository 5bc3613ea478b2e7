//! Conformance suite of the cron stores: one public check per guarantee, on a manual clock.
//!
//! Every check works in fresh tenants and fresh schedule and queue names, so checks may share
//! a store. Fires pass their own `now_ms`; creates and updates read the store's clock, which
//! the checks set.

use palisade_core::{ManualClock, PageRequest, TenantId};
use palisade_jobs::cron::{
    CronError, CronExpr, CronFire, CronStore, MissedPolicy, ScheduleName, ScheduleSpec, Zone,
};
use palisade_jobs::{Job, JobFilter, JobKind, JobList, JobStore, QueueName};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a check gets: the cron store, the jobs store it enqueues into (the same store on
/// the SQL backends), and the clock both read.
#[derive(Clone, Debug)]
pub struct Subject {
    /// The schedules.
    pub cron: Arc<dyn CronStore>,
    /// The jobs the schedules enqueue.
    pub jobs: Arc<dyn JobStore>,
    /// The clock the stores read.
    pub clock: Arc<ManualClock>,
}

/// 2026-01-01T00:00:00Z, on a whole minute: the checks' start.
pub const T0: i64 = 1_767_225_600_000;

/// Every check, by name, in a stable order.
pub const CHECKS: &[&str] = &[
    "create_get_update_delete",
    "list_pages_by_name",
    "tenant_isolation",
    "fires_each_slot_once",
    "concurrent_fires_make_one_job_per_slot",
    "missed_skip_fires_none_of_the_missed",
    "missed_latest_fires_the_latest",
    "missed_all_fires_each_up_to_the_bound",
    "dst_skipped_and_repeated_slots_fire_once",
    "disabled_schedule_fires_nothing",
    "due_lists_due_enabled_schedules",
    "bad_input_refused",
];

/// Runs every check in turn on one subject.
pub async fn run(s: &Subject) {
    create_get_update_delete(s).await;
    list_pages_by_name(s).await;
    tenant_isolation(s).await;
    fires_each_slot_once(s).await;
    concurrent_fires_make_one_job_per_slot(s).await;
    missed_skip_fires_none_of_the_missed(s).await;
    missed_latest_fires_the_latest(s).await;
    missed_all_fires_each_up_to_the_bound(s).await;
    dst_skipped_and_repeated_slots_fire_once(s).await;
    disabled_schedule_fires_nothing(s).await;
    due_lists_due_enabled_schedules(s).await;
    bad_input_refused(s).await;
}

fn name(check: &str) -> ScheduleName {
    ScheduleName::parse(&format!("{check}-{:08x}", rand::random::<u32>())).unwrap()
}

fn spec(cron: &str, q: &QueueName) -> ScheduleSpec {
    ScheduleSpec::new(
        CronExpr::parse(cron).unwrap(),
        q.clone(),
        JobKind::parse("cron.test").unwrap(),
        json!({"from": "cron"}),
    )
}

fn queue() -> QueueName {
    QueueName::parse(&format!("cron-{:08x}", rand::random::<u32>())).unwrap()
}

fn fire(n: &ScheduleName, now_ms: i64) -> CronFire {
    CronFire {
        name: n.clone(),
        now_ms,
        grace_ms: 500,
    }
}

/// The tenant's jobs of queue `q`.
async fn jobs_of(s: &Subject, t: &TenantId, q: &QueueName) -> Vec<Job> {
    let req = JobList {
        filter: JobFilter {
            queue: Some(q.clone()),
            ..JobFilter::default()
        },
        page: PageRequest::first(200),
    };
    s.jobs.job_list(t, &req).await.unwrap().items
}

/// Jobs per slot (ms) of the tenant's queue `q`, read from their unique keys.
async fn slots_of(s: &Subject, t: &TenantId, q: &QueueName) -> BTreeMap<i64, usize> {
    let mut out = BTreeMap::new();
    for j in jobs_of(s, t, q).await {
        let key = j.unique_key.expect("a cron job carries its slot key");
        let slot: i64 = key.rsplit('@').next().unwrap().parse().unwrap();
        *out.entry(slot).or_default() += 1;
    }
    out
}

/// A schedule created at `at_ms` (the store clock is set there).
async fn create(s: &Subject, t: &TenantId, n: &ScheduleName, sp: ScheduleSpec, at_ms: i64) {
    s.clock.set(at_ms);
    s.cron.schedule_create(t, n, sp).await.unwrap();
}

/// Create, get, update (a new expression restarts the cursor at the update), delete.
pub async fn create_get_update_delete(s: &Subject) {
    let (t, q, n) = (TenantId::generate(), queue(), name("crud"));
    create(s, &t, &n, spec("0 * * * * *", &q), T0 + 30_000).await;
    let got = s.cron.schedule_get(&t, &n).await.unwrap().unwrap();
    assert_eq!(
        (got.cursor_ms, got.next_slot_ms),
        (T0 + 30_000, Some(T0 + 60_000))
    );
    assert_eq!(got.spec.cron.as_str(), "0 * * * * *");
    assert_eq!(got.last_fired_slot_ms, None);
    let again = s.cron.schedule_create(&t, &n, spec("* * * * *", &q)).await;
    assert!(matches!(again, Err(CronError::Exists)), "{again:?}");
    let mut sp = spec("*/5 * * * * *", &q);
    sp.timezone = Zone::parse("Europe/Berlin").unwrap();
    sp.missed = MissedPolicy::All;
    sp.max_catch_up = 7;
    s.clock.set(T0 + 41_000);
    let up = s.cron.schedule_update(&t, &n, sp.clone()).await.unwrap();
    assert_eq!(up.spec, sp);
    assert_eq!(
        (up.cursor_ms, up.next_slot_ms),
        (T0 + 41_000, Some(T0 + 45_000))
    );
    assert_eq!(s.cron.schedule_get(&t, &n).await.unwrap().unwrap(), up);
    assert!(s.cron.schedule_delete(&t, &n).await.unwrap());
    assert!(!s.cron.schedule_delete(&t, &n).await.unwrap());
    assert_eq!(s.cron.schedule_get(&t, &n).await.unwrap(), None);
}

/// A tenant's schedules list by name, paged by cursor.
pub async fn list_pages_by_name(s: &Subject) {
    let (t, q) = (TenantId::generate(), queue());
    for i in 0..5 {
        let n = ScheduleName::parse(&format!("s{i}")).unwrap();
        create(s, &t, &n, spec("* * * * *", &q), T0).await;
    }
    let first = s
        .cron
        .schedule_list(&t, &PageRequest::first(3))
        .await
        .unwrap();
    let names: Vec<&str> = first.items.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["s0", "s1", "s2"]);
    let next = PageRequest {
        after: first.next.clone(),
        limit: 3,
    };
    let second = s.cron.schedule_list(&t, &next).await.unwrap();
    let names: Vec<&str> = second.items.iter().map(|x| x.name.as_str()).collect();
    assert_eq!((names, second.next), (vec!["s3", "s4"], None));
}

/// Another tenant's schedule is missing: get, list, update, delete and fire.
pub async fn tenant_isolation(s: &Subject) {
    let (a, b, q, n) = (
        TenantId::generate(),
        TenantId::generate(),
        queue(),
        name("iso"),
    );
    create(s, &a, &n, spec("* * * * * *", &q), T0).await;
    assert_eq!(s.cron.schedule_get(&b, &n).await.unwrap(), None);
    assert!(s
        .cron
        .schedule_list(&b, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());
    let up = s.cron.schedule_update(&b, &n, spec("* * * * *", &q)).await;
    assert!(matches!(up, Err(CronError::NotFound)), "{up:?}");
    let f = s.cron.cron_fire(&b, &fire(&n, T0 + 1_000)).await;
    assert!(matches!(f, Err(CronError::NotFound)), "{f:?}");
    assert!(!s.cron.schedule_delete(&b, &n).await.unwrap());
    // b may use the same name for its own schedule.
    create(s, &b, &n, spec("* * * * *", &q), T0).await;
    assert!(s.cron.schedule_get(&a, &n).await.unwrap().is_some());
    assert!(jobs_of(s, &b, &q).await.is_empty());
}

/// A slot fires once: a second fire at the same or a later time within the slot enqueues
/// nothing; the next slot fires next. The job is the schedule's.
pub async fn fires_each_slot_once(s: &Subject) {
    let (t, q, n) = (TenantId::generate(), queue(), name("once"));
    create(s, &t, &n, spec("* * * * * *", &q), T0).await;
    assert_eq!(
        s.cron
            .cron_fire(&t, &fire(&n, T0 + 500))
            .await
            .unwrap()
            .jobs,
        vec![]
    );
    let first = s.cron.cron_fire(&t, &fire(&n, T0 + 1_100)).await.unwrap();
    assert_eq!(first.jobs.len(), 1);
    assert_eq!(
        (first.jobs[0].0, first.skipped, first.raced),
        (T0 + 1_000, 0, false)
    );
    for now in [T0 + 1_100, T0 + 1_900] {
        assert!(s
            .cron
            .cron_fire(&t, &fire(&n, now))
            .await
            .unwrap()
            .jobs
            .is_empty());
    }
    let second = s.cron.cron_fire(&t, &fire(&n, T0 + 2_050)).await.unwrap();
    assert_eq!(
        second.jobs.iter().map(|j| j.0).collect::<Vec<_>>(),
        vec![T0 + 2_000]
    );
    let jobs = jobs_of(s, &t, &q).await;
    assert_eq!(jobs.len(), 2);
    let j = jobs.iter().find(|j| j.id == first.jobs[0].1).unwrap();
    assert_eq!(
        (j.kind.as_str(), &j.payload),
        ("cron.test", &json!({"from": "cron"}))
    );
    let sch = s.cron.schedule_get(&t, &n).await.unwrap().unwrap();
    assert_eq!(sch.last_fired_slot_ms, Some(T0 + 2_000));
    assert_eq!(sch.next_slot_ms, Some(T0 + 3_000));
}

/// Many tasks firing the same slots at once: one job per slot, one winning fire per slot.
pub async fn concurrent_fires_make_one_job_per_slot(s: &Subject) {
    let (t, q, n) = (TenantId::generate(), queue(), name("race"));
    let mut sp = spec("* * * * * *", &q);
    sp.missed = MissedPolicy::All;
    create(s, &t, &n, sp, T0).await;
    for round in 1..=5i64 {
        let now = T0 + round * 1_000 + 100;
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cron, t, f) = (s.cron.clone(), t.clone(), fire(&n, now));
                tokio::spawn(async move { cron.cron_fire(&t, &f).await })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            let got = task.await.unwrap().unwrap();
            winners += usize::from(!got.jobs.is_empty());
        }
        assert_eq!(winners, 1, "round {round}: one fire wins the slot");
    }
    let slots = slots_of(s, &t, &q).await;
    let want: BTreeMap<i64, usize> = (1..=5).map(|i| (T0 + i * 1_000, 1)).collect();
    assert_eq!(slots, want);
}

/// A schedule with ten due slots and missed `policy`, fired once at T0 + 10.1 s (the last
/// slot on time): the slots fired and the count skipped.
async fn after_gap(s: &Subject, policy: MissedPolicy, bound: u32) -> (Vec<i64>, u64) {
    let (t, q, n) = (TenantId::generate(), queue(), name("gap"));
    let mut sp = spec("* * * * * *", &q);
    sp.missed = policy;
    sp.max_catch_up = bound;
    create(s, &t, &n, sp, T0).await;
    let got = s.cron.cron_fire(&t, &fire(&n, T0 + 10_100)).await.unwrap();
    let slots: Vec<i64> = slots_of(s, &t, &q).await.into_keys().collect();
    assert_eq!(slots, got.jobs.iter().map(|j| j.0).collect::<Vec<_>>());
    let sch = s.cron.schedule_get(&t, &n).await.unwrap().unwrap();
    assert_eq!(sch.next_slot_ms, Some(T0 + 11_000), "the gap is over");
    (slots, got.skipped)
}

/// `skip`: after a gap only the slot due now fires.
pub async fn missed_skip_fires_none_of_the_missed(s: &Subject) {
    let got = after_gap(s, MissedPolicy::Skip, 100).await;
    assert_eq!(got, (vec![T0 + 10_000], 9));
}

/// `latest`: after a gap the most recent missed slot fires once, and the slot due now.
pub async fn missed_latest_fires_the_latest(s: &Subject) {
    let got = after_gap(s, MissedPolicy::Latest, 100).await;
    assert_eq!(got, (vec![T0 + 9_000, T0 + 10_000], 8));
}

/// `all`: each missed slot fires, up to the bound (the most recent ones).
pub async fn missed_all_fires_each_up_to_the_bound(s: &Subject) {
    let every = after_gap(s, MissedPolicy::All, 100).await;
    assert_eq!(every, ((1..=10).map(|i| T0 + i * 1_000).collect(), 0));
    let bounded = after_gap(s, MissedPolicy::All, 4).await;
    assert_eq!(bounded, ((6..=10).map(|i| T0 + i * 1_000).collect(), 5));
}

/// Europe/Berlin, `30 2 * * *`, fired every hour across both DST changes of 2025: the
/// skipped 02:30 (30 March) fires once at 03:00 CEST; the repeated 02:30 (26 October) once.
pub async fn dst_skipped_and_repeated_slots_fire_once(s: &Subject) {
    const H: i64 = 3_600_000;
    let spring = 1_743_163_200_000; // 2025-03-28T12:00:00Z
    let autumn = 1_761_307_200_000; // 2025-10-24T12:00:00Z
    for (start, want) in [
        (
            spring,
            [1_743_211_800_000, 1_743_296_400_000, 1_743_381_000_000],
        ),
        (
            autumn,
            [1_761_352_200_000, 1_761_438_600_000, 1_761_528_600_000],
        ),
    ] {
        let (t, q, n) = (TenantId::generate(), queue(), name("dst"));
        let mut sp = spec("30 2 * * *", &q);
        sp.timezone = Zone::parse("Europe/Berlin").unwrap();
        sp.missed = MissedPolicy::All;
        create(s, &t, &n, sp, start).await;
        for step in 1..=(3 * 24 * 4) {
            let now = start + step * H / 4;
            s.cron.cron_fire(&t, &fire(&n, now)).await.unwrap();
        }
        let slots = slots_of(s, &t, &q).await;
        assert_eq!(
            slots,
            want.iter().map(|w| (*w, 1)).collect::<BTreeMap<_, _>>()
        );
    }
}

/// A disabled schedule fires nothing and is not due; enabled again, slots while it was
/// disabled are not missed.
pub async fn disabled_schedule_fires_nothing(s: &Subject) {
    let (t, q, n) = (TenantId::generate(), queue(), name("off"));
    let mut sp = spec("* * * * * *", &q);
    sp.enabled = false;
    sp.missed = MissedPolicy::All;
    create(s, &t, &n, sp.clone(), T0).await;
    for now in [T0 + 1_100, T0 + 5_100] {
        let f = s.cron.cron_fire(&t, &fire(&n, now)).await.unwrap();
        assert!(f.jobs.is_empty() && f.skipped == 0);
    }
    let due = s.cron.cron_due(T0 + 5_100, 1_000).await.unwrap();
    assert!(!due.iter().any(|d| d.tenant == t));
    sp.enabled = true;
    s.clock.set(T0 + 5_100);
    s.cron.schedule_update(&t, &n, sp).await.unwrap();
    let f = s.cron.cron_fire(&t, &fire(&n, T0 + 6_100)).await.unwrap();
    assert_eq!(
        f.jobs.iter().map(|j| j.0).collect::<Vec<_>>(),
        vec![T0 + 6_000]
    );
    assert_eq!(jobs_of(s, &t, &q).await.len(), 1);
}

/// `cron_due` lists schedules whose next slot has come, and not the others.
pub async fn due_lists_due_enabled_schedules(s: &Subject) {
    let (t, q) = (TenantId::generate(), queue());
    let (soon, later) = (name("soon"), name("later"));
    create(s, &t, &soon, spec("* * * * * *", &q), T0).await;
    create(s, &t, &later, spec("0 0 * * *", &q), T0).await;
    let mine = |d: &Vec<palisade_jobs::cron::DueSchedule>| {
        d.iter()
            .filter(|x| x.tenant == t)
            .map(|x| x.name.clone())
            .collect::<Vec<_>>()
    };
    assert!(mine(&s.cron.cron_due(T0 + 500, 1_000).await.unwrap()).is_empty());
    let due = s.cron.cron_due(T0 + 1_000, 1_000).await.unwrap();
    assert_eq!(mine(&due), vec![soon.clone()]);
    s.cron
        .cron_fire(&t, &fire(&soon, T0 + 1_000))
        .await
        .unwrap();
    assert!(mine(&s.cron.cron_due(T0 + 1_500, 1_000).await.unwrap()).is_empty());
}

/// A payload over the cap, a catch-up bound of 0, an update of a missing schedule.
pub async fn bad_input_refused(s: &Subject) {
    let (t, q) = (TenantId::generate(), queue());
    let mut big = spec("* * * * *", &q);
    big.payload = json!("x".repeat(300 * 1024));
    let e = s
        .cron
        .schedule_create(&t, &name("big"), big)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            CronError::TooLarge {
                field: "payload",
                ..
            }
        ),
        "{e:?}"
    );
    let mut zero = spec("* * * * *", &q);
    zero.max_catch_up = 0;
    let e = s
        .cron
        .schedule_create(&t, &name("zero"), zero)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, CronError::Invalid(f) if f[0].field == "max_catch_up"),
        "{e:?}"
    );
    let e = s
        .cron
        .schedule_update(&t, &name("none"), spec("* * * * *", &q))
        .await;
    assert!(matches!(e, Err(CronError::NotFound)), "{e:?}");
    assert!(s
        .cron
        .schedule_list(&t, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());
}
