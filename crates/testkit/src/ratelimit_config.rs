//! Conformance suite of the rate-limit policy stores: policies, overrides, per-tenant caps and
//! the pruned change feed ([`conformance!`](crate::conformance)`(ratelimit_config, ..)`).

use palisade_core::{PageRequest, StoreError, TenantId};
use palisade_ratelimit::{Algorithm, ChangeKind, KeyPart, Policy, RateLimitOverride, RateLimitPolicyStore};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn pol(name: &str) -> Policy {
    Policy::new(
        name,
        Algorithm::FixedWindow,
        10,
        Duration::from_secs(60),
        vec![KeyPart::Tenant],
    )
}

fn ovr(policy: &str, key: Option<&str>, quota: u64) -> RateLimitOverride {
    RateLimitOverride {
        policy: policy.into(),
        key: key.map(str::to_owned),
        quota,
        window: None,
        burst: None,
    }
}

fn is_cap(e: &StoreError, what: &str, limit: u64) -> bool {
    matches!(e, StoreError::LimitReached { what: w, limit: l } if *w == what && *l == limit)
}

async fn last_version(s: &dyn RateLimitPolicyStore) -> i64 {
    s.ratelimit_feed_snapshot().await.unwrap().version
}

/// A per-tenant cap no test of the basic behaviour reaches.
const MAX: u32 = 1000;

/// Policies and overrides: versioned puts, pages, deletes, all scoped by tenant, and each write
/// in the change feed in order.
pub async fn policies_and_overrides(store: Arc<dyn RateLimitPolicyStore>) {
    let s = &*store;
    let (t, u) = (TenantId::generate(), TenantId::generate());
    let start = s.ratelimit_feed_changes(0, 1000).await.unwrap().changes.len();
    let p = Policy::new(
        "api",
        Algorithm::Gcra,
        100,
        Duration::from_secs(60),
        vec![KeyPart::Tenant],
    );
    let r1 = s.ratelimit_policy_put(&t, &p, 10, MAX).await.unwrap();
    let mut p2 = p.clone();
    p2.quota = 200;
    let r2 = s.ratelimit_policy_put(&t, &p2, 20, MAX).await.unwrap();
    assert!(r2.version > r1.version);
    let got = s.ratelimit_policy_get(&t, "api").await.unwrap().unwrap();
    assert_eq!((got.policy, got.updated_at_ms), (p2.clone(), 20));
    assert!(
        s.ratelimit_policy_get(&u, "api").await.unwrap().is_none(),
        "scoped by tenant"
    );
    for n in ["b", "c", "d"] {
        s.ratelimit_policy_put(
            &t,
            &Policy::new(
                n,
                Algorithm::FixedWindow,
                1,
                Duration::from_secs(1),
                vec![KeyPart::Tenant],
            ),
            1,
            MAX,
        )
        .await
        .unwrap();
    }
    let page = s
        .ratelimit_policy_list(&t, &PageRequest::first(3))
        .await
        .unwrap();
    let names: Vec<_> = page.items.iter().map(|r| r.policy.name.as_str()).collect();
    assert_eq!(names, ["api", "b", "c"]);
    let mut next = PageRequest::first(3);
    next.after = page.next;
    let page = s.ratelimit_policy_list(&t, &next).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next, None);
    assert!(s
        .ratelimit_policy_list(&u, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(s.ratelimit_policy_delete(&t, "d", 30).await.unwrap());
    assert!(!s.ratelimit_policy_delete(&t, "d", 30).await.unwrap());
    assert!(!s.ratelimit_policy_delete(&u, "api", 30).await.unwrap());

    let wide = RateLimitOverride {
        policy: "api".into(),
        key: None,
        quota: 1000,
        window: None,
        burst: None,
    };
    let one = RateLimitOverride {
        key: Some("principal=bob".into()),
        window: Some(Duration::from_secs(3600)),
        burst: Some(5),
        ..wide.clone()
    };
    s.ratelimit_override_put(&t, &wide, 40, MAX).await.unwrap();
    s.ratelimit_override_put(&t, &one, 41, MAX).await.unwrap();
    let mut again = one.clone();
    again.quota = 2000;
    s.ratelimit_override_put(&t, &again, 42, MAX).await.unwrap();
    let list = s
        .ratelimit_override_list(&t, &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(list.items[0].rate_override, wide);
    let mut next = PageRequest::first(10);
    next.after = list.next;
    let rest = s.ratelimit_override_list(&t, &next).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].rate_override, again);
    assert!(s
        .ratelimit_override_list(&u, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(!s.ratelimit_override_delete(&u, "api", None, 50).await.unwrap());
    assert!(s.ratelimit_override_delete(&t, "api", None, 50).await.unwrap());
    assert!(!s.ratelimit_override_delete(&t, "api", None, 50).await.unwrap());

    let changes = s.ratelimit_feed_changes(0, 1000).await.unwrap().changes;
    let changes = &changes[start..];
    assert!(changes.windows(2).all(|w| w[0].version < w[1].version));
    assert!(changes.iter().all(|c| c.tenant == t));
    let kinds: Vec<_> = changes
        .iter()
        .map(|c| match &c.change {
            ChangeKind::PolicyPut { policy } => format!("put {}", policy.name),
            ChangeKind::PolicyDeleted { name } => format!("del {name}"),
            ChangeKind::OverridePut { rate_override } => format!("oput {}", rate_override.quota),
            ChangeKind::OverrideDeleted { key, .. } => format!("odel {key:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "put api",
            "put api",
            "put b",
            "put c",
            "put d",
            "del d",
            "oput 1000",
            "oput 1000",
            "oput 2000",
            "odel None"
        ]
    );
    let last = changes.last().unwrap().version;
    let after = s
        .ratelimit_feed_changes(changes[5].version, 2)
        .await
        .unwrap()
        .changes;
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].version, changes[6].version);
    assert!(s
        .ratelimit_feed_changes(last, 10)
        .await
        .unwrap()
        .changes
        .is_empty());
}

/// Caps: a create past `max` fails with `LimitReached` and writes nothing, a replace at the
/// cap succeeds, and tenants count apart.
pub async fn caps(store: Arc<dyn RateLimitPolicyStore>) {
    let s = &*store;
    let (t, u) = (TenantId::generate(), TenantId::generate());
    for n in ["a", "b", "c"] {
        s.ratelimit_policy_put(&t, &pol(n), 1, 3).await.unwrap();
    }
    let before = last_version(s).await;
    let e = s.ratelimit_policy_put(&t, &pol("d"), 1, 3).await.unwrap_err();
    assert!(is_cap(&e, "policies", 3), "{e:?}");
    assert!(s.ratelimit_policy_get(&t, "d").await.unwrap().is_none());
    assert_eq!(
        last_version(s).await,
        before,
        "a refused create writes no change"
    );
    let mut b = pol("b");
    b.quota = 9;
    let r = s
        .ratelimit_policy_put(&t, &b, 2, 3)
        .await
        .expect("replace at the cap");
    assert_eq!(r.policy.quota, 9);
    s.ratelimit_policy_put(&u, &pol("d"), 1, 3)
        .await
        .expect("another tenant has its own count");
    assert!(s.ratelimit_policy_delete(&t, "a", 3).await.unwrap());
    s.ratelimit_policy_put(&t, &pol("d"), 4, 3)
        .await
        .expect("a delete frees a place");

    s.ratelimit_override_put(&t, &ovr("b", None, 5), 5, 2)
        .await
        .unwrap();
    s.ratelimit_override_put(&t, &ovr("b", Some("k"), 5), 5, 2)
        .await
        .unwrap();
    let e = s
        .ratelimit_override_put(&t, &ovr("b", Some("j"), 5), 5, 2)
        .await
        .unwrap_err();
    assert!(is_cap(&e, "overrides", 2), "{e:?}");
    s.ratelimit_override_put(&t, &ovr("b", Some("k"), 6), 6, 2)
        .await
        .expect("replace at the cap");
    s.ratelimit_override_put(&u, &ovr("d", Some("j"), 5), 5, 2)
        .await
        .expect("another tenant has its own count");
}

/// Concurrent creates at `max - 1` admit exactly one, for policies and for overrides.
pub async fn concurrent_creates_at_cap_minus_one(store: Arc<dyn RateLimitPolicyStore>) {
    let t = TenantId::generate();
    for n in ["p0", "p1", "p2", "p3"] {
        store.ratelimit_policy_put(&t, &pol(n), 1, 5).await.unwrap();
    }
    let tasks = (0..8).map(|i| {
        let (s, t) = (store.clone(), t.clone());
        tokio::spawn(async move { s.ratelimit_policy_put(&t, &pol(&format!("new{i}")), 2, 5).await })
    });
    let (mut ok, mut capped) = (0, 0);
    for r in futures::future::join_all(tasks).await {
        match r.unwrap() {
            Ok(_) => ok += 1,
            Err(e) if is_cap(&e, "policies", 5) => capped += 1,
            Err(e) => panic!("concurrent create failed: {e:?}"),
        }
    }
    assert_eq!((ok, capped), (1, 7), "exactly one create fits");
    let page = PageRequest::first(50);
    assert_eq!(
        store.ratelimit_policy_list(&t, &page).await.unwrap().items.len(),
        5
    );

    store
        .ratelimit_override_put(&t, &ovr("p0", None, 1), 3, 2)
        .await
        .unwrap();
    let tasks = (0..8).map(|i| {
        let (s, t) = (store.clone(), t.clone());
        let o = ovr("p0", Some(&format!("k{i}")), 1);
        tokio::spawn(async move { s.ratelimit_override_put(&t, &o, 4, 2).await })
    });
    let ok = futures::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(ok, 1, "exactly one override create fits");
}

/// A poller's view, following the feed like the server's registry: apply changes, and reload
/// a snapshot when the feed says changes after the cursor were pruned.
#[derive(Debug, Default)]
struct Follower {
    version: i64,
    reloads: u32,
    policies: BTreeMap<(TenantId, String), Policy>,
    overrides: BTreeMap<(TenantId, String, String), u64>,
}

impl Follower {
    async fn sync(&mut self, s: &dyn RateLimitPolicyStore) {
        loop {
            let batch = s.ratelimit_feed_changes(self.version, 3).await.unwrap();
            if batch.missed(self.version) {
                self.reload(s).await;
                continue;
            }
            let n = batch.changes.len();
            for c in batch.changes {
                self.version = self.version.max(c.version);
                self.apply(c.tenant, c.change);
            }
            if n < 3 {
                return;
            }
        }
    }

    async fn reload(&mut self, s: &dyn RateLimitPolicyStore) {
        let snap = s.ratelimit_feed_snapshot().await.unwrap();
        self.reloads += 1;
        self.version = snap.version;
        self.policies = snap
            .policies
            .into_iter()
            .map(|(t, p)| ((t, p.name.clone()), p))
            .collect();
        self.overrides = snap
            .overrides
            .into_iter()
            .map(|(t, o)| ((t, o.policy, o.key.unwrap_or_default()), o.quota))
            .collect();
    }

    fn apply(&mut self, t: TenantId, c: ChangeKind) {
        match c {
            ChangeKind::PolicyPut { policy } => {
                self.policies.insert((t, policy.name.clone()), policy);
            }
            ChangeKind::PolicyDeleted { name } => {
                self.policies.remove(&(t, name));
            }
            ChangeKind::OverridePut { rate_override: o } => {
                let k = (t, o.policy, o.key.unwrap_or_default());
                self.overrides.insert(k, o.quota);
            }
            ChangeKind::OverrideDeleted { policy, key } => {
                self.overrides.remove(&(t, policy, key.unwrap_or_default()));
            }
        }
    }

    /// The tenant's policy names and (policy, key, quota) overrides.
    fn view(&self, t: &TenantId) -> (Vec<String>, Vec<(String, String, u64)>) {
        let p = self.policies.keys().filter(|k| &k.0 == t);
        let o = self.overrides.iter().filter(|(k, _)| &k.0 == t);
        (
            p.map(|k| k.1.clone()).collect(),
            o.map(|(k, q)| (k.1.clone(), k.2.clone(), *q)).collect(),
        )
    }
}

/// Pruning: deletes by age in batches, keeps a poller that is not behind on the feed, and a
/// poller whose cursor was pruned past (or a fresh one) reloads and converges — deleted
/// policies and overrides included.
pub async fn pruned_feed(store: Arc<dyn RateLimitPolicyStore>) {
    let s = &*store;
    let t = TenantId::generate();
    let (t1, t2, t3) = (1_000_000_000, 2_000_000_000, 3_000_000_000);
    let mut lagging = Follower::default();
    lagging.sync(s).await;

    s.ratelimit_policy_put(&t, &pol("keep"), t1, 10).await.unwrap();
    s.ratelimit_policy_put(&t, &pol("drop"), t1, 10).await.unwrap();
    s.ratelimit_override_put(&t, &ovr("keep", Some("k"), 7), t1, 10)
        .await
        .unwrap();
    s.ratelimit_override_put(&t, &ovr("drop", None, 8), t1, 10)
        .await
        .unwrap();
    lagging.sync(s).await;
    let seen = lagging.version;
    let mut current = Follower::default();
    current.sync(s).await;

    assert!(s.ratelimit_policy_delete(&t, "drop", t2).await.unwrap());
    assert!(s.ratelimit_override_delete(&t, "drop", None, t2).await.unwrap());
    s.ratelimit_policy_put(&t, &pol("new"), t2, 10).await.unwrap();
    s.ratelimit_override_put(&t, &ovr("keep", Some("k"), 70), t2, 10)
        .await
        .unwrap();
    current.sync(s).await;

    let mut pruned = 0;
    loop {
        let n = s.ratelimit_feed_prune_changes(t1 + 1, 2).await.unwrap();
        assert!(n <= 2, "at most `limit` per call");
        pruned += n;
        if n == 0 {
            break;
        }
    }
    assert!(
        pruned >= 4,
        "every change written at t1 (and before) is pruned"
    );
    let b = s.ratelimit_feed_changes(seen, 100).await.unwrap();
    assert!(!b.missed(seen), "only changes the poller had seen are gone");
    assert_eq!(
        b.changes.len(),
        4,
        "the later changes are still in the feed"
    );

    assert_eq!(s.ratelimit_feed_prune_changes(t3, 1000).await.unwrap(), 4);
    assert_eq!(s.ratelimit_feed_prune_changes(t3, 1000).await.unwrap(), 0);
    let b = s.ratelimit_feed_changes(seen, 100).await.unwrap();
    assert!(b.changes.is_empty() && b.missed(seen), "{b:?}");

    let want = (
        vec!["keep".to_owned(), "new".to_owned()],
        vec![("keep".to_owned(), "k".to_owned(), 70)],
    );
    assert_eq!(current.view(&t), want, "a poller that kept up");
    let reloads = lagging.reloads;
    lagging.sync(s).await;
    assert_eq!(lagging.reloads, reloads + 1, "the lagging poller reloaded");
    assert_eq!(lagging.view(&t), want, "converged, deletes included");
    let mut fresh = Follower::default();
    fresh.sync(s).await;
    assert_eq!(fresh.view(&t), want, "a fresh poller converges too");

    assert!(s.ratelimit_policy_delete(&t, "new", t3).await.unwrap());
    let reloads = lagging.reloads;
    lagging.sync(s).await;
    current.sync(s).await;
    assert_eq!(lagging.reloads, reloads, "back on the feed after a reload");
    assert_eq!(lagging.view(&t).0, ["keep"]);
    assert_eq!(current.view(&t), lagging.view(&t));
}
